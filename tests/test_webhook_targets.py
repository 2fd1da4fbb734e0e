"""Webhook SSRF protection (api.targets): a URL that is, or resolves to, a loopback, private,
link-local (cloud metadata) or otherwise non-public address is refused when subscribing and
again at every delivery, which connects to the address it checked (DNS rebinding); https is
required in production unless a setting allows http. DNS is patched at one seam:
``socket.getaddrinfo``."""

from __future__ import annotations

import socket

import pytest
from django.core.cache import cache

from sellerdesk.api import webhooks
from sellerdesk.conversations import workflow
from sellerdesk.core.errors import ValidationError
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem, OutboxStatus
from tests.api_support import assert_problem, make_world
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"


@pytest.fixture
def strict(settings):
    """Production's rule: private targets refused."""
    settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE = False
    return settings


@pytest.fixture
def dns(monkeypatch):
    """``dns["host"] = "address"``: what the host resolves to from now on."""
    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (table[host], port))]
        if host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/h",
        "https://127.8.9.10/h",
        "https://[::1]/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://10.0.0.5/h",
        "https://172.16.3.4/h",
        "https://192.168.1.1/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/h",
        "https://[2002:7f00:1::]/h",  # 6to4 carrying 127.0.0.1
        "https://[2002:a9fe:a9fe::]/latest/meta-data/",  # 6to4 carrying 169.254.169.254
        "https://0.0.0.0/h",
        "https://100.64.0.1/h",
        "https://224.0.0.1/h",
    ],
)
def test_literal_non_public_addresses_are_refused(strict, url):
    assert "public addresses" in webhooks.url_problem(url)


def test_a_6to4_address_is_judged_by_the_address_it_carries(strict):
    assert "6to4 address carrying 127.0.0.1" in webhooks.url_problem("https://[2002:7f00:1::]/h")
    assert webhooks.url_problem("https://[2002:808:808::]/h") == ""  # carries 8.8.8.8


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1", "192.168.0.7"]
)
def test_a_name_that_resolves_to_a_non_public_address_is_refused(strict, dns, address):
    dns["hooks.example.test"] = address
    problem = webhooks.url_problem("https://hooks.example.test/in")
    assert f"resolves to {address}" in problem
    with pytest.raises(ValidationError, match="public addresses"):
        webhooks.webhook_subscribe(url="https://hooks.example.test/in", events=["sla.breached"])


def test_a_public_name_is_accepted(strict, dns):
    dns["hooks.example.test"] = PUBLIC
    assert webhooks.url_problem("https://hooks.example.test/in") == ""


def test_a_name_that_does_not_resolve_is_refused(strict, dns):
    assert "does not resolve" in webhooks.url_problem("https://nowhere.test/in")


def test_development_allows_private_targets_by_default(settings):
    assert settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE is True
    assert webhooks.url_problem("https://10.0.0.5/h") == ""
    assert webhooks.url_problem("http://127.0.0.1:9000/h") == ""


def test_production_requires_https_unless_http_is_allowed(strict, dns):
    strict.PRODUCTION = True
    dns["hooks.example.test"] = PUBLIC
    assert "must be https" in webhooks.url_problem("http://hooks.example.test/in")
    assert "must be https" in webhooks.url_problem("http://localhost/in")
    strict.SELLERDESK_WEBHOOK_ALLOW_HTTP = True
    assert webhooks.url_problem("http://hooks.example.test/in") == ""
    # Allowing http does not allow private targets.
    assert "public addresses" in webhooks.url_problem("http://127.0.0.1/in")


def _filed(alice):
    return workflow.merchant_conversation_open(
        user=alice, kind="question", subject="Hello", body="A question"
    )


def test_delivery_connects_to_the_address_it_resolved(settings, dns, alice):
    settings.SELLERDESK_WEBHOOK_ALLOW_HTTP = True
    dns["hooks.example.test"] = "127.0.0.1"  # allowed: development's default
    with Receiver([]) as receiver:
        url = f"http://hooks.example.test:{receiver.port}/in"
        webhooks.webhook_subscribe(url=url, events=["conversation.created"])
        _filed(alice)
        assert delivery.deliver_due().delivered == 1
    assert [headers["Host"] for headers, _ in receiver.received] == [
        f"hooks.example.test:{receiver.port}"
    ]


def test_dns_rebinding_is_refused_at_delivery_and_nothing_is_sent(strict, dns, alice, monkeypatch):
    dns["hooks.example.test"] = PUBLIC
    webhooks.webhook_subscribe(url="https://hooks.example.test/in", events=["conversation.created"])
    _filed(alice)
    dns["hooks.example.test"] = "169.254.169.254"  # the name now points at the metadata service
    connected = []
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: connected.append(args))
    assert delivery.deliver_due().retried == 1
    item = OutboxItem.objects.get(kind="webhook")
    assert item.status == OutboxStatus.PENDING
    assert "resolves to 169.254.169.254" in item.last_error
    assert connected == []


def test_a_subscription_made_under_looser_rules_is_refused_at_delivery(settings, alice):
    webhooks.webhook_subscribe(url="https://10.0.0.5/in", events=["conversation.created"])
    settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE = False
    _filed(alice)
    assert delivery.deliver_due().retried == 1
    assert "private address" in OutboxItem.objects.get(kind="webhook").last_error


def test_the_api_refuses_a_metadata_url_with_a_problem(strict, acme, globex):
    cache.clear()
    world = make_world(acme, globex)
    response = world.client("write").post(
        "/api/v1/webhooks",
        {"url": "https://169.254.169.254/latest/meta-data/", "events": ["sla.breached"]},
    )
    body = assert_problem(response, 422)
    assert "public addresses" in body["detail"]
