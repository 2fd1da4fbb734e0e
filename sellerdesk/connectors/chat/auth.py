"""Who is on a socket: Channels' session and user look-up, made to survive the database away.

Channels' ``AuthMiddleware`` reads the session and the user before the consumer runs; when the
database is away (a restart, a failover) that read raises and the server answers the
handshake with a bare 500. Here the error is caught and noted in the scope instead, and the
consumer refuses the socket with 1013 (try again later), which a client retries.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.db import InterfaceError, OperationalError

#: What a database away raises: a refused or dropped connection, a server shutting down.
DATABASE_AWAY = (OperationalError, InterfaceError)
#: The scope key the consumer reads: the error's class name when the look-up met the
#: database away (``scope["user"]`` is then unset).
SCOPE_DATABASE_AWAY = "sellerdesk.database_away"


class SocketAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        try:
            await super().resolve_scope(scope)
        except DATABASE_AWAY as problem:
            # channels.db.database_sync_to_async closed the thread's connection (its
            # ``errors_occurred``), so the next socket gets a fresh one.
            scope[SCOPE_DATABASE_AWAY] = type(problem).__name__


class SocketSessionMiddleware(SessionMiddleware):
    """Channels' ``SessionMiddleware`` that hands a websocket's consumer the server's own
    ``send``. Channels' wrapped ``send`` saves a modified session only along with an HTTP
    response (``http.response.start``), never with a websocket message, yet reads the
    session's state before each one: for a chat message that was once for each of the seven
    frames it is sent in. Anything but a websocket gets Channels' wrapper as before."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """``channels.auth.AuthMiddlewareStack`` with ``SocketSessionMiddleware`` and
    ``SocketAuthMiddleware``."""
    return CookieMiddleware(SocketSessionMiddleware(SocketAuthMiddleware(inner)))
