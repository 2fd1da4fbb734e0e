"""Injection-looking, malformed and oversized query strings on every page, for every role.

Every page of the authorization matrix is asked with every parameter any page reads (the
inbox's filters, sorts, cursors and sizes, the tag and search boxes, ``next``...) set to SQL,
LIKE, full-text and control-character payloads. Nothing may answer 5xx, and nothing may
change: an answer is the page, a 4xx or a redirect.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.test_authz import MATRIX, OK, ROLES, _signed_in, snapshot, world  # noqa: F401

#: Every query parameter a page of the desk, the portal or the accounts reads.
PARAMETERS = (
    "queue", "sort", "size", "cursor", "q", "macro", "next", "merchant", "page",
    "status", "kind", "tag", "channel", "country", "segment", "assignee", "priority",
    "lang", "period", "segment_by", "edition", "since", "until", "last_id",
)  # fmt: skip
VALUES = (
    "' OR 1=1 --",
    '"; DROP TABLE conversations_conversation; --',
    "%",
    "_",
    "\\",
    "\x00",
    'NEAR(a b) OR * "',
    "a" * 5000,
    "-1",
    "99999999999999999999999999",
    "../../etc/passwd",
    "%ff%fe",
    "javascript:alert(1)",
    "//evil.example/",
    "支付 延迟",
)
PAGES = [
    (entry, role)
    for entry in MATRIX
    if not entry.name.startswith("admin:")
    for role in ROLES
    if entry.get[role] == OK
]


@pytest.mark.parametrize(("entry", "role"), PAGES, ids=[f"{e.name}-{r}" for e, r in PAGES])
def test_no_query_string_makes_a_page_fail(world, entry, role):  # noqa: F811
    client = _signed_in(world.users[role])
    url = world.url(entry)
    before = snapshot()
    for value in VALUES:
        # Raw percent-escapes stay as sent: "%ff%fe" is not UTF-8 on purpose.
        encoded = value if value.startswith("%ff") else quote(value, safe="")
        query = "&".join(f"{name}={encoded}" for name in PARAMETERS)

        response = client.get(f"{url}?{query}")

        assert response.status_code < 500, f"{url} as {role} with {value[:40]!r}"
        if response.status_code in (301, 302, 303, 307, 308):
            # An open redirect would send the user off-site.
            assert not response["Location"].startswith(("//", "http", "javascript")), (
                f"{url} as {role} redirected to {response['Location']!r}"
            )
    assert snapshot() == before


def test_a_nul_character_is_refused_with_the_reason(client_for, agent):
    client = client_for(agent)

    response = client.get("/desk/tags/?q=pay%00ment")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "the query string contains a NUL character"


def test_a_nul_character_in_a_form_is_refused_before_the_view(client_for, alice):
    response = client_for(alice).post("/merchant/new/", {"subject": "a\x00b", "body": "x"})

    assert response.status_code == 400
    assert response.json()["detail"] == "the form contains a NUL character"
