"""The authorization matrix: every URL of the desk, the merchant portal, the accounts pages,
the site root and the admin, asked by every role, GET and POST, with the expected outcome.

The rows are checked against the URL resolvers, so a URL added without a row fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.crypto import get_random_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from sellerdesk.accounts.models import AuditEvent, Merchant, Team, User
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import (
    Activity,
    Attachment,
    Conversation,
    ConversationTag,
    ConversationViewer,
    Macro,
    Message,
    StatusChange,
    Tag,
)
from sellerdesk.helpcenter import services as help_services
from sellerdesk.helpcenter.models import Article, ArticleTranslation, Comment, Section
from sellerdesk.reports import services as report_services
from sellerdesk.reports.models import Edition, Improvement
from sellerdesk.sla import automations
from sellerdesk.sla.models import Rule, RuleRun
from sellerdesk.triage.models import Suggestion, TagSetting

ROLES = ("anonymous", "alice", "eve", "agent", "lead", "admin")


@dataclass(frozen=True)
class Redirect:
    """A redirect to exactly this place."""

    to: str


@dataclass(frozen=True)
class SignIn:
    """A redirect to a sign-in page, with ``next`` = the page asked for."""

    page: str


LOGIN = SignIn("/accounts/login/")
ADMIN_LOGIN = SignIn("/admin/login/")
#: A POST the view took on: whatever it did with the (empty) form, nobody was turned away.
ACCEPTED = "accepted"
DENIED = 403
NOT_FOUND = 404
WRONG_METHOD = 405
OK = 200
TO_PORTAL = Redirect("/merchant/")
TO_DESK = Redirect("/desk/")
TO_SIGN_IN = Redirect("/accounts/login/")
TO_2FA_SETUP = Redirect("/accounts/2fa/setup/")


def row(anonymous: Any, alice: Any, eve: Any, agent: Any, lead: Any, admin: Any) -> dict:
    return dict(zip(ROLES, (anonymous, alice, eve, agent, lead, admin), strict=True))


def same(outcome: Any) -> dict:
    return dict.fromkeys(ROLES, outcome)


# The desk: staff only (merchant users get 403, never a page); macros for leads and admins.
STAFF_GET = row(LOGIN, DENIED, DENIED, OK, OK, OK)
STAFF_POST = row(LOGIN, DENIED, DENIED, ACCEPTED, ACCEPTED, ACCEPTED)
STAFF_WRONG_METHOD = row(LOGIN, DENIED, DENIED, WRONG_METHOD, WRONG_METHOD, WRONG_METHOD)
LEAD_GET = row(LOGIN, DENIED, DENIED, DENIED, OK, OK)
LEAD_POST = row(LOGIN, DENIED, DENIED, DENIED, ACCEPTED, ACCEPTED)
LEAD_WRONG_METHOD = row(LOGIN, DENIED, DENIED, DENIED, WRONG_METHOD, WRONG_METHOD)
# People and teams: admins only.
ADMIN_GET = row(LOGIN, DENIED, DENIED, DENIED, DENIED, OK)
ADMIN_POST = row(LOGIN, DENIED, DENIED, DENIED, DENIED, ACCEPTED)
ADMIN_WRONG_METHOD = row(LOGIN, DENIED, DENIED, DENIED, DENIED, WRONG_METHOD)
# The portal: merchant users only (staff get 403); Acme's conversation is a 404 for Eve.
MERCHANT_GET = row(LOGIN, OK, OK, DENIED, DENIED, DENIED)
ACME_GET = row(LOGIN, OK, NOT_FOUND, DENIED, DENIED, DENIED)
MERCHANT_POST = row(LOGIN, ACCEPTED, ACCEPTED, DENIED, DENIED, DENIED)
ACME_POST = row(LOGIN, ACCEPTED, NOT_FOUND, DENIED, DENIED, DENIED)
MERCHANT_WRONG_METHOD = row(LOGIN, WRONG_METHOD, WRONG_METHOD, DENIED, DENIED, DENIED)
# Public pages; the sign-in page and the site root send signed-in people to their place.
HOME_FOR = row(OK, TO_PORTAL, TO_PORTAL, TO_DESK, TO_DESK, TO_DESK)
# Django's admin: the admin role only; everyone else is sent to the admin's sign-in.
ADMIN_ONLY = row(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, OK)


@dataclass(frozen=True)
class Entry:
    name: str
    get: dict
    post: dict | None = None
    #: The query string a GET needs to do its job (``desk:macro_preview``).
    query: str = ""

    @property
    def takes_post(self) -> bool:
        """A view that does something with a POST (and so must check its CSRF token)."""
        return self.post is not None and any(
            o == ACCEPTED or isinstance(o, Redirect) for o in self.post.values()
        )

    @property
    def post_only(self) -> bool:
        return self.takes_post and WRONG_METHOD in self.get.values()


MATRIX: list[Entry] = [
    # --- /desk/ ---
    Entry("desk:inbox", STAFF_GET, STAFF_WRONG_METHOD),
    Entry("desk:bulk", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:tags", STAFF_GET, STAFF_WRONG_METHOD),
    Entry("desk:outreach", STAFF_GET, STAFF_POST),
    Entry("desk:macros", LEAD_GET, LEAD_WRONG_METHOD),
    Entry("desk:macro_new", LEAD_GET, LEAD_POST),
    Entry("desk:macro_edit", LEAD_GET, LEAD_POST),
    Entry("desk:people", ADMIN_GET, ADMIN_WRONG_METHOD),
    Entry("desk:person_add", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:team_add", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:person_role", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:person_active", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:person_team", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:automations", ADMIN_GET, ADMIN_WRONG_METHOD),
    Entry("desk:automation_new", ADMIN_GET, ADMIN_POST),
    Entry("desk:automation_edit", ADMIN_GET, ADMIN_POST),
    Entry("desk:automation_toggle", ADMIN_WRONG_METHOD, ADMIN_POST),
    Entry("desk:triage", LEAD_GET, LEAD_WRONG_METHOD),
    Entry("desk:triage_threshold", LEAD_WRONG_METHOD, LEAD_POST),
    Entry("desk:suggestion_accept", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:suggestion_reject", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:conversation", STAFF_GET, STAFF_WRONG_METHOD),
    Entry("desk:reply", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:status", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:assign", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:team", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:kind", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:outcome", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:priority", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:references", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:tag_add", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:tag_remove", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:spam", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:presence", STAFF_WRONG_METHOD, STAFF_POST),
    Entry("desk:macro_preview", STAFF_GET, STAFF_WRONG_METHOD, query="macro={macro}"),
    Entry("desk:attachment", STAFF_GET, STAFF_WRONG_METHOD),
    # --- /desk/reports/: report editions and improvements, leads and admins ---
    Entry("reports:editions", LEAD_GET, LEAD_WRONG_METHOD),
    Entry("reports:edition_new", LEAD_GET, LEAD_POST),
    Entry("reports:edition", LEAD_GET, LEAD_POST),
    Entry("reports:edition_recompute", LEAD_WRONG_METHOD, LEAD_POST),
    Entry("reports:edition_publish", LEAD_WRONG_METHOD, LEAD_POST),
    Entry("reports:edition_correct", LEAD_WRONG_METHOD, LEAD_POST),
    Entry("reports:improvements", LEAD_GET, LEAD_WRONG_METHOD),
    Entry("reports:improvement_new", LEAD_GET, LEAD_POST),
    Entry("reports:improvement_edit", LEAD_GET, LEAD_POST),
    Entry("reports:improvement_measure", LEAD_WRONG_METHOD, LEAD_POST),
    # --- /help/: public reading; comments by merchants' users; articles by leads, moderation
    # by every agent ---
    Entry("help:index", same(OK), same(WRONG_METHOD)),
    Entry("help:search", same(OK), same(WRONG_METHOD), query="q=payout"),
    Entry("help:contact", same(OK), same(WRONG_METHOD)),
    Entry("help:section", same(OK), same(WRONG_METHOD)),
    Entry("help:article", same(OK), same(WRONG_METHOD)),
    Entry("help:comment", MERCHANT_WRONG_METHOD, MERCHANT_POST),
    Entry("help:reports", same(OK), same(WRONG_METHOD)),
    Entry("help:report", same(OK), same(WRONG_METHOD)),
    Entry("help:report_version", same(OK), same(WRONG_METHOD)),
    Entry("help:report_csv", same(OK), same(WRONG_METHOD)),
    Entry("help:report_json", same(OK), same(WRONG_METHOD)),
    Entry("help:improvements", same(OK), same(WRONG_METHOD)),
    Entry("help:manage", LEAD_GET, LEAD_WRONG_METHOD),
    Entry("help:section_new", LEAD_GET, LEAD_POST),
    Entry("help:section_edit", LEAD_GET, LEAD_POST),
    Entry("help:article_new", LEAD_GET, LEAD_POST),
    Entry("help:article_edit", LEAD_GET, LEAD_POST),
    Entry("help:moderation", STAFF_GET, STAFF_WRONG_METHOD),
    Entry("help:comment_moderate", STAFF_WRONG_METHOD, STAFF_POST),
    # --- /merchant/ ---
    Entry("portal:list", MERCHANT_GET, MERCHANT_WRONG_METHOD),
    Entry("portal:new", MERCHANT_GET, MERCHANT_POST),
    Entry("portal:chat", MERCHANT_GET, MERCHANT_POST),
    Entry("portal:detail", ACME_GET, MERCHANT_WRONG_METHOD),
    Entry("portal:reply", MERCHANT_WRONG_METHOD, ACME_POST),
    Entry("portal:solve", MERCHANT_WRONG_METHOD, ACME_POST),
    Entry("portal:attachment", ACME_GET, MERCHANT_WRONG_METHOD),
    # --- /accounts/ ---
    Entry("accounts:login", HOME_FOR, same(ACCEPTED)),
    Entry("accounts:logout", same(WRONG_METHOD), same(TO_SIGN_IN)),
    # Without a sign-in waiting for its code, the second step sends everyone to the first.
    Entry("accounts:two_factor_verify", same(TO_SIGN_IN), same(TO_SIGN_IN)),
    Entry(
        "accounts:two_factor_setup",
        row(LOGIN, TO_PORTAL, TO_PORTAL, OK, OK, OK),
        row(LOGIN, TO_PORTAL, TO_PORTAL, ACCEPTED, ACCEPTED, ACCEPTED),
    ),
    Entry("accounts:password_reset", same(OK), same(ACCEPTED)),
    Entry("accounts:password_reset_done", same(OK), same(WRONG_METHOD)),
    # A link with a bad token shows "this link is no longer valid" to anyone.
    Entry("accounts:password_reset_confirm", same(OK), same(ACCEPTED)),
    Entry("accounts:password_reset_complete", same(OK), same(WRONG_METHOD)),
    # --- the site root ---
    Entry("home", HOME_FOR, same(WRONG_METHOD)),
    Entry("healthz", same(OK), same(WRONG_METHOD)),
    # The language switcher: anyone may choose (a cookie; a merchant user's choice is saved).
    Entry("set_language", same(WRONG_METHOD), same(ACCEPTED)),
    # --- /admin/: the index and every model's list ---
    Entry("admin:index", ADMIN_ONLY),
    *(
        Entry(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist", ADMIN_ONLY)
        for model in admin.site._registry
    ),
]
BY_NAME = {entry.name: entry for entry in MATRIX}
#: Apps whose every URL has a row here; the admin is covered by its index and model lists.
COVERED_NAMESPACES = ("desk", "portal", "accounts", "help", "reports")
#: A GET that reads these must still change nothing.
TEMPTING = {
    "status": "solved",
    "assignee": "me",
    "action": "assign_me",
    "tag": "tempted",
    "spam": "1",
    "priority": "urgent",
    "kind": "complaint",
    "outcome": "upheld",
    "body": "sent by a GET",
    "confirm": "1",
}
#: Everything a request could change. Not TOTP devices: the 2FA set-up page prepares (and
#: reuses) the unconfirmed device whose secret it shows, before the code is confirmed.
STATE = (
    Conversation,
    Message,
    StatusChange,
    Activity,
    Attachment,
    Tag,
    ConversationTag,
    ConversationViewer,
    Macro,
    Merchant,
    Team,
    User,
    AuditEvent,
    Rule,
    RuleRun,
    Section,
    Article,
    ArticleTranslation,
    Comment,
    Edition,
    Improvement,
    Suggestion,
    TagSetting,
)


def snapshot() -> dict[str, list[dict]]:
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in STATE}


@dataclass
class World:
    users: dict[str, User | None]
    conversation: Conversation
    attachment: Attachment
    macro: Macro
    team: Team
    rule: Rule
    section: Section
    article: Article
    comment: Comment
    draft: Edition
    edition: Edition
    improvement: Improvement
    suggestion: Suggestion

    def form(self) -> dict[str, str]:
        """What a POST carries: every field a view here reads, with a usable value."""
        return {**TEMPTING, "team": str(self.team.pk)}

    def url(self, entry: Entry) -> str:
        if entry.name.startswith("admin:"):
            return reverse(entry.name)
        pattern = _patterns()[entry.name]
        kwargs: dict[str, Any] = {}
        for key in pattern.pattern.converters:
            if key == "pk":
                kwargs[key] = self._pk(entry.name)
            elif key == "attachment_pk":
                kwargs[key] = self.attachment.pk
            elif key == "sid":
                kwargs[key] = self.suggestion.pk
            elif key == "uidb64":
                kwargs[key] = urlsafe_base64_encode(force_bytes(self.users["alice"].pk))
            elif key == "token":
                kwargs[key] = "not-a-valid-token"
            elif key == "slug":
                kwargs[key] = (
                    self.section.slug if entry.name == "help:section" else self.article.slug
                )
            elif key == "series":
                kwargs[key] = self.edition.series
            elif key == "version":
                kwargs[key] = self.edition.version
            else:
                raise AssertionError(f"{entry.name}: no value for the URL argument {key!r}")
        return reverse(entry.name, kwargs=kwargs)

    def _pk(self, name: str) -> int:
        if name == "desk:macro_edit":
            return self.macro.pk
        if name.startswith("desk:automation_"):
            return self.rule.pk
        if name in ("help:section_edit",):
            return self.section.pk
        if name == "help:article_edit":
            return self.article.pk
        if name == "help:comment_moderate":
            return self.comment.pk
        if name == "reports:edition_correct":
            return self.edition.pk
        if name.startswith("reports:edition"):
            return self.draft.pk
        if name.startswith("reports:improvement"):
            return self.improvement.pk
        if name.startswith("desk:person_"):
            person = self.users["agent"]
            assert person is not None
            return person.pk
        return self.conversation.pk


@pytest.fixture
def world(settings, tmp_path, alice, eve, agent, lead, admin_user, eu_team) -> World:
    settings.MEDIA_ROOT = tmp_path
    conversation = workflow.merchant_conversation_open(
        user=alice,
        kind="complaint",
        subject="Ödeme gecikti",
        body="Siparişimin ödemesi gelmedi.",
        files=[SimpleUploadedFile("dekont.pdf", b"%PDF-1.4 receipt", "application/pdf")],
    )
    macro = workflow.macro_save(actor=lead, name="Thanks", body="Hello {{ merchant_name }}")
    rule = automations.rule_save(
        actor=admin_user,
        name="Close solved",
        position=10,
        active=True,
        conditions={"status": ["solved"], "hours_since_status_change": 96},
        actions=[{"action": "set_status", "value": "closed"}],
    )
    section = help_services.section_save(actor=lead, slug="payments", title="Payments")
    article = help_services.article_save(
        actor=lead, section=section, slug="payouts", language="en", title="Payouts",
        body="When is my **payout**?", published=True,
    )  # fmt: skip
    comment = help_services.comment_post(author=alice, article=article, body="Thanks!")
    common = {"start": "2020-01-01", "end": "2020-02-01", "as_of": "2024-01-01T00:00:00Z"}
    edition = report_services.edition_create(actor=lead, series="2020", title="Data 2020", **common)
    edition = report_services.edition_publish(actor=lead, edition=edition)
    draft = report_services.edition_create(actor=lead, series="2020b", title="Draft", **common)
    improvement = report_services.improvement_save(
        actor=lead, title="Faster payouts", description="", status="done",
        done_on=date(2020, 6, 1),
    )  # fmt: skip
    return World(
        section=section,
        article=article,
        comment=comment,
        draft=draft,
        edition=edition,
        improvement=improvement,
        users={
            "anonymous": None,
            "alice": alice,
            "eve": eve,
            "agent": agent,
            "lead": lead,
            "admin": admin_user,
        },
        conversation=conversation,
        attachment=Attachment.objects.get(conversation=conversation),
        macro=macro,
        team=eu_team,
        rule=rule,
        suggestion=Suggestion.objects.create(
            conversation=conversation, field="tag", value="payout", confidence=0.9
        ),
    )


def _signed_in(user: User | None, **options: Any) -> Client:
    client = Client(**options)
    if user is not None:
        client.force_login(user)
    return client


def _walk(patterns: list, namespace: str = "") -> dict[str, URLPattern]:
    """Every named URL pattern, by its qualified name (unnamed ones under ``?``)."""
    found: dict[str, URLPattern] = {}
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(p for p in (namespace, pattern.namespace or "") if p)
            found.update(_walk(pattern.url_patterns, inner))
        else:
            name = pattern.name or f"?{pattern.pattern}"
            found[f"{namespace}:{name}" if namespace else name] = pattern
    return found


def _patterns() -> dict[str, URLPattern]:
    return _walk(get_resolver().url_patterns)


def assert_outcome(response: Any, expected: Any, asked: str) -> None:
    status = response.status_code
    where = response.get("Location", "")
    said = f"{status} {where}".strip()
    if isinstance(expected, SignIn):
        assert status == 302, said
        target = urlsplit(where)
        assert target.path == expected.page, said
        assert parse_qs(target.query).get("next") == [asked], said
    elif isinstance(expected, Redirect):
        assert status == 302, said
        assert where == expected.to, said
    elif expected == ACCEPTED:
        assert status < 500, said
        assert status not in (DENIED, NOT_FOUND, WRONG_METHOD), said
        assert "/login/" not in where, said
    else:
        assert status == expected, said


# --- Every URL has a row ----------------------------------------------------------------------


def test_every_url_of_the_desk_portal_and_accounts_has_a_row_in_the_matrix():
    walked = {
        name for name in _patterns() if name.split(":", 1)[0] in COVERED_NAMESPACES and ":" in name
    }
    covered = {e.name for e in MATRIX if e.name.split(":", 1)[0] in COVERED_NAMESPACES}
    assert not walked - covered, (
        f"URLs without a row in the authorization matrix: {walked - covered}"
    )
    assert not covered - walked, f"rows for URLs that no longer exist: {covered - walked}"


def test_every_top_level_url_is_covered():
    """A new app's URLs or a new page at the root fail here until the matrix has them."""
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            # The REST API's operations have their own matrix, by key (tests/test_api_authz.py).
            assert pattern.namespace in (*COVERED_NAMESPACES, "admin", "api"), pattern
        else:
            assert pattern.name in BY_NAME, f"{pattern} has no row in the authorization matrix"


