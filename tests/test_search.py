"""Search (conversations.search): every script, scoping, ranking, snippets, and input that looks
like syntax. The same tests run on SQLite (FTS5 trigram) and PostgreSQL (tsvector + pg_trgm)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sellerdesk.conversations import search
from sellerdesk.conversations.models import Conversation
from sellerdesk.conversations.services import conversation_open, merchant_upsert, message_add
from sellerdesk.core.errors import ValidationError

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def filed(merchant, minutes: float, subject: str, body: str = "Merhaba") -> Conversation:
    return conversation_open(
        merchant=merchant,
        channel="web",
        subject=subject,
        body=body,
        created_at=T0 + timedelta(minutes=minutes),
    )


def note(conversation: Conversation, body: str) -> None:
    message_add(conversation=conversation, author_type="agent", body=body, public=False)


def found(text: str, *, public_only: bool = False, rows=None) -> list[int]:
    query = search.parse_query(text)
    assert query is not None
    scope = rows if rows is not None else Conversation.objects.all()
    return [h.conversation.pk for h in search.ranked(scope, query, public_only=public_only).hits]


@pytest.fixture
def corpus(acme, globex):
    kyiv = merchant_upsert(external_id="m-kyiv", name="Kyiv Shop", country="UA", language="uk")
    seoul = merchant_upsert(external_id="m-seoul", name="Seoul Mart", country="KR", language="ko")
    return {
        "latin": filed(acme, 1, "Payment delayed", "My payout for order 1001 is late."),
        "turkish": filed(acme, 2, "Ödeme gecikti", "Siparişimin ödemesi 10 gündür gelmedi."),
        "cyrillic": filed(kyiv, 3, "Затримка виплати", "Моє замовлення досі не оплачене."),
        "chinese": filed(globex, 4, "商品审核太慢", "我的商品审核已经三天了，请尽快处理退款。"),
        "japanese": filed(globex, 5, "配送について", "注文した商品がまだ届いていません。"),
        "korean": filed(seoul, 6, "환불 요청", "주문한 상품의 환불을 요청합니다."),
    }


@pytest.mark.parametrize(
    ("text", "which"),
    [
        ("payout", "latin"),
        ("PAYOUT late", "latin"),
        ('"order 1001"', "latin"),
        ("Ödeme", "turkish"),
        ("siparişimin", "turkish"),
        ("замовлення", "cyrillic"),
        ("виплати", "cyrillic"),
        ("审核", "chinese"),
        ("退款", "chinese"),
        ("尽快处理", "chinese"),
        ("届いて", "japanese"),
        ("환불", "korean"),
        ("요청합니다", "korean"),
    ],
)
def test_finds_words_in_every_script(corpus, text, which):
    assert found(text) == [corpus[which].pk]


def test_a_single_cjk_character_falls_back_to_a_scan(corpus):
    assert found("慢") == [corpus["chinese"].pk]
    assert set(found("商品")) == {corpus["chinese"].pk, corpus["japanese"].pk}


def test_every_term_must_match_in_one_place(corpus):
    assert found("payout gelmedi") == []
    assert found("payment payout") == []  # one in the subject, one in a message


def test_subject_hits_rank_before_message_hits_each_newest_first(acme):
    older_subject = filed(acme, 1, "Refund missing", "hello")
    body_only = filed(acme, 2, "Question", "where is my refund")
    newer_subject = filed(acme, 3, "Second refund", "hello")
    query = search.parse_query("refund")
    assert query is not None
    page = search.ranked(Conversation.objects.all(), query, public_only=False)
    assert [(h.conversation.pk, h.rank) for h in page.hits] == [
        (newer_subject.pk, search.SUBJECT),
        (older_subject.pk, search.SUBJECT),
        (body_only.pk, search.MESSAGE),
    ]


def test_cursor_pages_walk_across_ranks_without_repeats(acme):
    made = [filed(acme, n, f"refund {n}" if n % 2 else f"other {n}", "refund") for n in range(7)]
    query = search.parse_query("refund")
    assert query is not None
    seen, cursor = [], None
    for _ in range(10):
        page = search.ranked(
            Conversation.objects.all(), query, public_only=False, cursor=cursor, limit=2
        )
        seen += [h.conversation.pk for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(c.pk for c in made)
    assert len(seen) == len(set(seen))
    subject_hits = [c.pk for n, c in enumerate(made) if n % 2]
    assert seen[: len(subject_hits)] == sorted(subject_hits, reverse=True)


def test_a_forged_cursor_is_refused(acme):
    query = search.parse_query("refund")
    assert query is not None
    with pytest.raises(search.BadSearchCursor):
        search.ranked(Conversation.objects.all(), query, public_only=False, cursor="bm9wZQ")


def test_merchants_never_find_internal_notes(acme):
    conversation = filed(acme, 1, "Hello", "A question")
    note(conversation, "secret escalation codeword")
    assert found("codeword") == [conversation.pk]
    assert found("codeword", public_only=True) == []


def test_the_scope_is_never_widened(corpus, acme):
    mine = Conversation.objects.filter(merchant=acme)
    assert found("审核", rows=mine) == []
    assert found("payout", rows=mine) == [corpus["latin"].pk]


@pytest.mark.parametrize(
    "text",
    [
        "%",
        "_",
        "%%%",
        "'",
        "''",
        '"',
        '"""',
        "*",
        "payout*",
        "NEAR(payout late)",
        "payout OR late",
        "payout AND NOT late",
        "NOT",
        "a:b",
        "\\",
        "' OR 1=1 --",
        "payout -late",
        "^payout",
        "col:payout",
        "(((",
        "&|!<->",
        "x\x00y",
        "🙂",
        "İ",
    ],
)
def test_input_that_looks_like_syntax_is_only_text(corpus, text):
    query = search.parse_query(text)
    if query is not None:
        page = search.ranked(Conversation.objects.all(), query, public_only=True)
        for hit in page.hits:
            assert "<script" not in hit.snippet


