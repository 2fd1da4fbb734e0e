"""The live services keep the same stored facts as the importer, whatever order events arrive
in, and a report over what they write follows report.md."""

from __future__ import annotations

import random

import pytest

from sellerdesk.conversations.models import Conversation, ConversationTagPair, Tag
from sellerdesk.conversations.services import (
    conversation_mark_spam,
    conversation_open,
    conversation_set_kind,
    conversation_set_outcome,
    conversation_set_status,
    conversation_set_tags,
    conversation_tag_add,
    conversation_tag_remove,
    merchant_upsert,
    message_add,
)
from sellerdesk.core.errors import ValidationError
from tests.builders import (
    at,
    conversation,
    import_ok,
    message,
    only_segment,
    report,
    segment,
    status,
    ts,
)

pytestmark = pytest.mark.django_db

#: One conversation's events: (author, public, seconds after filing) and (status, seconds).
MESSAGES = [
    ("merchant", True, 0),
    ("system", True, 1),
    ("agent", False, 30),
    ("agent", True, 4860),
    ("merchant", True, 5000),
    ("agent", True, 5400),
]
CHANGES = [
    ("open", 4860),
    ("solved", 6000),
    ("open", 7000),
    ("solved", 7000),  # same moment: after the reopening, so a new stretch starts at 7000
    ("pending", 8000),
    ("solved", 9000),
    ("closed", 9500),
]


def stored_facts(row: Conversation) -> dict:
    row.refresh_from_db()
    return {
        "status": row.status,
        "first_response_at": row.first_response_at,
        "first_response_seconds": row.first_response_seconds,
        "resolved_at": row.resolved_at,
        "resolution_seconds": row.resolution_seconds,
        "status_changed_at": row.status_changed_at,
        "stretches": list(
            row.resolution_stretches.order_by("started_at").values_list(
                "started_at", "ended_at", "started_seconds"
            )
        ),
        # the tag rows carry copies of the population facts the report reads
        "tags": sorted(
            row.conversation_tags.values_list("tag__name", "created_at", "country", "counted")
        ),
        "pairs": sorted(
            row.tag_pairs.values_list(
                "tag_a__name", "tag_b__name", "created_at", "country", "counted"
            )
        ),
    }


def imported_twin() -> Conversation:
    obj = conversation(
        "imported",
        merchant_id="m-acme",
        tags=["Order Cancel", "refund", "Émoji"],
        messages=[
            message(str(n), author=a, public=p, created_at=ts(s))
            for n, (a, p, s) in enumerate(MESSAGES, 1)
        ],
        status_changes=[status(value, ts(s)) for value, s in CHANGES],
    )
    import_ok(obj)
    return Conversation.objects.get(external_id="imported")


@pytest.mark.parametrize("seed", range(6))
def test_services_keep_the_importers_facts_whatever_order_events_arrive_in(acme, seed):
    expected = stored_facts(imported_twin())
    shuffle = random.Random(seed)
    live = conversation_open(merchant=acme, channel="chat", created_at=at(), external_id="live")
    # Events arrive in any order; two status changes at the same moment keep their order.
    events: list[tuple[str, list]] = [("message", [m]) for m in MESSAGES]
    for moment in sorted({seconds for _, seconds in CHANGES}):
        events.append(("status", [c for c in CHANGES if c[1] == moment]))
    shuffle.shuffle(events)
    tags = ["refund", "Émoji", "Order Cancel"]
    for kind, items in events:
        for item in items:
            if kind == "message":
                author, public, seconds = item
                message_add(
                    conversation=live,
                    author_type=author,
                    public=public,
                    body="…",
                    created_at=at(seconds),
                )
            else:
                value, seconds = item
                conversation_set_status(conversation=live, status=value, at=at(seconds))
        if tags and shuffle.random() < 0.5:
            conversation_tag_add(conversation=live, name=tags.pop())
    for name in tags:
        conversation_tag_add(conversation=live, name=name)
    assert len(expected["stretches"]) == 3
    assert stored_facts(live) == expected
    # ... and the caller's instance carries them too
    assert live.resolved_at == expected["resolved_at"]
    assert live.first_response_at == expected["first_response_at"]


def test_a_message_dated_before_the_current_first_response_becomes_the_first_response(acme):
    live = conversation_open(merchant=acme, channel="email", created_at=at(), body="Merhaba")
    message_add(conversation=live, author_type="agent", body="Later", created_at=at(3600))
    assert live.first_response_seconds == 3600.0
    message_add(
        conversation=live, author_type="agent", body="Note", public=False, created_at=at(60)
    )
    message_add(conversation=live, author_type="system", body="Auto", created_at=at(1))
    assert live.first_response_at == at(3600)
    message_add(conversation=live, author_type="agent", body="Earlier", created_at=at(600))
    live.refresh_from_db()
    assert (live.first_response_at, live.first_response_seconds) == (at(600), 600.0)
    message_add(conversation=live, author_type="agent", body="Latest", created_at=at(9000))
    live.refresh_from_db()
    assert live.first_response_at == at(600)