def test_the_apps_are_mounted_where_the_matrix_expects():
    assert reverse("desk:inbox") == "/desk/"
    assert reverse("portal:list") == "/merchant/"
    assert reverse("accounts:login") == "/accounts/login/"
    assert reverse("admin:index") == "/admin/"


# --- The matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("entry", MATRIX, ids=lambda e: e.name)
def test_get(world, entry, role):
    client = _signed_in(world.users[role])
    url = world.url(entry)
    query = entry.query.format(macro=world.macro.pk)
    if not entry.name.startswith("admin:"):
        # What a link (or a crawler) might carry: a GET must not act on any of it.
        query = "&".join(q for q in (query, urlencode(TEMPTING)) if q)
    asked = f"{url}?{query}" if query else url
    before = snapshot()

    response = client.get(asked)

    assert_outcome(response, entry.get[role], asked)
    assert snapshot() == before, f"GET {asked} as {role} changed stored rows"


POSTS = [e for e in MATRIX if e.post is not None]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("entry", POSTS, ids=lambda e: e.name)
def test_post(world, entry, role):
    client = _signed_in(world.users[role])
    url = world.url(entry)
    expected = entry.post[role]
    before = snapshot()

    response = client.post(url, world.form())

    assert_outcome(response, expected, url)
    if expected in (LOGIN, DENIED, NOT_FOUND, WRONG_METHOD):
        assert snapshot() == before, f"a refused POST {url} as {role} changed stored rows"


