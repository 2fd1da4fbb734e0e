"""The REST API's endpoints, each on its happy path, and what a merchant's key may not do."""

from __future__ import annotations

import json
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from sellerdesk.accounts.models import Merchant, User
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Activity, Conversation, Message
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem
from tests.api_support import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_rate_counts")


def _body(response):
    assert response["Content-Type"] == "application/json", response.content
    return json.loads(response.content)


# --- Merchants -------------------------------------------------------------------------------


def test_put_creates_a_merchant_then_updates_it(world):
    client = world.client("write")
    created = client.put(
        "/api/v1/merchants/m-anka",
        {"country": "tr", "name": "Anka Tekstil", "language": "tr", "status": "potential"},
    )
    assert created.status_code == 201
    assert _body(created)["id"] == "m-anka"
    assert _body(created)["country"] == "TR"
    assert _body(created)["status"] == "potential"

    updated = client.put("/api/v1/merchants/m-anka", {"country": "DE", "name": "Anka GmbH"})
    assert updated.status_code == 200
    merchant = Merchant.objects.get(external_id="m-anka")
    assert (merchant.country, merchant.name, merchant.status) == ("DE", "Anka GmbH", "active")

    shown = world.client("read").get("/api/v1/merchants/m-anka")
    assert shown.status_code == 200
    assert _body(shown)["name"] == "Anka GmbH"


def test_a_merchant_with_an_unassigned_country_is_refused(world):
    response = world.client("write").put("/api/v1/merchants/m-x", {"country": "XX"})
    assert_problem(response, 422)
    assert not Merchant.objects.filter(external_id="m-x").exists()


def test_merchant_users_are_created_without_a_password_and_invited(world, acme):
    response = world.client("write").post(
        "/api/v1/merchants/m-acme/users", {"email": "Cem@Acme.test", "full_name": "Cem Can"}
    )
    assert response.status_code == 201
    delivery.deliver_due()
    assert _body(response)["email"] == "cem@acme.test"
    assert _body(response)["password_set"] is False
    user = User.objects.get(email="cem@acme.test")
    assert user.merchant == acme
    assert not user.has_usable_password()
    assert [m.to for m in mail.outbox] == [["cem@acme.test"]]
    assert "/accounts/password-reset/" in mail.outbox[0].body

    listed = world.client("acme_read").get("/api/v1/merchants/m-acme/users")
    assert listed.status_code == 200
    assert [u["email"] for u in _body(listed)["items"]] == ["cem@acme.test"]


def test_a_mail_server_away_neither_fails_the_request_nor_loses_the_invitation(
    world, acme, settings
):
    settings.EMAIL_BACKEND = "tests.test_api_endpoints.AwayBackend"
    response = world.client("write").post(
        "/api/v1/merchants/m-acme/users", {"email": "cem@acme.test"}
    )
    assert response.status_code == 201
    assert delivery.deliver_due().retried == 1
    item = OutboxItem.objects.get(key__startswith="invite:")
    assert item.status == "pending"
    assert "mail server away" in item.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    item.next_attempt_at = item.created_at
    item.save(update_fields=["next_attempt_at"])
    delivery.deliver_due()
    assert [m.to for m in mail.outbox] == [["cem@acme.test"]]


class AwayBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("mail server away")


def test_an_address_that_lower_casing_lengthens_past_the_column_is_refused(world, acme):
    # 231 characters as sent; "İ" is two in lower case: 257, over the column's 254.
    email = "x" * 200 + "@" + "\u0130" * 26 + ".com"
    response = world.client("write").post("/api/v1/merchants/m-acme/users", {"email": email})
    assert "at most 254 characters" in assert_problem(response, 422)["detail"]
    assert not User.objects.filter(merchant=acme).exists()


def test_a_user_address_already_taken_is_a_conflict(world, alice):
    response = world.client("write").post(
        "/api/v1/merchants/m-acme/users", {"email": "alice@acme.test"}
    )
    assert_problem(response, 409)


# --- Conversations ---------------------------------------------------------------------------


def test_a_key_of_no_merchant_files_a_conversation_with_tags(world, acme, agent):
    response = world.client("write").post(
        "/api/v1/conversations",
        {
            "merchant_id": "m-acme",
            "kind": "complaint",
            "subject": "Ödeme gecikti",
            "body": "Ödemem gelmedi.",
            "order_ref": "ORD-9",
            "tags": ["Payment Delay", "payout"],
            "actor_email": "agent@desk.test",
            "author_name": "Alice at Acme",
        },
    )
    assert response.status_code == 201, response.content
    data = _body(response)
    assert response["Location"] == f"/api/v1/conversations/{data['id']}"
    assert data["channel"] == "api"
    assert data["kind"] == "complaint"
    assert data["status"] == "new"
    assert data["order_ref"] == "ORD-9"
    assert data["tags"] == ["payment delay", "payout"]
    assert data["counts"] == {"messages": 1, "notes": 0, "attachments": 0}
    assert data["merchant"] == {"id": "m-acme", "name": "Acme Tekstil", "country": "TR"}
    conversation = Conversation.objects.get(pk=data["id"])
    message = conversation.messages.get()
    assert (message.author_type, message.author_name) == ("merchant", "Alice at Acme")
    trail = list(Activity.objects.filter(conversation=conversation).order_by("id"))
    assert [a.verb for a in trail] == ["opened", "tag_added", "tag_added"]
    assert trail[1].actor == agent


