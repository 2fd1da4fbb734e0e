"""The ASGI application: the web pages, the REST API under ``/api/`` (with its own short
middleware stack, ``api/asgi.py``), and the live chat's websocket at ``/ws/chat/``.

Websockets need a signed-in session (the same cookie as the pages) and an ``Origin`` among
``ALLOWED_HOSTS``, so that another site's page cannot open a socket with a visitor's cookie.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
# Django is set up before anything imports models (the consumer does).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from sellerdesk.api.asgi import ApiHandler, is_api_scope  # noqa: E402
from sellerdesk.connectors.chat.auth import socket_auth_stack  # noqa: E402
from sellerdesk.connectors.chat.routing import websocket_urlpatterns  # noqa: E402
from sellerdesk.conversations.events import SERVER_LOOP  # noqa: E402
from sellerdesk.core import gctune  # noqa: E402

api_application = ApiHandler()


async def http_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/api/`` to the API's handler, every other path to the pages' handler."""
    # The request's sync view runs in a thread that shares this context: the real-time
    # events it commits are sent from this loop (conversations.events).
    SERVER_LOOP.set(asyncio.get_running_loop())
    if is_api_scope(scope):
        await api_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(
            socket_auth_stack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything the server's process serves with is loaded (the API's handler imported the URLs
# and built its tables): out of the garbage collector's sight from now on (core/gctune.py).
gctune.tune()