# --- Methods and CSRF -------------------------------------------------------------------------

POST_VIEWS = [e for e in MATRIX if e.takes_post]
POST_ONLY = [e for e in MATRIX if e.post_only]


def test_the_post_only_views_are_the_ones_expected():
    assert {e.name for e in POST_ONLY} == {
        "desk:bulk",
        "desk:person_add",
        "desk:team_add",
        "desk:person_role",
        "desk:person_active",
        "desk:person_team",
        "desk:automation_toggle",
        "desk:triage_threshold",
        "desk:suggestion_accept",
        "desk:suggestion_reject",
        "desk:reply",
        "desk:status",
        "desk:assign",
        "desk:team",
        "desk:kind",
        "desk:outcome",
        "desk:priority",
        "desk:references",
        "desk:tag_add",
        "desk:tag_remove",
        "desk:spam",
        "desk:presence",
        "portal:reply",
        "portal:solve",
        "accounts:logout",
        "set_language",
        "reports:edition_recompute",
        "reports:edition_publish",
        "reports:edition_correct",
        "reports:improvement_measure",
        "help:comment",
        "help:comment_moderate",
    }


def _actor(entry: Entry) -> str:
    """The first role whose POST the view acts on."""
    assert entry.post is not None
    return next(
        r for r in ROLES if entry.post[r] == ACCEPTED or isinstance(entry.post[r], Redirect)
    )