def test_a_merchants_key_files_for_its_merchant_without_naming_it(world, acme):
    response = world.client("acme_write").post(
        "/api/v1/conversations", {"body": "Where is my payout?"}
    )
    assert response.status_code == 201
    assert _body(response)["merchant"]["id"] == "m-acme"
    assert _body(response)["kind"] == "question"


def test_a_key_of_no_merchant_must_name_an_existing_merchant(world):
    client = world.client("write")
    missing = assert_problem(client.post("/api/v1/conversations", {"body": "Hi"}), 422)
    assert missing["errors"] == [
        {"detail": "name the merchant the conversation is filed for", "pointer": "#/merchant_id"}
    ]
    unknown = client.post("/api/v1/conversations", {"merchant_id": "m-none", "body": "Hi"})
    assert_problem(unknown, 422)


def test_get_shows_tags_counts_and_the_assignee(world, acme_conversation, agent):
    workflow.conversation_assign(conversation=acme_conversation, assignee=agent, actor=agent)
    workflow.conversation_add_tag(conversation=acme_conversation, name="Payout", actor=agent)
    workflow.reply_post(conversation=acme_conversation, author=agent, body="Note", public=False)
    url = f"/api/v1/conversations/{acme_conversation.pk}"

    data = _body(world.client("read").get(url))
    assert data["assignee"] == "agent@desk.test"
    assert data["tags"] == ["payout"]
    assert data["counts"] == {"messages": 1, "notes": 1, "attachments": 0}

    mine = _body(world.client("acme_read").get(url))
    assert mine["assignee"] is None
    assert mine["counts"] == {"messages": 1, "notes": None, "attachments": 0}


def test_patch_changes_each_field_through_the_workflow(world, acme_conversation, agent, lead):
    url = f"/api/v1/conversations/{acme_conversation.pk}"
    response = world.client("write").patch(
        url,
        {
            "status": "pending",
            "assignee_email": "agent@desk.test",
            "kind": "request",
            "outcome": "upheld",
            "priority": "high",
            "tags": ["refund", "Payout"],
            "actor_email": "lead@desk.test",
        },
    )
    assert response.status_code == 200, response.content
    data = _body(response)
    assert (data["status"], data["assignee"], data["kind"]) == ("pending", agent.email, "request")
    assert (data["outcome"], data["priority"]) == ("upheld", "high")
    assert data["tags"] == ["payout", "refund"]
    assert data["merchant_due_at"] is not None
    verbs = set(
        Activity.objects.filter(conversation=acme_conversation, actor=lead).values_list(
            "verb", flat=True
        )
    )
    assert {"status", "assigned", "kind", "outcome", "priority", "tag_added"} <= verbs

    # The tags are the whole set; null unassigns and undecides.
    response = world.client("write").patch(
        url,
        {"tags": ["refund"], "assignee_email": None, "outcome": None, "actor_email": lead.email},
    )
    data = _body(response)
    assert (data["tags"], data["assignee"], data["outcome"]) == (["refund"], None, None)


def test_an_outcome_needs_a_person(world, acme_conversation):
    url = f"/api/v1/conversations/{acme_conversation.pk}"
    body = assert_problem(world.client("write").patch(url, {"outcome": "rejected"}), 422)
    assert body["errors"][0]["pointer"] == "#/actor_email"
    acme_conversation.refresh_from_db()
    assert acme_conversation.outcome is None


def test_a_patch_is_all_or_nothing(world, acme_conversation):
    url = f"/api/v1/conversations/{acme_conversation.pk}"
    response = world.client("write").patch(
        url, {"priority": "urgent", "assignee_email": "nobody@desk.test"}
    )
    assert_problem(response, 422)
    acme_conversation.refresh_from_db()
    assert acme_conversation.priority == "normal"


