"""schemathesis against the REST API's own OpenAPI document, in process (WSGI), with a write
key (a reports key for the reports): for every operation, generated requests never get a 5xx
nor a response that breaks the document (status, content type, headers, body), requests that
break the document are refused with a 4xx, and requests without the key are refused.

Bounded: at most ``MAX_EXAMPLES`` generated requests an operation and phase. Half the
generated ids are swapped for rows that exist, so the happy paths run too.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sellerdesk.api import services as api_services

MAX_EXAMPLES = 25

# Loaded when the module is collected: reading the document touches no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

#: The keys of the running test (made fresh in each test's database).
TOKENS: dict[str, str] = {}
PLACEHOLDER = "key-of-the-running-test"


def _scope(case) -> str:
    return "reports" if case.path == "/api/v1/reports" else "write"


@schema.auth(refresh_interval=None)
class BearerKey:
    """The key schemathesis sends, so that it knows which requests carry one."""

    def get(self, case, ctx):
        # Also asked at collection (the coverage phase's cases are made then), before any
        # test has made its keys: a placeholder the test swaps for its key.
        return TOKENS.get(_scope(case), PLACEHOLDER)

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: the WSGI handler would close the database connection
    after each request, and with it the test's transaction (PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _keys(settings, db):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 0
    cache.clear()
    for scope in ("write", "reports"):
        TOKENS[scope] = api_services.apikey_create(name=f"schemathesis {scope}", scope=scope)[1]
    yield
    TOKENS.clear()


def _even(value) -> bool:
    return isinstance(value, str) and len(value) % 2 == 0


def _point_at_rows(case, conversation, agent) -> None:
    """Swap about half the generated ids and names in valid requests for ones that exist, so
    that the happy paths run too. Requests generated to break the document stay as they are."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    path = case.path_parameters or {}
    number = path.get("conversation_id")
    if isinstance(number, int) and not isinstance(number, bool) and number % 2 == 0:
        path["conversation_id"] = conversation.pk
    if _even(path.get("merchant_id")):
        path["merchant_id"] = "m-acme"
    body = case.body
    if not isinstance(body, dict):
        return
    if _even(body.get("merchant_id")):
        body["merchant_id"] = "m-acme"
    for name in ("author_email", "actor_email", "assignee_email"):
        if _even(body.get(name)):
            body[name] = agent.email
    if _even(body.get("email")):
        body["email"] = f"user{len(body['email'])}@acme.test"
    if isinstance(body.get("country"), str) and ord(body["country"][:1] or "a") % 2 == 0:
        body["country"] = "TR"
    if _even(body.get("from")) and isinstance(body.get("to"), str):
        body["from"], body["to"] = "2020-01-01", "2030-01-01"
        if isinstance(body.get("config"), dict) and len(body["config"]) % 2 == 0:
            body["config"] = {}
        if isinstance(body.get("as_of"), str):
            body["as_of"] = "2029-01-01T00:00:00Z"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_its_openapi_promises(case, acme_conversation, globex_conversation, agent):
    _point_at_rows(case, acme_conversation, agent)
    if (case.headers or {}).get("Authorization") == f"Bearer {PLACEHOLDER}":
        case.headers["Authorization"] = f"Bearer {TOKENS[_scope(case)]}"
    case.call_and_validate(
        # Well-formed JSON that names no merchant, agent or time zone that exists is refused
        # with a 422 naming the problem: the document cannot say which ids exist.
        excluded_checks=[positive_data_acceptance],
    )