@pytest.mark.parametrize("entry", POST_ONLY, ids=lambda e: e.name)
def test_post_only_view_answers_get_with_405(world, entry):
    role = _actor(entry)
    response = _signed_in(world.users[role]).get(world.url(entry))
    assert response.status_code == WRONG_METHOD
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("entry", POST_VIEWS, ids=lambda e: e.name)
def test_post_without_csrf_token_is_refused(world, entry):
    role = _actor(entry)
    client = _signed_in(world.users[role], enforce_csrf_checks=True)
    url = world.url(entry)
    before = snapshot()

    response = client.post(url, world.form())

    assert response.status_code == DENIED, f"POST {url} as {role} without a CSRF token"
    assert snapshot() == before


@pytest.mark.parametrize("entry", POST_VIEWS, ids=lambda e: e.name)
def test_post_with_csrf_token_gets_through(world, entry, settings):
    """The control for the test above: the 403 was the CSRF check's, not the role's."""
    role = _actor(entry)
    client = _signed_in(world.users[role], enforce_csrf_checks=True)
    token = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = token

    response = client.post(world.url(entry), {**world.form(), "csrfmiddlewaretoken": token})

    assert_outcome(response, entry.post[role], world.url(entry))


# --- Scoping beyond the matrix ----------------------------------------------------------------