def test_a_merchants_key_may_only_mark_solved(world, acme_conversation):
    url = f"/api/v1/conversations/{acme_conversation.pk}"
    client = world.client("acme_write")
    for body in (
        {"outcome": "upheld"},
        {"assignee_email": "agent@desk.test"},
        {"tags": ["x"]},
        {"priority": "urgent"},
        {"kind": "question"},
        {"status": "closed"},
    ):
        assert_problem(client.patch(url, body), 403)
    assert_problem(client.patch(url, {"status": "solved", "actor_email": "agent@desk.test"}), 422)
    response = client.patch(url, {"status": "solved"})
    assert response.status_code == 200
    assert _body(response)["status"] == "solved"
    assert _body(response)["outcome"] is None


def test_a_merchants_key_cannot_set_tags_or_file_for_another_merchant(world, globex):
    client = world.client("acme_write")
    tagged = client.post("/api/v1/conversations", {"body": "Hi", "tags": ["x"]})
    assert_problem(tagged, 403)
    other = client.post("/api/v1/conversations", {"body": "Hi", "merchant_id": "m-globex"})
    assert_problem(other, 403)
    assert not Conversation.objects.exists()


def test_list_filters_and_pages_with_a_next_link(world, acme, globex, agent):
    made = []
    for number in range(5):
        conversation = workflow.integration_conversation_open(
            merchant=acme if number % 2 == 0 else globex,
            kind="complaint" if number < 3 else "question",
            subject=f"#{number}",
            body="Hello",
        )
        made.append(conversation)
    workflow.conversation_add_tag(conversation=made[0], name="payout", actor=agent)
    client = world.client("read")

    first = _body(client.get("/api/v1/conversations", limit=2))
    assert [c["subject"] for c in first["items"]] == ["#4", "#3"]
    assert first["next"].startswith("http://testserver/api/v1/conversations?")
    second = _body(client.get(first["next"]))
    third = _body(client.get(second["next"]))
    assert [c["subject"] for c in second["items"] + third["items"]] == ["#2", "#1", "#0"]
    assert third["next"] is None

    def subjects(**query):
        return [c["subject"] for c in _body(client.get("/api/v1/conversations", **query))["items"]]

    assert subjects(kind="complaint") == ["#2", "#1", "#0"]
    assert subjects(merchant="m-globex") == ["#3", "#1"]
    assert subjects(tag="PAYOUT") == ["#0"]
    assert subjects(status="new", kind="question") == ["#4", "#3"]
    assert subjects(status="solved") == []
    # Updated since: by the last change, oldest first.
    since = made[2].updated_at.isoformat()
    workflow.conversation_change_priority(conversation=made[1], priority="high", actor=agent)
    assert subjects(updated_since=since) == ["#2", "#3", "#4", "#0", "#1"]
    # A merchant's key lists its own merchant's only.
    mine = _body(world.client("acme_read").get("/api/v1/conversations"))
    assert [c["subject"] for c in mine["items"]] == ["#4", "#2", "#0"]


def test_a_page_costs_the_same_queries_whatever_its_size(
    world, acme, agent, django_assert_max_num_queries
):
    for number in range(30):
        conversation = workflow.integration_conversation_open(
            merchant=acme, kind="question", subject=f"#{number}", body="Hello"
        )
        workflow.conversation_add_tag(conversation=conversation, name=f"t{number}", actor=agent)
        workflow.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    client = world.client("read")
    client.get("/api/v1/conversations", limit=1)  # the key's last use is written once a minute
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/conversations", limit=100)
    assert len(_body(response)["items"]) == 30


# --- Messages --------------------------------------------------------------------------------


def test_a_merchants_key_replies_as_the_merchant_and_reopens(world, acme_conversation, agent):
    workflow.conversation_change_status(
        conversation=acme_conversation, status="pending", actor=agent
    )
    url = f"/api/v1/conversations/{acme_conversation.pk}/messages"
    response = world.client("acme_write").post(url, {"body": "Here is the receipt."})
    assert response.status_code == 201
    assert _body(response)["author_type"] == "merchant"
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "open"
    assert acme_conversation.merchant_due_at is None


def test_a_merchants_key_writes_no_notes(world, acme_conversation):
    url = f"/api/v1/conversations/{acme_conversation.pk}/messages"
    response = world.client("acme_write").post(url, {"body": "secret", "public": False})
    assert_problem(response, 403)
    assert not Message.objects.filter(body="secret").exists()


def test_an_unscoped_key_writes_as_the_named_staff_member(world, acme_conversation, agent):
    url = f"/api/v1/conversations/{acme_conversation.pk}/messages"
    client = world.client("write")
    assert_problem(client.post(url, {"body": "Hi"}), 422)
    assert_problem(client.post(url, {"body": "Hi", "author_email": "alice@acme.test"}), 422)

    note = client.post(url, {"body": "Finance?", "public": False, "author_email": agent.email})
    assert note.status_code == 201
    reply = client.post(url, {"body": "Paid.", "author_email": agent.email, "status": "solved"})
    assert _body(reply)["author_type"] == "agent"
    assert _body(reply)["author_name"] == "Ada Agent"
    acme_conversation.refresh_from_db()
    assert acme_conversation.status == "solved"
    assert acme_conversation.first_response_at is not None

    everything = _body(client.get(url))["items"]
    assert [m["public"] for m in everything] == [True, False, True]
    public = _body(world.client("acme_read").get(url))["items"]
    assert [m["body"] for m in public] == [
        "Siparişimin ödemesi 10 gündür gelmedi.",
        "Paid.",
    ]


