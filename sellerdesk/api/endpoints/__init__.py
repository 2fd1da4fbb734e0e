"""The API's operations, one module per resource. Each parses its input, calls one service or
selector of the API app, and writes the answer through ``present``."""