def test_a_reply_to_an_imported_conversation_gets_a_message_id_of_its_own(acme):
    # Imported ids need not be 1..n: the next number may already be taken.
    import_ok(
        conversation(
            "c-1",
            merchant_id="m-acme",
            messages=[message("2", author="merchant"), message("3", created_at=ts(60))],
        )
    )
    row = Conversation.objects.get(external_id="c-1")
    reply = message_add(conversation=row, author_type="agent", body="Ek bilgi", created_at=at(30))
    assert reply.external_id not in {"2", "3"}
    assert sorted(row.messages.values_list("external_id", flat=True)) == sorted(
        ["2", "3", reply.external_id]
    )
    assert (row.first_response_at, row.first_response_seconds) == (at(30), 30.0)


def test_status_changes_added_out_of_order_are_read_by_their_time(acme):
    live = conversation_open(merchant=acme, channel="chat", created_at=at())
    conversation_set_status(conversation=live, status="solved", at=at(600))
    assert (live.status, live.resolution_seconds) == ("solved", 600.0)
    conversation_set_status(conversation=live, status="open", at=at(60))  # older news
    live.refresh_from_db()
    assert (live.status, live.resolved_at, live.status_changed_at) == ("solved", at(600), at(600))
    conversation_set_status(conversation=live, status="pending", at=at(900))
    assert (live.status, live.resolved_at) == ("pending", None)
    conversation_set_status(conversation=live, status="closed", at=at(1200))
    conversation_set_status(conversation=live, status="solved", at=at(1100))  # reopened, solved
    live.refresh_from_db()
    assert (live.status, live.resolved_at, live.resolution_seconds) == ("closed", at(1100), 1100.0)
    assert list(
        live.resolution_stretches.order_by("started_at").values_list("started_at", "ended_at")
    ) == [
        (at(600), at(900)),
        (at(1100), None),
    ]


def test_services_refuse_events_dated_before_the_conversation(acme):
    live = conversation_open(merchant=acme, channel="chat", created_at=at())
    with pytest.raises(ValidationError):
        message_add(conversation=live, author_type="agent", body="x", created_at=at(-1))
    with pytest.raises(ValidationError):
        conversation_set_status(conversation=live, status="solved", at=at(-1))
    live.refresh_from_db()
    assert (live.message_seq, live.status_seq, live.status) == (0, 0, "new")


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        (conversation_set_status, {"status": "reopened"}),
        (message_add, {"author_type": "bot", "body": "x"}),
        (conversation_set_kind, {"kind": "rant"}),
        (conversation_set_outcome, {"outcome": "undecided"}),
    ],
)
def test_services_refuse_values_not_in_the_format(acme, call, kwargs):
    live = conversation_open(merchant=acme, channel="chat", created_at=at())
    with pytest.raises(ValidationError):
        call(conversation=live, **kwargs)


def test_opening_refuses_unknown_channel_kind_and_initiator(acme):
    for bad in (
        {"channel": "fax"},
        {"channel": "chat", "kind": "rant"},
        {"channel": "chat", "initiated_by": "bot"},
    ):
        with pytest.raises(ValidationError):
            conversation_open(merchant=acme, created_at=at(), **bad)
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
@pytest.mark.parametrize(
    "write",
    [
        lambda m, c, bad: message_add(conversation=c, author_type="merchant", body=bad),
        lambda m, c, bad: message_add(
            conversation=c, author_type="agent", body="x", author_name=bad
        ),
        lambda m, c, bad: message_add(conversation=c, author_type="agent", body="x", author_id=bad),
        lambda m, c, bad: conversation_open(merchant=m, channel="chat", subject=bad),
        lambda m, c, bad: conversation_open(merchant=m, channel="chat", body=bad),
        lambda m, c, bad: conversation_set_tags(conversation=c, names=["ok", bad]),
        lambda m, c, bad: conversation_set_status(conversation=c, status="open", by=bad),
        lambda m, c, bad: merchant_upsert(external_id="m-acme", country="TR", name=bad),
    ],
    ids=["body", "author_name", "author_id", "subject", "first_body", "tag", "by", "merchant"],
)
def test_text_that_is_not_unicode_or_holds_nul_is_refused_alike_on_every_database(acme, write, bad):
    live = conversation_open(merchant=acme, channel="chat", created_at=at(), external_id="live")
    with pytest.raises(ValidationError, match=r"NUL|surrogate"):
        write(acme, live, bad)
    assert list(Conversation.objects.values_list("external_id", flat=True)) == ["live"]
    assert not live.messages.exists()
    assert not live.status_changes.exists()
    assert not Tag.objects.exists()
    acme.refresh_from_db()
    assert acme.name == "Acme Tekstil"


