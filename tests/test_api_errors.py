"""Every error of the REST API is RFC 9457 problem+json, one shape, and every client mistake is
a 4xx: malformed JSON, wrong types, huge integers, NUL characters, unknown enum values, bad
cursors, bodies too large or of the wrong type. Rate limits answer 429 with Retry-After; the
interactive docs work offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.db import InterfaceError, OperationalError
from django.test import Client
from django.utils import timezone

from sellerdesk.api import selectors as api_selectors
from sellerdesk.conversations.models import Conversation
from tests.api_support import ApiClient, assert_problem
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("fresh_rate_counts")


def _post(world, body=None, *, raw=None, content_type="application/json", caller="write"):
    return world.client(caller).request(
        "POST", "/api/v1/conversations", body, raw=raw, content_type=content_type
    )


# --- 400 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"body": "x",}',
        b"\xff\xfe{}",
        b'{"body": NaN}',
        b'{"merchant_id": "m-acme", "body": Infinity}',
        b"[" * 100_000,
    ],
    ids=["truncated", "trailing comma", "not utf-8", "NaN", "Infinity", "deep"],
)
def test_a_body_that_is_not_json_is_a_400(world, raw):
    problem = assert_problem(_post(world, raw=raw), 400)
    assert problem["type"] == "urn:sellerdesk:problem:bad-json"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    "cursor", ["nonsense", "e30", "WyJjcmVhdGVkIiwgIngiLCAxXQ", "WyJ1cGRhdGVkIiwgbnVsbCwgLTFd"]
)
def test_a_cursor_this_api_did_not_give_is_a_400(world, cursor):
    response = world.client("read").get("/api/v1/conversations", cursor=cursor)
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["parameter"] == "cursor"


def test_a_cursor_of_another_ordering_is_a_400(world, acme):
    from sellerdesk.conversations import workflow

    for _ in range(3):
        workflow.integration_conversation_open(merchant=acme, kind="question", subject="", body="x")
    client = world.client("read")
    page = json.loads(client.get("/api/v1/conversations", limit=1).content)
    cursor = page["next"].split("cursor=")[1]
    response = client.get(
        "/api/v1/conversations", cursor=cursor, updated_since="2000-01-01T00:00:00Z"
    )
    assert_problem(response, 400)


# --- 401, 403, 404, 405, 409 ----------------------------------------------------------------


def test_401_403_404_405_409_are_problems(world, acme_conversation, alice):
    assert_problem(ApiClient().get("/api/v1/tags"), 401)
    scope = assert_problem(world.client("read").post("/api/v1/conversations", {"body": "x"}), 403)
    assert "scope" in scope["detail"]
    assert_problem(world.client("read").get("/api/v1/conversations/999999"), 404)
    assert_problem(world.client("read").get("/api/v1/merchants/m-nobody"), 404)
    assert_problem(world.client("read").get("/api/v1/no/such/thing"), 404)
    assert_problem(Client().get("/api/v1/"), 404)
    not_allowed = world.client("write").request("DELETE", "/api/v1/conversations")
    assert_problem(not_allowed, 405)
    assert set(not_allowed["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    conflict = world.client("write").post("/api/v1/merchants/m-acme/users", {"email": alice.email})
    assert_problem(conflict, 409)


# --- 413, 415 --------------------------------------------------------------------------------


def test_a_body_too_large_is_a_413(world, settings):
    settings.SELLERDESK_API_MAX_BODY_BYTES = 1000
    response = _post(world, {"merchant_id": "m-acme", "body": "x" * 2000})
    assert assert_problem(response, 413)["type"] == "urn:sellerdesk:problem:too-large"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", '{"merchant_id": "m-acme", "body": "x"}'),
        ("application/x-www-form-urlencoded", "merchant_id=m-acme&body=x"),
        ("application/xml", "<conversation/>"),
    ],
)
def test_a_body_that_is_not_json_typed_is_a_415(world, content_type, raw):
    response = _post(world, raw=raw, content_type=content_type)
    assert_problem(response, 415)
    assert not Conversation.objects.exists()


def test_json_with_a_charset_or_a_json_suffix_is_json(world):
    raw = json.dumps({"merchant_id": "m-acme", "body": "x"})
    assert _post(world, raw=raw, content_type="application/json; charset=utf-8").status_code == 201
    assert _post(world, raw=raw, content_type="application/merge-patch+json").status_code == 201


# --- 422 -------------------------------------------------------------------------------------

VALID = {"merchant_id": "m-acme", "body": "Ödemem gelmedi."}


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"kind": "rant"}, "#/kind"),
        ({"kind": 5}, "#/kind"),
        ({"channel": "pigeon"}, "#/channel"),
        ({"body": 12}, "#/body"),
        ({"body": ""}, "#/body"),
        ({"body": ["a"]}, "#/body"),
        ({"subject": None}, "#/subject"),
        ({"tags": "payout"}, "#/tags"),
        ({"tags": [1]}, "#/tags/0"),
        ({"body": "nul \x00 inside"}, "#/body"),
        ({"subject": "lone \ud800 surrogate"}, "#/subject"),
        ({"tags": ["ok", "bad\x00"]}, "#/tags/1"),
        ({"order_ref": "x" * 101}, "#/order_ref"),
        ({"colour": "red"}, "#/colour"),
        ({"merchant_id": None}, "#/merchant_id"),
        ({"kind": 10**30}, "#/kind"),
    ],
)
def test_a_body_that_breaks_the_schema_is_a_422_pointing_at_the_field(world, change, pointer):
    problem = assert_problem(_post(world, {**VALID, **change}), 422)
    assert pointer in [e.get("pointer") for e in problem["errors"]], problem
    assert not Conversation.objects.exists()


def test_a_body_that_is_not_an_object_is_a_422(world):
    for body in ([], "text", 12, None):
        response = _post(world, raw=json.dumps(body))
        assert_problem(response, 422)


@pytest.mark.parametrize(
    "config",
    [
        {"top": 10**40},
        {"top": -(10**40)},
        {"segment": [{"name": "n\x00", "countries": ["TR"]}]},
        {"topic": [{"name": "t", "any": [["pay\x00ment"]]}]},
        {"top": 1.5},
        {"top": True},
        {"segment": "TR"},
    ],
)
def test_a_report_config_with_values_no_rule_takes_is_a_422(world, config):
    response = world.client("reports").post(
        "/api/v1/reports", {"from": "2022-01-01", "to": "2023-01-01", "config": config}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "1000"},
        {"limit": "0"},
        {"limit": "abc"},
        {"limit": str(10**30)},
        {"status": "lost"},
        {"kind": "rant"},
        {"updated_since": "yesterday"},
        {"updated_since": "2024-01-01T00:00:00"},
        {"tag": "nul\x00"},
        {"merchant": "m\x00"},
    ],
)
def test_a_query_that_breaks_the_schema_is_a_422(world, query):
    response = world.client("read").get("/api/v1/conversations", **query)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["parameter"] in query


def test_an_unknown_query_parameter_is_a_422_not_an_ignored_filter(world, acme):
    response = world.client("read").get("/api/v1/conversations", stauts="open")
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {"detail": "not a parameter of this operation", "parameter": "stauts"}
    ]
    assert_problem(world.client("read").get("/api/v1/merchants/m-acme", expand="users"), 422)


@pytest.mark.parametrize("conversation_id", ["0", "-1", "abc", str(2**63), str(10**40), "1.5"])
def test_a_path_id_no_row_can_have_is_a_4xx(world, conversation_id):
    response = world.client("read").get(f"/api/v1/conversations/{conversation_id}")
    assert response.status_code in (404, 422)
    assert_problem(response, response.status_code)


def test_nul_in_a_path_or_a_header_is_a_4xx(world):
    client = world.client("read")
    assert_problem(client.get("/api/v1/merchants/m%00acme"), 422)
    response = client.post("/api/v1/conversations", VALID, headers={"Idempotency-Key": "a\x00b"})
    assert 400 <= response.status_code < 500


def test_a_patch_with_null_for_a_field_that_cannot_be_null_is_a_422(world, acme_conversation):
    url = f"/api/v1/conversations/{acme_conversation.pk}"
    for field in ("status", "kind", "priority", "tags", "actor_email"):
        problem = assert_problem(world.client("write").patch(url, {field: None}), 422)
        assert problem["errors"][0]["pointer"] == f"#/{field}"


# --- 429 -------------------------------------------------------------------------------------


def test_a_key_over_its_rate_gets_429_with_retry_after(world, settings):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 3
    with time_machine.travel(timezone.now().replace(second=10), tick=False):
        client = world.client("read")
        for _ in range(3):
            assert client.get("/api/v1/tags").status_code == 200
        refused = client.get("/api/v1/tags")
        problem = assert_problem(refused, 429)
        assert problem["type"] == "urn:sellerdesk:problem:rate-limited"
        assert refused["Retry-After"] == "50"
        # Another key has its own count.
        assert world.client("write").get("/api/v1/tags").status_code == 200
    with time_machine.travel(timezone.now().replace(second=0) + timedelta(minutes=1), tick=False):
        assert client.get("/api/v1/tags").status_code == 200


def test_a_rate_of_zero_means_no_limit(world, settings):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 0
    client = world.client("read")
    assert all(client.get("/api/v1/tags").status_code == 200 for _ in range(5))


def test_with_redis_url_the_counts_live_in_redis():
    """Several web processes share the counts: the cache is Redis when REDIS_URL is set."""
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    shown = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


# --- 500 -------------------------------------------------------------------------------------


def test_a_failure_is_a_500_problem_that_tells_nothing(world, monkeypatch, caplog):
    def broken(**_):
        raise RuntimeError("password=hunter2 in /srv/secret.py")

    monkeypatch.setattr(api_selectors, "tags_matching", broken)
    response = world.client("read").get("/api/v1/tags")
    problem = assert_problem(response, 500)
    assert "hunter2" not in response.content.decode()
    assert "secret" not in response.content.decode()
    assert problem["type"] == "about:blank"
    assert "hunter2" in caplog.text  # it is in the log, for the operators


# --- The interactive docs ----------------------------------------------------------------------


def test_the_docs_work_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, html
    assert all(r.startswith("/static/") for r in references), references
    assert "//" not in "".join(references)
    assert "cdn" not in html.lower()
    for reference in references:
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert b"".join(asset.streaming_content if asset.streaming else [asset.content])
    assert json.loads(client.get("/api/v1/openapi.json").content)["openapi"].startswith("3.")


# --- 503 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("terminating connection due to administrator command"),
        InterfaceError("connection already closed"),
    ],
)
def test_a_database_away_is_a_503_to_retry_not_a_500(world, monkeypatch, caplog, error):
    """Found by ``make bench-load``: during a PostgreSQL restart clients got 500s."""

    def away(**_):
        raise error

    monkeypatch.setattr(api_selectors, "tags_matching", away)
    response = world.client("read").get("/api/v1/tags")
    problem = assert_problem(response, 503)
    assert response["Retry-After"] == "5"
    assert problem["type"].endswith(":unavailable")
    assert "try again" in problem["detail"]
    assert "administrator command" not in response.content.decode()
    assert "the database away" in caplog.text
