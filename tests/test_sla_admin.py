"""Admins configure business hours and SLA policies in the admin; failed outbox items can be
sent again from there."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from sellerdesk.outbox.models import OutboxItem
from sellerdesk.outbox.services import email_enqueue
from sellerdesk.sla.models import BusinessHours, SlaPolicy


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def test_business_hours_are_checked_before_they_are_saved(admin_client):
    url = reverse("admin:sla_businesshours_add")
    response = admin_client.post(
        url,
        {
            "name": "EU",
            "zone": "Europe/Berlin",
            "week": '{"mon": ["18:00-09:00"]}',
            "holidays": "[]",
        },
    )
    assert response.status_code == 200
    assert "crosses midnight" in response.content.decode() or "24:00" in response.content.decode()
    assert not BusinessHours.objects.exists()
    response = admin_client.post(
        url,
        {
            "name": "EU",
            "zone": "Europe/Berlin",
            "week": '{"mon": ["09:00-18:00"], "fri": ["09:00-15:00"]}',
            "holidays": '["2027-12-25"]',
        },
    )
    assert response.status_code == 302
    assert BusinessHours.objects.get().calendar().zone.key == "Europe/Berlin"


def test_a_policy_is_added_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:sla_slapolicy_add"),
        {
            "name": "Complaints",
            "position": "1",
            "active": "on",
            "segments": '["EU"]',
            "kinds": '["complaint"]',
            "priorities": "[]",
            "channels": "[]",
            "first_response_minutes": "60",
            "next_response_minutes": "",
            "resolution_minutes": "1440",
            "business_hours": "on",
        },
    )
    assert response.status_code == 302
    assert SlaPolicy.objects.get().kinds == ["complaint"]


def test_agents_and_leads_cannot_configure_them(client_for, lead):
    assert client_for(lead).get(reverse("admin:sla_slapolicy_add")).status_code == 302
    assert not SlaPolicy.objects.exists()


def test_a_failed_item_is_sent_again_from_the_admin(admin_client):
    with transaction.atomic():
        email_enqueue(key="k", to=["m@x.test"], subject="s", body="b")
    OutboxItem.objects.update(status="failed", attempts=10, last_error="550 no such user")
    response = admin_client.post(
        reverse("admin:outbox_outboxitem_changelist"),
        {"action": "send_again", "_selected_action": [OutboxItem.objects.get().pk]},
    )
    assert response.status_code == 302
    assert OutboxItem.objects.get().status == "pending"
