"""Secrets never reach a log line or the audit trail.

Passwords (right and wrong), API keys (valid, revoked, mistyped), webhook secrets and the
signatures made with them, and password-reset links go through the paths that log or audit:
sign-in and its failures, the API's authentication and its refusals, webhook delivery with
retries. Every log record of every logger, at every level, and every audit event's detail are
searched for them.
"""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.api import webhooks
from sellerdesk.conversations import workflow
from sellerdesk.outbox import delivery
from tests.api_support import ApiClient
from tests.test_webhooks import Receiver

PASSWORD = "Correct-Horse-Battery-7"
WRONG_PASSWORD = "Wr0ng-Horse-Battery-8"


@pytest.fixture(autouse=True)
def _everything_logged(caplog):
    cache.clear()
    caplog.set_level(logging.DEBUG)
    return caplog


def _leaks(caplog, secrets: list[str]) -> list[str]:
    logged = [caplog.text]
    for record in caplog.records:
        logged.append(record.getMessage())
        logged.append(repr(record.args))
        logged.append(repr(getattr(record, "request", "")))
    logged.extend(
        json.dumps(detail) for detail in AuditEvent.objects.values_list("detail", flat=True)
    )
    logged.extend(AuditEvent.objects.values_list("target", flat=True))
    text = "\n".join(logged)
    return [secret for secret in secrets if secret in text]


def test_passwords_are_never_logged_or_audited(client, alice, caplog):
    alice.set_password(PASSWORD)
    alice.save()
    login = reverse("accounts:login")

    client.post(login, {"email": alice.email, "password": WRONG_PASSWORD})
    client.post(login, {"email": alice.email, "password": PASSWORD})

    assert AuditEvent.objects.exists()  # the paths ran, and wrote their trail
    assert _leaks(caplog, [PASSWORD, WRONG_PASSWORD]) == []


def test_password_reset_links_are_mailed_never_logged(client, alice, caplog):
    client.post(reverse("accounts:password_reset"), {"email": alice.email})

    (message,) = mail.outbox
    link = next(word for word in message.body.split() if "/password-reset/" in word)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert _leaks(caplog, [link, token]) == []


def test_api_keys_are_never_logged_or_audited(acme, caplog):
    out = StringIO()
    call_command("apikey", "create", "--name", "sync", "--scope", "write", stdout=out)
    key = out.getvalue().rstrip("\n").rsplit("\n", 1)[-1]
    mistyped = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert ApiClient(key).get("/api/v1/tags").status_code == 200
    assert ApiClient(mistyped).get("/api/v1/tags").status_code == 401
    call_command("apikey", "revoke", key[:8], stdout=StringIO())
    assert ApiClient(key).get("/api/v1/tags").status_code == 401

    assert _leaks(caplog, [key, mistyped]) == []


def test_webhook_secrets_and_signatures_are_never_logged(alice, caplog):
    with Receiver([500]) as receiver:
        _, secret = webhooks.webhook_subscribe(url=receiver.url, events=["conversation.created"])
        workflow.merchant_conversation_open(
            user=alice, kind="question", subject="Payout", body="When is my payout?"
        )
        assert delivery.deliver_due().retried == 1
    headers = receiver.received[0][0]
    signature = headers["Webhook-Signature"].removeprefix("v1=")

    assert _leaks(caplog, [secret, secret.removeprefix("whsec_"), signature]) == []