def test_a_merchant_sees_only_its_own_conversations_in_the_portal(
    world, globex_conversation, client_for
):
    acme = world.conversation
    eve_page = client_for(world.users["eve"]).get(reverse("portal:list")).content.decode()
    assert globex_conversation.subject in eve_page
    assert acme.subject not in eve_page
    alice = client_for(world.users["alice"])
    assert acme.subject in alice.get(reverse("portal:list")).content.decode()
    other = reverse("portal:detail", kwargs={"pk": globex_conversation.pk})
    assert alice.get(other).status_code == NOT_FOUND
    assert (
        alice.post(
            reverse("portal:reply", kwargs={"pk": globex_conversation.pk}), {"body": "not mine"}
        ).status_code
        == NOT_FOUND
    )
    assert not Message.objects.filter(conversation=globex_conversation, body="not mine").exists()


def test_an_internal_notes_attachment_is_hidden_from_the_merchant(world, client_for):
    acme = world.conversation
    workflow.reply_post(
        conversation=acme,
        author=world.users["agent"],
        body="Finance says the payout bounced.",
        public=False,
        files=[SimpleUploadedFile("ledger.csv", b"id,amount\n1,10\n", "text/csv")],
    )
    note = Attachment.objects.get(conversation=acme, filename="ledger.csv")
    alice = client_for(world.users["alice"])
    portal = reverse("portal:attachment", kwargs={"pk": acme.pk, "attachment_pk": note.pk})
    assert alice.get(portal).status_code == NOT_FOUND
    page = alice.get(reverse("portal:detail", kwargs={"pk": acme.pk})).content.decode()
    assert "payout bounced" not in page
    assert "ledger.csv" not in page
    desk = reverse("desk:attachment", kwargs={"pk": acme.pk, "attachment_pk": note.pk})
    response = client_for(world.users["agent"]).get(desk)
    assert response.status_code == OK
    assert response["Content-Disposition"].startswith("attachment")


