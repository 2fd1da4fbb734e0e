"""GET /api/v1/search: ranked hits with snippets, the list's filters, cursor pages, a merchant's
key confined to its own conversations and public messages, and bad input as problem+json."""

from __future__ import annotations

import json

import pytest

from sellerdesk.conversations.services import message_add
from tests.api_support import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_rate_counts")

SEARCH = "/api/v1/search"


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def ids(body: dict) -> list[int]:
    return [item["conversation"]["id"] for item in body["items"]]


def test_search_finds_subjects_then_messages_with_snippets(
    world, acme_conversation, globex_conversation
):
    message_add(conversation=globex_conversation, author_type="merchant", body="payment late?")
    body = _ok(world.client("read").get(SEARCH, q="payment"))
    assert ids(body) == [acme_conversation.pk, globex_conversation.pk]
    assert [item["matched"] for item in body["items"]] == ["subject", "message"]
    assert body["items"][0]["snippet"] == "Ödeme gecikti — <mark>payment</mark> late"
    assert body["next"] is None
    assert ids(_ok(world.client("read").get(SEARCH, q="审核"))) == [globex_conversation.pk]


def test_filters_combine_with_the_search(world, acme_conversation, globex_conversation):
    client = world.client("read")
    message_add(conversation=globex_conversation, author_type="merchant", body="payment late?")
    assert ids(_ok(client.get(SEARCH, q="payment", merchant="m-globex"))) == [
        globex_conversation.pk
    ]
    assert ids(_ok(client.get(SEARCH, q="payment", kind="complaint"))) == [acme_conversation.pk]
    assert ids(_ok(client.get(SEARCH, q="payment", status="solved"))) == []


def test_a_merchants_key_finds_its_own_public_messages_only(
    world, acme_conversation, globex_conversation
):
    message_add(conversation=acme_conversation, author_type="agent", body="codeword", public=False)
    assert ids(_ok(world.client("read").get(SEARCH, q="codeword"))) == [acme_conversation.pk]
    assert ids(_ok(world.client("acme_read").get(SEARCH, q="codeword"))) == []
    assert ids(_ok(world.client("acme_read").get(SEARCH, q="审核"))) == []
    assert ids(_ok(world.client("globex_write").get(SEARCH, q="ödemesi"))) == []
    assert ids(_ok(world.client("acme_read").get(SEARCH, q="ödemesi"))) == [acme_conversation.pk]
    # Naming another merchant narrows to nothing rather than widening.
    assert ids(_ok(world.client("acme_read").get(SEARCH, q="审核", merchant="m-globex"))) == []


def test_pages_follow_next(world, acme):
    from sellerdesk.conversations.services import conversation_open

    made = [
        conversation_open(merchant=acme, channel="api", subject=f"Parcel {n}", body="parcel")
        for n in range(5)
    ]
    client = world.client("read")
    seen, url = [], None
    body = _ok(client.get(SEARCH, q="parcel", limit=2))
    for _ in range(5):
        seen += ids(body)
        url = body["next"]
        if url is None:
            break
        assert "q=parcel" in url
        body = _ok(client.client.get(url, headers=client.headers()))
    assert sorted(seen) == sorted(c.pk for c in made)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 422),
        ({"q": ""}, 422),
        ({"q": '""'}, 422),
        ({"q": '"'}, 422),
        ({"q": "x" * 201}, 422),
        ({"q": "a b c d e f g h i"}, 422),
        ({"q": "parcel", "limit": 0}, 422),
        ({"q": "parcel", "cursor": "forged"}, 400),
        ({"q": "parcel", "status": "lost"}, 422),
    ],
)
def test_bad_searches_are_problems(world, acme_conversation, query, status):
    assert_problem(world.client("read").get(SEARCH, **query), status)


@pytest.mark.parametrize(
    "text", ["%", "_", "'", '"x', "*", "NEAR(a b)", "a OR b", "' OR 1=1 --", "^x", "(", "\\"]
)
def test_odd_searches_are_answered(world, acme_conversation, text):
    _ok(world.client("acme_read").get(SEARCH, q=text))


def test_a_reports_key_may_not_search(world):
    assert_problem(world.client("reports").get(SEARCH, q="x"), 403)