def test_tag_add_and_remove_keep_tag_pairs_right(acme):
    live = conversation_open(merchant=acme, channel="chat", created_at=at())
    conversation_set_tags(conversation=live, names=["b", "A", "c", "  a  "])
    assert sorted(live.tags.values_list("name", flat=True)) == ["a", "b", "c"]

    def pairs() -> list[tuple[str, str]]:
        rows = ConversationTagPair.objects.filter(conversation=live)
        return sorted(rows.values_list("tag_a__name", "tag_b__name"))

    assert pairs() == [("a", "b"), ("a", "c"), ("b", "c")]
    conversation_tag_remove(conversation=live, name="B")
    assert pairs() == [("a", "c")]
    conversation_tag_add(conversation=live, name="Émoji")
    assert pairs() == [("a", "c"), ("a", "émoji"), ("c", "émoji")]
    conversation_tag_add(conversation=live, name="ÉMOJI")  # the same tag again
    assert pairs() == [("a", "c"), ("a", "émoji"), ("c", "émoji")]
    assert Tag.objects.get(name="émoji").display_name == "Émoji"
    conversation_tag_remove(conversation=live, name="a")
    conversation_tag_remove(conversation=live, name="c")
    assert pairs() == []
    assert list(live.tags.values_list("name", flat=True)) == ["émoji"]


def test_marking_spam_takes_its_tags_out_of_the_report_and_unmarking_brings_them_back(acme):
    live = conversation_open(merchant=acme, channel="chat", created_at=at(), tags=["a", "b"])
    topic = [{"name": "A+B", "any": [["a", "b"]]}]

    def tag_figures() -> tuple:
        figures = only_segment(topic=topic)
        return figures["conversations"], figures["tags"], figures["tag_pairs"], figures["topics"]

    counted = tag_figures()
    assert counted == (
        1,
        [{"tag": "a", "conversations": 1}, {"tag": "b", "conversations": 1}],
        [{"tags": ["a", "b"], "conversations": 1}],
        [{"name": "A+B", "conversations": 1}],
    )
    conversation_mark_spam(conversation=live)
    assert tag_figures() == (0, [], [], [{"name": "A+B", "conversations": 0}])
    conversation_tag_add(conversation=live, name="c")  # tagging spam keeps it out
    assert tag_figures() == (0, [], [], [{"name": "A+B", "conversations": 0}])
    conversation_mark_spam(conversation=live, spam=False)
    conversation_tag_remove(conversation=live, name="c")
    assert tag_figures() == counted


def test_tags_on_outreach_are_not_counted(globex):
    outreach = conversation_open(
        merchant=globex, channel="email", initiated_by="support", body="Hi", created_at=at()
    )
    conversation_set_tags(conversation=outreach, names=["promo", "onboarding"])
    figures = only_segment(topic=[{"name": "Promo", "any": [["promo"]]}])
    assert (figures["tags"], figures["tag_pairs"]) == ([], [])
    assert figures["topics"] == [{"name": "Promo", "conversations": 0}]


def test_tag_pairs_are_stored_with_the_smaller_name_first_by_code_point(acme):
    live = conversation_open(
        merchant=acme, channel="chat", created_at=at(), tags=["émoji", "Zebra"]
    )
    pair = ConversationTagPair.objects.get(conversation=live)
    assert (pair.tag_a.name, pair.tag_b.name) == ("zebra", "émoji")


def test_the_conversation_keeps_the_country_of_filing_when_the_merchant_moves(acme):
    first = conversation_open(merchant=acme, channel="chat", created_at=at())
    moved = merchant_upsert(external_id="m-acme", name="Acme GmbH", country="de")
    second = conversation_open(merchant=moved, channel="chat", created_at=at(days=3))
    assert (first.country, second.country) == ("TR", "DE")
    data = report(
        segment=[{"name": "TR", "countries": ["TR"]}, {"name": "EU", "countries": ["EU"]}]
    )
    assert segment(data, "TR")["conversations"] == 1
    assert segment(data, "EU")["conversations"] == 1


def test_merchant_upsert_refuses_an_unassigned_country_or_unknown_status(db):
    with pytest.raises(ValueError, match="ISO 3166-1"):
        merchant_upsert(external_id="m-x", country="EU")
    with pytest.raises(ValidationError):
        merchant_upsert(external_id="m-x", country="TR", status="banned")