def test_an_attachment_is_served_under_its_own_conversation_only(
    world, globex_conversation, client_for
):
    """Globex's conversation id with Acme's attachment id: not a way round the scoping."""
    url = reverse(
        "portal:attachment",
        kwargs={"pk": globex_conversation.pk, "attachment_pk": world.attachment.pk},
    )
    assert client_for(world.users["eve"]).get(url).status_code == NOT_FOUND


DESK_GETS = [e for e in MATRIX if e.name.startswith("desk:")]


@pytest.mark.parametrize("entry", DESK_GETS, ids=lambda e: e.name)
def test_with_staff_2fa_on_unverified_staff_are_sent_to_set_it_up(world, entry, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = True
    response = _signed_in(world.users["admin"]).get(
        world.url(entry) + "?" + entry.query.format(macro=world.macro.pk)
    )
    assert_outcome(response, TO_2FA_SETUP, "")
    # Merchant users have no second factor: still a plain 403 at the desk.
    response = _signed_in(world.users["alice"]).get(world.url(entry))
    assert response.status_code == DENIED


def test_with_staff_2fa_on_the_admin_needs_the_second_factor_too(world, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = True
    client = _signed_in(world.users["admin"])
    for name in ("admin:index", "admin:conversations_conversation_changelist"):
        assert client.get(reverse(name)).status_code == 302, name


def test_the_admin_has_no_sign_in_of_its_own(world):
    from tests.conftest import PASSWORD

    admin_user = world.users["admin"]
    client = Client()
    for _ in range(10):
        client.post(reverse("admin:login"), {"username": admin_user.email, "password": "wrong"})
    response = client.post(
        reverse("admin:login"), {"username": admin_user.email, "password": PASSWORD}
    )
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302
    assert response.status_code in (302, 405)


@pytest.mark.parametrize("team", ["²", "³"])
def test_a_team_id_that_is_no_number_is_not_found(world, team):
    url = reverse("desk:team", kwargs={"pk": world.conversation.pk})
    assert _signed_in(world.users["agent"]).post(url, {"team": team}).status_code in (302, 404)
    url = reverse("desk:person_team", kwargs={"pk": world.users["agent"].pk})
    response = _signed_in(world.users["admin"]).post(url, {"team": team, "member": "1"})
    assert response.status_code == 404
