"""Review fixes in accounts and People: an invitee whose invitation was lost can still choose a
password, a mistyped password keeps the page sign-in was to go to, and People pages through
every merchant user (and finds them by address or name)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core import mail
from django.urls import reverse

from sellerdesk.accounts import selectors as people_selectors
from sellerdesk.accounts.models import AuditEvent, Role, User
from sellerdesk.core.cursors import cursor_pack
from sellerdesk.outbox import delivery
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
RESET = "/accounts/password-reset/"
LINK = re.compile(r"https?://[^/]+(/accounts/password-reset/\S+/\S+/)")


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


# --- An invitee asks for the link again ---------------------------------------------------------


def _invite(admin_client, email="new@acme.test"):
    response = admin_client.post(
        reverse("desk:person_add"), {"email": email, "role": "merchant", "merchant": "m-acme"}
    )
    assert response.status_code == 302
    user = User.objects.get(email=email)
    assert not user.has_usable_password()
    return user


def test_an_invitee_whose_invitation_was_lost_gets_a_reset_link(client_for, admin_client, acme):
    _invite(admin_client)
    anonymous = client_for(None)
    response = anonymous.post(RESET, {"email": "New@Acme.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert [m.to for m in mail.outbox] == [["new@acme.test"]]
    assert AuditEvent.objects.filter(
        action="password_reset_requested", target="new@acme.test"
    ).exists()
    link = LINK.search(mail.outbox[0].body)[1]
    form = anonymous.get(link, follow=True)
    assert form.status_code == 200
    chosen = "a first long secret"
    response = anonymous.post(
        form.redirect_chain[-1][0], {"new_password1": chosen, "new_password2": chosen}
    )
    assert response.status_code == 302
    assert User.objects.get(email="new@acme.test").check_password(chosen)
    response = anonymous.post(LOGIN, {"email": "new@acme.test", "password": chosen})
    assert response["Location"] == reverse("portal:list")


def test_the_invitation_queued_with_the_user_still_goes_out(client_for, admin_client, acme):
    _invite(admin_client)
    assert mail.outbox == []
    delivery.deliver_due()
    assert [m.to for m in mail.outbox] == [["new@acme.test"]]
    assert "/accounts/password-reset/" in mail.outbox[0].body


def test_a_deactivated_invitee_gets_no_link(client_for, admin_client, acme):
    invitee = _invite(admin_client)
    admin_client.post(reverse("desk:person_active", args=[invitee.pk]), {"active": "0"})
    response = client_for(None).post(RESET, {"email": "new@acme.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_a_deactivated_person_with_a_password_gets_no_link(client, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = client.post(RESET, {"email": "alice@acme.test"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_an_unknown_address_is_answered_as_a_known_one(client_for, admin_client, acme):
    _invite(admin_client)
    anonymous = client_for(None)
    unknown = anonymous.post(RESET, {"email": "nobody@acme.test"})
    assert mail.outbox == []
    known = anonymous.post(RESET, {"email": "new@acme.test"})
    assert len(mail.outbox) == 1
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])


# --- Sign-in keeps ``next`` after a mistyped password --------------------------------------------


def _next_field(response) -> str | None:
    """The ``next`` the sign-in form carries (the language switcher carries its own)."""
    match = re.search(
        r'action="/accounts/login/"[^>]*>.*?<input type="hidden" name="next" value="([^"]*)">',
        response.content.decode(),
        re.DOTALL,
    )
    return unescape(match[1]) if match else None


def test_a_mistyped_password_keeps_next_for_the_second_try(client, alice):
    page = client.get(LOGIN + "?next=/merchant/c/7/")
    assert _next_field(page) == "/merchant/c/7/"
    wrong = client.post(
        LOGIN, {"email": "alice@acme.test", "password": "typo", "next": "/merchant/c/7/"}
    )
    assert wrong.status_code == 400
    assert 'name="next" value="/merchant/c/7/"' in wrong.content.decode()
    right = client.post(
        LOGIN, {"email": "alice@acme.test", "password": PASSWORD, "next": _next_field(wrong)}
    )
    assert right["Location"] == "/merchant/c/7/"


def test_a_throttled_sign_in_keeps_next_too(client, alice, settings):
    settings.SELLERDESK_SIGNIN_MAX_FAILURES = 1
    form = {"email": "alice@acme.test", "password": "typo", "next": "/merchant/"}
    client.post(LOGIN, form)
    throttled = client.post(LOGIN, form)
    assert "Too many failed attempts" in throttled.content.decode()
    assert _next_field(throttled) == "/merchant/"


@pytest.mark.parametrize(
    "target", ["https://evil.test/", "//evil.test/", "javascript:alert(1)", "\\\\evil.test"]
)
def test_a_next_for_another_site_is_not_carried(client, alice, target):
    assert _next_field(client.get(LOGIN, {"next": target})) == ""
    wrong = client.post(LOGIN, {"email": "alice@acme.test", "password": "typo", "next": target})
    assert _next_field(wrong) == ""
    assert "evil.test" not in wrong.content.decode()


# --- People: every merchant user can be reached ---------------------------------------------


def _merchant_users(merchant, count):
    """``count`` merchant users of ``merchant``, stored at once (the page is what is tested)."""
    User.objects.bulk_create(
        User(
            email=f"p{i:03d}@acme.test",
            full_name=f"Person {i:03d}",
            role=Role.MERCHANT,
            merchant=merchant,
            password="!",
        )
        for i in range(count)
    )


def _section(response, start: str, end: str) -> str:
    return response.content.decode().split(start, 1)[1].split(end, 1)[0]


def _emails(response) -> list[str]:
    """The merchant users' addresses the page lists, in order."""
    part = _section(response, 'id="merchant-users-count"', "Audit log")
    return re.findall(r'<div class="muted">([^<]+@[^<]+)</div>', part)