# --- Tags and reports ------------------------------------------------------------------------


def test_tags_by_prefix(world, acme_conversation, agent):
    for name in ("Payout delay", "payment_delay", "refund"):
        workflow.conversation_add_tag(conversation=acme_conversation, name=name, actor=agent)
    data = _body(world.client("read").get("/api/v1/tags", prefix="PAY"))
    assert [t["name"] for t in data["items"]] == ["payment_delay", "payout delay"]
    assert data["items"][1]["display_name"] == "Payout delay"


def test_a_merchants_key_lists_only_the_tags_on_its_conversations(
    world, acme_conversation, globex_conversation, agent
):
    workflow.conversation_add_tag(conversation=acme_conversation, name="payout", actor=agent)
    workflow.conversation_add_tag(
        conversation=globex_conversation, name="payout fraud suspected", actor=agent
    )
    names = {t["name"] for t in _body(world.client("acme_read").get("/api/v1/tags"))["items"]}
    assert names == {"payout"}
    found = _body(world.client("acme_read").get("/api/v1/tags", prefix="fraud"))["items"]
    assert found == []
    # A key of no merchant sees every tag.
    found = _body(world.client("read").get("/api/v1/tags", prefix="pay"))["items"]
    assert [t["name"] for t in found] == ["payout", "payout fraud suspected"]


def test_a_tag_that_normalization_lengthens_past_the_column_is_refused(world, acme):
    # U+FDFA is one character, 18 in NFKC: 12 of them fit the limit typed, not stored.
    response = world.client("write").post(
        "/api/v1/conversations",
        {"merchant_id": "m-acme", "body": "x", "tags": ["\ufdfa" * 12]},
    )
    assert "once normalized" in assert_problem(response, 422)["detail"]
    assert not Conversation.objects.exists()


def test_the_report_is_report_md_json(world, acme_conversation):
    response = world.client("reports").post(
        "/api/v1/reports",
        {
            "from": "2000-01-01",
            "to": "2100-01-01",
            "as_of": "2099-01-01T00:00:00Z",
            "config": {
                "timezone": "Europe/Istanbul",
                "top": 3,
                "segment": [
                    {"name": "TR", "countries": ["TR"]},
                    {"name": "EU", "countries": ["EU"]},
                ],
            },
        },
    )
    assert response.status_code == 200, response.content
    data = _body(response)
    assert data["schema"] == "sellerdesk.report/v1"
    assert data["period"]["start"] == "2000-01-01T00:00:00+02:00"
    assert [(s["name"], s["conversations"]) for s in data["segments"]] == [("TR", 1), ("EU", 0)]
    assert data["segments"][0]["complaints"]["count"] == 1


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"top": 0}, "top must be a whole number"),
        ({"timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"segment": [{"name": "X", "countries": ["XX"]}]}, "is not an ISO 3166-1"),
        ({"colour": "red"}, "unknown setting 'colour'"),
    ],
)
def test_a_report_config_error_is_a_problem_naming_the_reason(world, config, reason):
    response = world.client("reports").post(
        "/api/v1/reports", {"from": "2022-01-01", "to": "2023-01-01", "config": config}
    )
    assert reason in assert_problem(response, 422)["detail"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # Midnight of 0001-01-01 in Tokyo is before year 1 in UTC.
        ({"from": "0001-01-01", "to": "2025-01-01"}, "period start: '0001-01-01' in Asia/Tokyo"),
        ({"from": "2024-01-01", "to": "2025-01-01", "as_of": "0001-01-01"}, "as_of: "),
        # Valid in UTC, but the report writes each instant in its zone, past 9999 there.
        (
            {"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:00:00Z"},
            "period end: outside the years 1 to 9999 in the report's time zone (Asia/Tokyo)",
        ),
    ],
)
def test_a_report_instant_outside_the_calendar_is_a_problem_not_a_500(world, body, reason):
    body = {**body, "config": {"timezone": "Asia/Tokyo"}}
    response = world.client("reports").post("/api/v1/reports", body)
    assert reason in assert_problem(response, 422)["detail"]


def test_a_report_period_that_ends_before_it_starts_is_refused(world):
    response = world.client("reports").post(
        "/api/v1/reports", {"from": "2023-01-01", "to": "2022-01-01"}
    )
    assert "end must be after its start" in assert_problem(response, 422)["detail"]
