"""Live chat: the websocket consumer behind the portal's chat panel and the desk's live pages."""
