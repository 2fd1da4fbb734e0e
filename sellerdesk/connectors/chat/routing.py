"""The websocket URLs (served by ``sellerdesk.asgi`` beside the web pages)."""

from __future__ import annotations

from django.urls import path

from sellerdesk.connectors.chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
]
