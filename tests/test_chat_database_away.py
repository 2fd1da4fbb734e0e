"""The chat socket while the database is away (a PostgreSQL restart, a failover).

Found by ``make bench-load``: during a PostgreSQL restart the websocket handshake was answered
500 (Channels' AuthMiddleware reads the session before the consumer runs) and a frame that
needed the database dropped the socket. Now a new socket is refused with 1013 (try again
later), a frame gets an ``unavailable`` error and the socket stays, and once the database is
back the same clients succeed. The database is made to fail at one seam: Django's cursor, as a
restarting server's connection fails, with the driver's own OperationalError.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper

from sellerdesk.conversations.models import Message
from tests.test_chat import _fresh_layer, opened, run, socket  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


class Database:
    """Every statement on every connection fails while ``away`` is set."""

    away = False


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Database:
    state = Database()
    real = CursorWrapper._execute

    def execute(self: CursorWrapper, sql: str, params: Any, *rest: Any) -> Any:
        if state.away:
            # Raised inside Django's error wrapping, as a dropped connection's error is: the
            # connection is marked, and closed when it proves unusable.
            with self.db.wrap_database_errors:
                raise self.db.Database.OperationalError(
                    "terminating connection due to administrator command"
                )
        return real(self, sql, params, *rest)

    monkeypatch.setattr(CursorWrapper, "_execute", execute)
    return state


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_socket_opened_while_the_database_is_away_is_refused_with_1013_then_connects(
    alice, database, caplog
):
    caplog.set_level(logging.WARNING)

    async def scenario():
        ws = await socket(alice)  # the session cookie is made before the database goes
        database.away = True
        connected, _ = await ws.connect()
        assert connected  # accepted, so that the refusal reaches the client as a code
        error = await ws.receive_json_from()
        assert (error["type"], error["code"]) == ("error", "unavailable")
        assert "connect again" in error["detail"]
        assert "administrator command" not in error["detail"]
        assert await ws.receive_output() == {"type": "websocket.close", "code": 1013}
        # The database is back: the client's retry connects.
        database.away = False
        ws = await socket(alice)
        connected, _ = await ws.connect()
        assert connected
        hello = await ws.receive_json_from()
        assert hello["type"] == "hello"
        await ws.disconnect()

    run(scenario)
    assert "a new socket closed with 1013" in caplog.text
    _no_tracebacks(caplog)


def test_a_message_sent_while_the_database_is_away_is_refused_and_lands_once_when_resent(
    acme_conversation, alice, database, caplog
):
    caplog.set_level(logging.WARNING)
    frame = {
        "type": "send",
        "conversation": acme_conversation.pk,
        "body": "sent during the restart",
        "client_id": "c-away",
    }

    async def scenario():
        ws = await opened(alice)
        database.away = True
        await ws.send_json_to(frame)
        refused = await ws.receive_json_from()
        assert refused["type"] == "error"
        assert refused["code"] == "unavailable"
        assert (refused["client_id"], refused["conversation"]) == ("c-away", acme_conversation.pk)
        assert "not stored" in refused["detail"]
        assert "same client_id" in refused["detail"]
        # The socket stays open.
        await ws.send_json_to({"type": "subscribe", "conversation": acme_conversation.pk})
        assert (await ws.receive_json_from())["code"] == "unavailable"
        await ws.send_json_to({"type": "ping"})
        assert (await ws.receive_json_from())["type"] == "pong"
        database.away = False
        await ws.send_json_to(frame)
        while (answer := await ws.receive_json_from())["type"] != "ack":
            pass
        assert answer["client_id"] == "c-away"
        # Resent once more (its ack lost): the same message.
        await ws.send_json_to(frame)
        while (again := await ws.receive_json_from())["type"] != "ack":
            pass
        assert again["id"] == answer["id"]
        await ws.disconnect()
        return answer["id"]

    message_id = run(scenario)
    stored = Message.objects.filter(conversation=acme_conversation, client_id="c-away")
    assert [m.pk for m in stored] == [message_id]
    assert "a send frame answered 'unavailable'" in caplog.text
    _no_tracebacks(caplog)


def test_the_seam_fails_like_a_dropped_connection(database):
    database.away = True
    with pytest.raises(Exception) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    from django.db import OperationalError

    assert isinstance(raised.value, OperationalError)
    database.away = False


def test_a_socket_whose_group_the_channel_layer_fails_to_join_is_refused_with_1013(
    alice, caplog, monkeypatch
):
    """Found by ``make bench-load``: a Redis read timeout while joining the group was a
    traceback and a dropped socket."""
    from channels.layers import get_channel_layer

    caplog.set_level(logging.WARNING)
    layer = get_channel_layer()
    real = layer.group_add

    async def timing_out(group: str, channel: str) -> None:
        raise TimeoutError("Timeout reading from 127.0.0.1:6379")

    async def scenario():
        ws = await socket(alice)
        monkeypatch.setattr(layer, "group_add", timing_out)
        await ws.connect()
        error = await ws.receive_json_from()
        assert (error["type"], error["code"]) == ("error", "unavailable")
        assert await ws.receive_output() == {"type": "websocket.close", "code": 1013}
        monkeypatch.setattr(layer, "group_add", real)
        ws = await opened(alice)  # the layer is back: the retry connects
        await ws.disconnect()

    run(scenario)
    assert "the channel layer failed (TimeoutError)" in caplog.text
    _no_tracebacks(caplog)


def test_a_socket_leaving_while_the_channel_layer_fails_logs_one_line(
    acme_conversation, agent, caplog, monkeypatch
):
    from channels.layers import get_channel_layer

    caplog.set_level(logging.WARNING)
    layer = get_channel_layer()

    async def timing_out(*args: Any) -> None:
        raise TimeoutError("Timeout reading from 127.0.0.1:6379")

    async def scenario():
        ws = await opened(agent)
        await ws.send_json_to({"type": "subscribe", "conversation": acme_conversation.pk})
        await ws.send_json_to({"type": "ping"})
        while (await ws.receive_json_from())["type"] != "pong":
            pass
        monkeypatch.setattr(layer, "group_discard", timing_out)
        monkeypatch.setattr(layer, "group_send", timing_out)
        await ws.disconnect()

    run(scenario)
    assert "the channel layer failed (TimeoutError) while a socket left" in caplog.text
    _no_tracebacks(caplog)