def _staff_emails(response) -> list[str]:
    part = _section(response, 'id="staff-count"', "Add a person")
    return re.findall(r'<div class="muted">([^<]+@[^<]+)</div>', part)


def _count(response, which) -> int:
    return int(re.search(rf'id="{which}-count">\((\d+)\)', response.content.decode())[1])


def _next_page(response) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">', response.content.decode())
    return unescape(match[1]) if match else None


def test_people_pages_through_every_merchant_user(admin_client, alice, acme):
    """Past the 200 the page used to stop at: 251 merchant users, three pages of 100."""
    _merchant_users(acme, 250)
    following: str | None = ""
    seen: list[str] = []
    pages = 0
    while following is not None:
        response = admin_client.get(reverse("desk:people") + following)
        assert response.status_code == 200
        assert _count(response, "merchant-users") == 251
        seen += _emails(response)
        following = _next_page(response)
        pages += 1
        assert pages < 10
    assert pages == 3
    assert len(seen) == len(set(seen)) == 251
    assert "p249@acme.test" in seen
    assert "alice@acme.test" in seen


def test_the_last_merchant_user_can_be_deactivated_from_their_page(admin_client, acme, monkeypatch):
    _merchant_users(acme, 5)
    monkeypatch.setattr(people_selectors, "MERCHANT_USERS_PAGE", 2)
    first = admin_client.get(reverse("desk:people"))
    assert _emails(first) == ["p000@acme.test", "p001@acme.test"]
    second_url = reverse("desk:people") + _next_page(first)
    second = admin_client.get(second_url)
    assert _emails(second) == ["p002@acme.test", "p003@acme.test"]
    third = admin_client.get(reverse("desk:people") + _next_page(second))
    assert _emails(third) == ["p004@acme.test"]
    assert _next_page(third) is None
    assert "First page" in third.content.decode()
    last = User.objects.get(email="p004@acme.test")
    form = reverse("desk:person_active", args=[last.pk])
    assert f'action="{form}"' in third.content.decode()
    response = admin_client.post(form, {"active": "0", "next": second_url})
    assert response["Location"] == second_url  # back to the page it was done from
    last.refresh_from_db()
    assert not last.is_active


def test_a_change_never_sends_the_admin_to_another_site(admin_client, agent):
    response = admin_client.post(
        reverse("desk:person_active", args=[agent.pk]),
        {"active": "0", "next": "https://evil.test/desk/people/"},
    )
    assert response["Location"] == reverse("desk:people")


def test_search_finds_people_by_address_or_name_and_counts_what_matches(
    admin_client, agent, lead, alice, acme, globex, eve
):
    _merchant_users(acme, 250)
    page = admin_client.get(reverse("desk:people"), {"q": "P249@"})
    assert _emails(page) == ["p249@acme.test"]
    assert _count(page, "merchant-users") == 1
    assert _count(page, "staff") == 0
    page = admin_client.get(reverse("desk:people"), {"q": "person 24"})
    assert _count(page, "merchant-users") == 10
    assert len(_emails(page)) == 10
    page = admin_client.get(reverse("desk:people"), {"q": "lena"})
    assert _staff_emails(page) == ["lead@desk.test"]
    assert _count(page, "staff") == 1
    assert _count(page, "merchant-users") == 0
    page = admin_client.get(reverse("desk:people"), {"q": "m-globex"})
    assert _emails(page) == ["eve@globex.test"]


def test_without_a_search_the_counts_are_of_everyone(admin_client, agent, lead, alice, acme):
    _merchant_users(acme, 3)
    page = admin_client.get(reverse("desk:people"))
    assert _count(page, "staff") == 3
    assert sorted(_staff_emails(page)) == ["admin@desk.test", "agent@desk.test", "lead@desk.test"]
    assert _count(page, "merchant-users") == 4
    assert _next_page(page) is None


def test_the_search_pages_and_keeps_itself(admin_client, acme, monkeypatch):
    _merchant_users(acme, 12)
    monkeypatch.setattr(people_selectors, "MERCHANT_USERS_PAGE", 2)
    page = admin_client.get(reverse("desk:people"), {"q": "person 00"})
    assert _count(page, "merchant-users") == 10  # Person 000 to Person 009, not 010 or 011
    seen = _emails(page)
    while (following := _next_page(page)) is not None:
        assert "q=person+00" in following
        page = admin_client.get(reverse("desk:people") + following)
        seen += _emails(page)
    assert seen == [f"p{i:03d}@acme.test" for i in range(10)]


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", cursor_pack([1, 2]), cursor_pack(["m-acme"]), cursor_pack(["m\x00", "a"])],
)
def test_a_bad_cursor_is_a_404(admin_client, cursor):
    assert admin_client.get(reverse("desk:people"), {"cursor": cursor}).status_code == 404


def test_a_search_too_long_to_be_an_address_says_so(admin_client, alice):
    page = admin_client.get(reverse("desk:people"), {"q": "x" * 300})
    assert page.status_code == 200
    assert 'role="alert"' in page.content.decode()
    assert _count(page, "merchant-users") == 0
