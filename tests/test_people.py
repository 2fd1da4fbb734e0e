"""The admins' People page: roles, teams, invitations, deactivation, all in the audit log."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from sellerdesk.accounts.models import AuditEvent, Team, User
from sellerdesk.outbox import delivery


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def test_the_page_lists_staff_merchant_users_and_the_audit_log(admin_client, agent, alice):
    page = admin_client.get(reverse("desk:people"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "agent@desk.test" in text
    assert "alice@acme.test" in text
    assert "User created" in text


@pytest.mark.parametrize("who", ["agent", "lead", "alice"])
def test_only_admins_reach_it(client_for, request, who):
    person = request.getfixturevalue(who)
    assert client_for(person).get(reverse("desk:people")).status_code == 403
    response = client_for(person).post(reverse("desk:team_add"), {"name": "Sneaky"})
    assert response.status_code == 403
    assert not Team.objects.filter(name="Sneaky").exists()


def test_adding_a_person_sends_a_link_to_choose_a_password(admin_client, admin_user, eu_team):
    response = admin_client.post(
        reverse("desk:person_add"),
        {"email": "New@Desk.test", "full_name": "Nur", "role": "agent", "teams": [eu_team.pk]},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@desk.test")
    assert not user.has_usable_password()
    assert list(user.teams.all()) == [eu_team]
    assert mail.outbox == []  # queued with the user, sent by the worker
    delivery.deliver_due()
    assert mail.outbox[0].to == ["new@desk.test"]
    assert "/accounts/password-reset/" in mail.outbox[0].body
    event = AuditEvent.objects.get(action="user_created", target="new@desk.test")
    assert event.actor == admin_user


def test_a_merchant_user_needs_a_known_merchant(admin_client, acme):
    admin_client.post(
        reverse("desk:person_add"),
        {"email": "x@acme.test", "role": "merchant", "merchant": "unknown"},
    )
    assert not User.objects.filter(email="x@acme.test").exists()
    admin_client.post(
        reverse("desk:person_add"),
        {"email": "x@acme.test", "role": "merchant", "merchant": "m-acme"},
    )
    assert User.objects.get(email="x@acme.test").merchant == acme


def test_role_team_and_access_changes_are_audited(admin_client, admin_user, agent, cn_team):
    admin_client.post(reverse("desk:person_role", args=[agent.pk]), {"role": "lead"})
    admin_client.post(
        reverse("desk:person_team", args=[agent.pk]), {"team": cn_team.pk, "member": "1"}
    )
    admin_client.post(reverse("desk:person_active", args=[agent.pk]), {"active": "0"})
    agent.refresh_from_db()
    assert agent.role == "lead"
    assert cn_team in agent.teams.all()
    assert not agent.is_active
    actions = list(
        AuditEvent.objects.filter(actor=admin_user).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["user_changed", "team_changed", "user_changed"]


def test_an_admin_cannot_lock_themselves_out(admin_client, admin_user):
    admin_client.post(reverse("desk:person_active", args=[admin_user.pk]), {"active": "0"})
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_a_merchant_user_cannot_be_given_a_staff_role(admin_client, alice):
    admin_client.post(reverse("desk:person_role", args=[alice.pk]), {"role": "admin"})
    alice.refresh_from_db()
    assert alice.role == "merchant"


def test_teams_are_added(admin_client):
    admin_client.post(reverse("desk:team_add"), {"name": "KR team", "languages": "ko,en"})
    assert Team.objects.get(name="KR team").languages == "ko,en"


def test_a_name_longer_than_its_column_is_refused(admin_client):
    admin_client.post(
        reverse("desk:person_add"),
        {"email": "long@desk.test", "full_name": "N" * 201, "role": "agent"},
    )
    assert not User.objects.filter(email="long@desk.test").exists()