def test_the_report_over_service_created_data_follows_the_rules(acme, globex):
    # Acme (TR): a question answered in 1 h 21 m and solved, reopened, solved again.
    question = conversation_open(
        merchant=acme, channel="chat", created_at=at(), body="Sipariş?", tags=["order_cancel"]
    )
    message_add(conversation=question, author_type="system", body="Auto", created_at=at(1))
    message_add(conversation=question, author_type="agent", body="Tamam", created_at=at(4860))
    conversation_set_status(conversation=question, status="solved", at=at(6000))
    conversation_set_status(conversation=question, status="open", at=at(7000))
    conversation_set_status(conversation=question, status="solved", at=at(8000))
    # Acme: a complaint, closed without a solve, upheld.
    complaint = conversation_open(
        merchant=acme,
        channel="email",
        kind="complaint",
        created_at=at(100),
        tags=["Order_Cancel", "refund"],
    )
    conversation_set_status(conversation=complaint, status="closed", at=at(3700))
    conversation_set_outcome(conversation=complaint, outcome="upheld")
    # Globex (CN): a proposal with only an internal note, and spam.
    proposal = conversation_open(
        merchant=globex, channel="web", kind="proposal", created_at=at(200)
    )
    message_add(
        conversation=proposal, author_type="agent", public=False, body="note", created_at=at(300)
    )
    junk = conversation_open(merchant=globex, channel="web", created_at=at(5), tags=["refund"])
    conversation_mark_spam(conversation=junk)
    # Outreach by the desk to Globex.
    conversation_open(
        merchant=globex, channel="email", initiated_by="support", body="Hello", created_at=at(50)
    )

    data = report(
        segment=[
            {"name": "TR", "countries": ["TR"]},
            {"name": "CN", "countries": ["CN"]},
            {"name": "All merchants", "countries": ["*"]},
        ],
        topic=[{"name": "Cancel", "any": [["ORDER_CANCEL"]]}],
    )
    tr = segment(data, "TR")
    assert tr["conversations"] == 2
    assert tr["by_kind"] == {"question": 1, "request": 0, "proposal": 0, "complaint": 1}
    assert (tr["responded"], tr["first_response_seconds"]) == (
        1,
        {"mean": 4860.0, "median": 4860.0},
    )
    assert tr["resolved"] == 2
    assert tr["resolution_seconds"] == {"mean": 5800.0, "median": 5800.0}
    assert tr["tags"] == [
        {"tag": "order_cancel", "conversations": 2},
        {"tag": "refund", "conversations": 1},
    ]
    assert tr["tag_pairs"] == [{"tags": ["order_cancel", "refund"], "conversations": 1}]
    assert tr["topics"] == [{"name": "Cancel", "conversations": 2}]
    assert tr["complaints"]["count"] == 1
    assert tr["complaints"]["outcomes"]["upheld"] == 1
    assert tr["complaints"]["resolution_seconds"] == {"mean": 3600.0, "median": 3600.0}
    cn = segment(data, "CN")
    assert (cn["conversations"], cn["responded"], cn["resolved"]) == (1, 0, 0)
    assert cn["by_kind"]["proposal"] == 1
    assert cn["tags"] == []
    assert segment(data, "All merchants")["conversations"] == 3
    # As of a moment while the question was reopened, only the complaint is resolved.
    tr_then = segment(report(segment=[{"name": "TR", "countries": ["TR"]}], as_of=ts(7500)), "TR")
    assert tr_then["resolved"] == 1
    assert tr_then["resolution_seconds"]["mean"] == 3600.0
    # As of the first solve the question counts that solve.
    assert only_segment(as_of=ts(6500))["resolution_seconds"] == {"mean": 4800.0, "median": 4800.0}


def test_services_refuse_values_longer_than_their_column_on_every_database(acme):
    from sellerdesk.conversations.services import conversation_open, message_add
    from sellerdesk.core.errors import ValidationError

    conversation = conversation_open(merchant=acme, channel="chat", subject="Ödeme gecikmesi")
    with pytest.raises(ValidationError, match="author_name is longer than 500 characters"):
        message_add(
            conversation=conversation, author_type="agent", body="ok", author_name="x" * 501
        )
    assert conversation.messages.count() == 0


def test_a_live_merchant_update_is_not_overwritten_by_an_older_imported_filing(db):
    from sellerdesk.accounts.models import Merchant
    from sellerdesk.conversations.importer import conversations_import
    from sellerdesk.conversations.services import merchant_upsert
    from tests.builders import conversation, line

    merchant_upsert(external_id="m-7", name="Anka Tekstil A.Ş.", country="DE")
    older = conversation(merchant_id="m-7", country="TR")
    result = conversations_import([(1, line(older).encode())])
    assert result.imported == 1
    merchant = Merchant.objects.get(external_id="m-7")
    assert (merchant.name, merchant.country) == ("Anka Tekstil A.Ş.", "DE")
