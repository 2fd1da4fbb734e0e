"""The ASGI application: the web pages, and the live chat's websocket at ``/ws/chat/``.

Websockets need a signed-in session (the same cookie as the pages) and an ``Origin`` among
``ALLOWED_HOSTS``, so that another site's page cannot open a socket with a visitor's cookie.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
# Django is set up before anything imports models (the consumer does).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from sellerdesk.connectors.chat.auth import socket_auth_stack  # noqa: E402
from sellerdesk.connectors.chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            socket_auth_stack(URLRouter(websocket_urlpatterns))
        ),
    }
)
