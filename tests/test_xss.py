"""Hostile text in every stored text field, rendered on every page by every role.

Every free-text column of every sellerdesk model (names, subjects, bodies, tags, macros, rules,
file names, references...) is overwritten with a payload that breaks out of an attribute and
opens a tag. Then every page of the authorization matrix (tests/test_authz.py) is asked by
every role that may see it: the payload must only ever come back escaped or sanitized. A page
or a text field added later is covered without touching this file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import models

from sellerdesk.conversations import workflow
from tests.test_authz import MATRIX, OK, ROLES, Entry, World, _signed_in, world  # noqa: F401

#: Closes a quoted attribute, then opens an element with a handler.
PAYLOAD = "\"'><sd-xss onmouseover=sdxss()>"
#: What only unescaped text shows: the element opened, or the attribute's quote closed.
RAW_MARKERS = (b"<sd-xss", b"\"'><")
#: Columns that are not free text, or whose change would only break the world (not a page).
NOT_FREE_TEXT = {
    "password",
    "country",
    "language",
    "languages",
    "content_type",
    "zone",
    "external_id",  # identifiers, never rendered as markup; covered by their own escaping tests
    "token_hash",
    "key_hash",
    "prefix",
    "by",
    "state",
    "session_key",
    "session_data",
}
#: Files answered as stored bytes, not pages.
DOWNLOADS = {"desk:attachment", "portal:attachment"}


def _free_text_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
        and not isinstance(f, models.EmailField | models.URLField | models.SlugField)
        and not f.choices
        and f.name not in NOT_FREE_TEXT
        and (f.max_length is None or f.max_length >= len(PAYLOAD) + 12)
    ]


@dataclass
class Hostile:
    world: World
    #: The models whose free text now carries the payload.
    touched: list[str]


@pytest.fixture
def hostile(world, agent) -> Hostile:  # noqa: F811  (the fixture imported above)
    conversation = world.conversation
    workflow.reply_post(conversation=conversation, author=agent, body="A public answer")
    workflow.reply_post(conversation=conversation, author=agent, body="A note", public=False)
    workflow.conversation_add_tag(conversation=conversation, name="Payment delay", actor=agent)
    touched = []
    for model in apps.get_models():
        if not model.__module__.startswith("sellerdesk."):
            continue
        fields = _free_text_fields(model)
        if not fields:
            continue
        for pk in model._default_manager.values_list("pk", flat=True):
            # A suffix per row keeps unique columns unique.
            model._default_manager.filter(pk=pk).update(
                **{f.name: f"{PAYLOAD}{pk}" for f in fields}
            )
        touched.append(model._meta.label)
    return Hostile(world, touched)


def test_the_payload_reaches_the_columns_that_pages_show(hostile):
    for label in (
        "accounts.Merchant",
        "accounts.User",
        "accounts.Team",
        "conversations.Conversation",
        "conversations.Message",
        "conversations.Tag",
        "conversations.Macro",
        "conversations.Attachment",
        "sla.Rule",
    ):
        assert label in hostile.touched


PAGES = [
    (entry, role)
    for entry in MATRIX
    if entry.name not in DOWNLOADS
    for role in ROLES
    if entry.get[role] == OK
]


@pytest.mark.parametrize(("entry", "role"), PAGES, ids=[f"{e.name}-{r}" for e, r in PAGES])
def test_no_page_renders_stored_text_as_markup(hostile, entry: Entry, role: str):
    place = hostile.world
    url = place.url(entry)
    if entry.query:
        url = f"{url}?{entry.query.format(macro=place.macro.pk)}"

    response = _signed_in(place.users[role]).get(url)

    assert response.status_code == 200, url
    if not response["Content-Type"].startswith("text/html"):
        # A download (JSON, CSV) holds the text as it is; it is never read as a page.
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert "html" not in response["Content-Type"], url
        return
    for marker in RAW_MARKERS:
        assert marker not in response.content, f"{url} as {role} rendered {marker!r} raw"


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_a_download_names_its_file_in_a_header_that_cannot_be_split(hostile, name):
    place = hostile.world
    role = "agent" if name.startswith("desk:") else "alice"
    entry = next(e for e in MATRIX if e.name == name)

    response = _signed_in(place.users[role]).get(place.url(entry))

    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "\n" not in disposition
    assert "\r" not in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
