"""Channels through which merchants reach the desk: e-mail (``email``), later live chat."""
