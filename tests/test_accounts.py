"""Signing in and out, throttling, two-factor for staff, password resets, the set-up commands
and the audit log."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from sellerdesk.accounts.models import AuditEvent, Role, User
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


def sign_in(client, email, password=PASSWORD, **extra):
    return client.post(LOGIN, {"email": email, "password": password, **extra})


def code_for(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_new_passwords_are_hashed_with_argon2(db, settings):
    settings.PASSWORD_HASHERS = [  # the product's list, not the tests' fast one
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    from sellerdesk.accounts.services import user_create

    user = user_create(email="Hash@Desk.test", password="a long enough secret", role="agent")
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.email == "hash@desk.test"


def test_the_products_first_hasher_is_argon2():
    from sellerdesk import settings as product

    assert product.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_each_role_lands_in_its_own_place(client, alice, agent):
    response = sign_in(client, "ALICE@acme.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:list")
    client.post(reverse("accounts:logout"))
    response = sign_in(client, "agent@desk.test")
    assert response["Location"] == reverse("desk:inbox")


def test_sign_in_follows_a_safe_next_and_ignores_another_host(client, agent):
    response = client.post(
        LOGIN, {"email": "agent@desk.test", "password": PASSWORD, "next": "/desk/?queue=mine"}
    )
    assert response["Location"] == "/desk/?queue=mine"
    client.post(reverse("accounts:logout"))
    response = client.post(
        LOGIN, {"email": "agent@desk.test", "password": PASSWORD, "next": "https://evil.test/"}
    )
    assert response["Location"] == reverse("desk:inbox")


def test_a_wrong_password_is_refused_and_audited(client, alice):
    response = sign_in(client, "alice@acme.test", "wrong")
    assert response.status_code == 400
    assert "do not match" in response.content.decode()
    event = AuditEvent.objects.get(action="sign_in_failed")
    assert event.target == "alice@acme.test"
    assert event.ip == "127.0.0.1"


def test_repeated_failures_lock_the_address_for_a_while(client, alice, settings):
    settings.SELLERDESK_SIGNIN_MAX_FAILURES = 3
    for _ in range(3):
        sign_in(client, "alice@acme.test", "guess")
    response = sign_in(client, "alice@acme.test")  # even the right password waits
    assert response.status_code == 400
    assert "Too many failed attempts" in response.content.decode()
    assert AuditEvent.objects.filter(action="sign_in_throttled").count() == 1
    assert "_auth_user_id" not in client.session


def test_failures_from_one_ip_across_addresses_are_throttled(client, alice, bob, settings):
    settings.SELLERDESK_SIGNIN_MAX_FAILURES_PER_IP = 4
    for n in range(4):
        sign_in(client, f"nobody{n}@acme.test", "guess")
    response = sign_in(client, "bob@acme.test")
    assert "Too many failed attempts" in response.content.decode()


def test_a_successful_sign_in_and_sign_out_are_audited(client, alice):
    sign_in(client, "alice@acme.test")
    client.post(reverse("accounts:logout"))
    actions = list(AuditEvent.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions[-2:] == ["sign_in", "sign_out"]


def test_sign_out_is_post_only(client, alice):
    client.force_login(alice)
    assert client.get(reverse("accounts:logout")).status_code == 405


def test_an_inactive_user_cannot_sign_in(client, alice):
    from sellerdesk.accounts.services import user_set_active

    user_set_active(user=alice, active=False)
    assert sign_in(client, "alice@acme.test").status_code == 400


def test_staff_with_a_device_need_the_code_before_the_session_starts(client, agent):
    device = TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    response = sign_in(client, "agent@desk.test")
    assert response["Location"] == reverse("accounts:two_factor_verify")
    assert "_auth_user_id" not in client.session
    assert client.get("/desk/").status_code == 302  # not signed in yet
    response = client.post(reverse("accounts:two_factor_verify"), {"token": "000000"})
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action="two_factor_failed").exists()
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    response = client.post(reverse("accounts:two_factor_verify"), {"token": code_for(device)})
    assert response.status_code == 302
    assert client.get("/desk/").status_code == 200
    assert AuditEvent.objects.filter(action="sign_in", detail__two_factor=True).exists()


def test_when_required_staff_enrol_before_reaching_the_desk(client, agent, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = True
    sign_in(client, "agent@desk.test")
    response = client.get("/desk/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:two_factor_setup")
    page = client.get(reverse("accounts:two_factor_setup"))
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=agent)
    assert not device.confirmed
    response = client.post(reverse("accounts:two_factor_setup"), {"token": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/desk/").status_code == 200
    assert AuditEvent.objects.filter(action="two_factor_enabled", target=agent.email).exists()


def test_merchant_users_are_not_asked_for_two_factor(client, alice, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = True
    sign_in(client, "alice@acme.test")
    assert client.get("/merchant/").status_code == 200


def test_password_reset_by_email_sets_a_new_password(client, alice):
    response = client.post(reverse("accounts:password_reset"), {"email": "alice@acme.test"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/\S+/)", mail.outbox[0].body)[1]
    form = client.get(link, follow=True)
    assert form.status_code == 200
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a fresh long secret", "new_password2": "a fresh long secret"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a fresh long secret")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"password_reset_requested", "password_changed"} <= actions


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post(reverse("accounts:password_reset"), {"email": "who@nowhere.test"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_createagent_makes_staff_in_teams(db):
    out = StringIO()
    call_command(
        "createagent",
        "Lead@Desk.test",
        "--password",
        "a long enough secret",
        "--team",
        "EU team",
        "--team",
        "TR team",
        "--role",
        "lead",
        stdout=out,
    )
    user = User.objects.get(email="lead@desk.test")
    assert user.role == Role.LEAD
    assert sorted(user.teams.values_list("name", flat=True)) == ["EU team", "TR team"]
    assert user.check_password("a long enough secret")
    assert "Created lead lead@desk.test" in out.getvalue()
    with pytest.raises(CommandError, match="exists"):
        call_command("createagent", "lead@desk.test", "--password", "another long one")


def test_createagent_refuses_a_weak_password(db):
    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command("createagent", "a@desk.test", "--password", "123")


def test_createmerchantuser_needs_a_known_merchant(acme):
    out = StringIO()
    call_command(
        "createmerchantuser",
        "new@acme.test",
        "--merchant",
        "m-acme",
        "--password",
        "a long enough secret",
        stdout=out,
    )
    user = User.objects.get(email="new@acme.test")
    assert user.merchant == acme
    assert user.role == Role.MERCHANT
    with pytest.raises(CommandError, match="no merchant"):
        call_command("createmerchantuser", "x@y.test", "--merchant", "nope", "--password", "p")
    assert AuditEvent.objects.filter(action="user_created", target="new@acme.test").exists()


def test_a_merchant_user_always_has_a_merchant_and_staff_never(db, acme):
    from sellerdesk.accounts.services import user_create
    from sellerdesk.core.errors import ValidationError

    with pytest.raises(ValidationError):
        user_create(email="m@x.test", password=PASSWORD, role="merchant")
    with pytest.raises(ValidationError):
        user_create(email="s@x.test", password=PASSWORD, role="agent", merchant=acme)


def test_only_admins_reach_the_admin_pages(client_for, admin_user, lead):
    assert client_for(admin_user).get("/admin/").status_code == 200
    assert client_for(lead).get("/admin/").status_code == 302