def test_percent_and_underscore_are_literal(acme):
    discount = filed(acme, 1, "Discount", "We offer 50% off")
    filed(acme, 2, "Other", "We offer 50 percent off")
    assert found("50%") == [discount.pk]
    snake = filed(acme, 3, "Field", "the field order_ref is empty")
    filed(acme, 4, "Field", "the field orderXref is empty")
    assert found("order_ref") == [snake.pk]


def test_snippets_are_escaped_and_marked(acme):
    filed(acme, 1, "Hi", "<script>alert(1)</script> the parcel & the <b>invoice</b> are late")
    query = search.parse_query("invoice")
    assert query is not None
    hit = search.ranked(Conversation.objects.all(), query, public_only=True).hits[0]
    assert "<script>" not in hit.snippet
    assert "&lt;script&gt;" in hit.snippet
    assert "&amp;" in hit.snippet
    assert "<mark>invoice</mark>" in hit.snippet


def test_snippet_is_cut_around_the_hit():
    text = "word " * 100 + "needle" + " tail" * 100
    query = search.parse_query("needle")
    assert query is not None
    result = search.snippet(text, query)
    assert result.startswith("…")
    assert result.endswith("…")
    assert "<mark>needle</mark>" in result
    assert len(result) < 2 * search.SNIPPET_CONTEXT + 40


def test_queries_that_are_too_long_or_have_too_many_terms_are_refused():
    with pytest.raises(ValidationError, match="at most 200 characters"):
        search.parse_query("x" * 201)
    with pytest.raises(ValidationError, match="at most 8 words"):
        search.parse_query("a b c d e f g h i")
    assert search.parse_query("   ") is None
    assert search.parse_query('""') is None


def test_edited_and_deleted_rows_leave_the_index(acme):
    conversation = filed(acme, 1, "Parcel lost", "original words")
    Conversation.objects.filter(pk=conversation.pk).update(subject="Renamed")
    assert found("parcel") == []
    assert found("renamed") == [conversation.pk]
    conversation.messages.all().delete()
    assert found("original") == []
