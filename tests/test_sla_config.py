"""The per-process copy of SLA policies, business hours and webhook subscriptions
(``sla.config``): every write to those tables — through a model, a queryset update, raw SQL or
another process — moves the database's configuration generation, and the next read sees it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from sellerdesk.api import webhooks
from sellerdesk.api.models import WebhookSubscription
from sellerdesk.conversations import workflow
from sellerdesk.outbox.models import OutboxItem
from sellerdesk.sla import config
from sellerdesk.sla.models import BusinessHours, SlaPolicy

pytestmark = pytest.mark.django_db


def _generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM sla_configgeneration WHERE id = 1")
        return int(cursor.fetchone()[0])


def _subscription(**fields):
    return WebhookSubscription.objects.create(
        url="https://hooks.example.com/in",
        events=["conversation.created"],
        secret="whsec_x",
        created_at=timezone.now(),
        **fields,
    )


@pytest.mark.parametrize("table", ["sla_slapolicy", "sla_businesshours", "api_webhooksubscription"])
def test_every_change_of_a_copied_table_moves_the_generation(table):
    # Triggers in the database (migration sla.0003): a later migration that rebuilds one of
    # these tables on SQLite would drop them; this says so.
    if table == "sla_slapolicy":
        row = SlaPolicy.objects.create(name="P", first_response_minutes=60)
        model = SlaPolicy
    elif table == "sla_businesshours":
        row = BusinessHours.objects.create(name="H", week={})
        model = BusinessHours
    else:
        row = _subscription()
        model = WebhookSubscription
    seen = {_generation()}
    column = "url" if model is WebhookSubscription else "name"
    model.objects.filter(pk=row.pk).update(**{column: "https://renamed.example.com/"})
    assert _generation() not in seen
    seen.add(_generation())
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
    assert _generation() not in seen


def test_a_policy_made_or_switched_off_by_any_means_is_seen_at_the_next_read():
    assert config.current().policies == ()
    policy = SlaPolicy.objects.create(name="P", first_response_minutes=60)
    assert [p.pk for p in config.current().policies] == [policy.pk]
    SlaPolicy.objects.filter(pk=policy.pk).update(active=False)  # no signal, no save()
    assert config.current().policies == ()


def test_the_copy_is_kept_while_nothing_changes(django_assert_num_queries):
    SlaPolicy.objects.create(name="P", first_response_minutes=60)
    first = config.current()
    with django_assert_num_queries(1):  # the generation only
        assert config.current() is first


def test_inside_reuse_the_generation_is_read_once(django_assert_num_queries):
    config.current()
    with django_assert_num_queries(1), config.reuse():
        config.current()
        config.current()


def test_a_deactivated_subscription_stops_getting_events_at_once(alice):
    subscription = _subscription()
    workflow.merchant_conversation_open(user=alice, kind="question", subject="s", body="b")
    assert OutboxItem.objects.count() == 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)
    workflow.merchant_conversation_open(user=alice, kind="question", subject="s", body="b")
    assert OutboxItem.objects.count() == 1


def test_a_subscription_made_by_another_process_is_seen(alice):
    config.current()  # this process's copy: no subscription
    with connection.cursor() as cursor:  # as another process would: no model, no signal
        cursor.execute(
            "INSERT INTO api_webhooksubscription (url, events, secret, active, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                "https://hooks.example.com/in",
                WebhookSubscription._meta.get_field("events").get_db_prep_save(
                    ["conversation.created"], connection
                ),
                "whsec_x",
                True,
                timezone.now(),
            ],
        )
    workflow.merchant_conversation_open(user=alice, kind="question", subject="s", body="b")
    (item,) = OutboxItem.objects.all()
    assert item.payload["body"]["type"] == "conversation.created"
    conversation = alice.merchant.conversations.get()
    assert webhooks.emit("message.created", conversation) == 0  # not an event it wants


def test_without_the_generation_row_nothing_is_kept(django_assert_num_queries):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sla_configgeneration")
    SlaPolicy.objects.create(name="P", first_response_minutes=60)
    config.current()
    with django_assert_num_queries(4):  # the generation, then the three tables afresh
        config.current()


def test_a_generation_read_with_other_statements_is_used_without_reading_it_again(
    django_assert_num_queries,
):
    first = config.current()  # the copy, as of now
    sql, params = config.generation_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    with django_assert_num_queries(0), config.reuse(generation_rows=rows):
        assert config.current() is first
        assert config.current() is first
    policy = SlaPolicy.objects.create(name="P", first_response_minutes=60)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        moved = cursor.fetchall()
    with config.reuse(generation_rows=moved):
        assert [p.pk for p in config.current().policies] == [policy.pk]
