"""Search (conversations.search): every script, scoping, ranking, snippets, and input that looks
like syntax. The same tests run on SQLite (FTS5 trigram) and PostgreSQL (tsvector + pg_trgm)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

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


# --- In the desk's inbox ----------------------------------------------------------------------


def test_the_inbox_search_shows_escaped_snippets_and_finds_notes(client_for, agent, acme):
    conversation = filed(acme, 1, "Invoice", "Hello <b>there</b>, the invoice is wrong")
    note(conversation, "escalated to <i>finance</i> codeword")
    client = client_for(agent)
    response = client.get("/desk/", {"queue": "open", "q": "invoice"})
    html = response.content.decode()
    assert response.status_code == 200
    assert [c.pk for c in response.context["page"].rows] == [conversation.pk]
    assert "<mark>invoice</mark> is wrong" in html
    assert "&lt;b&gt;there&lt;/b&gt;" in html
    assert 'value="invoice"' in html
    response = client.get("/desk/", {"queue": "open", "q": "finance"})
    assert "&lt;i&gt;<mark>finance</mark>&lt;/i&gt;" in response.content.decode()


def test_the_inbox_search_pages_keep_the_query(client_for, agent, acme):
    made = [filed(acme, n, f"Refund {n}", "refund please") for n in range(4)]
    client = client_for(agent)
    first = client.get("/desk/", {"queue": "open", "q": "refund", "size": "25"})
    assert first.status_code == 200
    page = first.context["page"]
    assert [c.pk for c in page.rows] == [c.pk for c in made]
    assert page.next_cursor is None


def test_a_search_too_long_is_refused_with_a_message(client_for, agent, acme):
    filed(acme, 1, "Refund", "refund please")
    response = client_for(agent).get("/desk/", {"queue": "open", "q": "refund " * 40})
    assert response.status_code == 200
    assert response.context["page"].rows == []
    assert "at most 200 characters" in response.content.decode()


@pytest.mark.parametrize("text", ["%", "_", '"', "NEAR(a b)", "a OR b", "*", "'--", "\x00"])
def test_the_inbox_never_fails_on_odd_searches(client_for, agent, acme, text):
    filed(acme, 1, "Refund", "refund please")
    response = client_for(agent).get("/desk/", {"queue": "open", "q": text})
    # A NUL character is refused before any view (core.middleware), with its reason.
    assert response.status_code == (400 if "\x00" in text else 200)


def test_merchants_cannot_reach_the_inbox_search(client_for, alice):
    assert client_for(alice).get("/desk/", {"q": "refund"}).status_code == 403


# --- In the merchant portal ------------------------------------------------------------------


def portal_search(client, text: str, **extra: str):
    response = client.get("/merchant/", {"q": text, **extra})
    assert response.status_code == 200
    return response


def hits(response) -> list[int]:
    return [h.conversation.pk for h in response.context["results"].hits]


def test_the_portal_finds_only_the_merchants_own_conversations(
    client_for, alice, eve, acme_conversation, globex_conversation
):
    assert hits(portal_search(client_for(alice), "ödemesi")) == [acme_conversation.pk]
    assert hits(portal_search(client_for(alice), "审核")) == []
    assert hits(portal_search(client_for(eve), "审核")) == [globex_conversation.pk]
    assert hits(portal_search(client_for(eve), "ödemesi")) == []


def test_the_portal_never_finds_internal_notes(client_for, alice, acme_conversation):
    note(acme_conversation, "internal codeword: merchant is difficult")
    response = portal_search(client_for(alice), "codeword")
    assert hits(response) == []
    # The query itself shows in the search box and in the language switcher's way back.
    page = response.content.decode()
    page = page.replace('value="codeword"', "").replace('value="/merchant/?q=codeword"', "")
    assert "codeword" not in page
    assert "Nothing found." in response.content.decode()


def test_the_portal_snippet_is_escaped_and_pages_keep_the_query(client_for, alice, acme):
    made = [filed(acme, n, f"Parcel {n}", "<script>x</script> parcel") for n in range(30)]
    client = client_for(alice)
    first = portal_search(client, "parcel")
    html = first.content.decode()
    assert "<script>x" not in html
    assert "&lt;script&gt;" in html
    assert len(hits(first)) == 25
    cursor = first.context["results"].next_cursor
    second = portal_search(client, "parcel", cursor=cursor)
    assert sorted(hits(first) + hits(second)) == sorted(c.pk for c in made)
    assert client.get("/merchant/", {"q": "parcel", "cursor": "forged"}).status_code == 404


def test_the_portal_refuses_a_search_too_long_with_a_message(client_for, alice):
    response = portal_search(client_for(alice), "x" * 300)
    assert "at most 200 characters" in response.content.decode()


def test_staff_cannot_search_the_portal(client_for, agent):
    assert client_for(agent).get("/merchant/", {"q": "x"}).status_code == 403


@pytest.mark.parametrize("text", ["%", "_", '"', "NEAR(a b)", "a OR b", "*", "'--", "\x00"])
def test_the_portal_never_fails_on_odd_searches(client_for, alice, acme_conversation, text):
    if "\x00" in text:  # refused before any view (core.middleware), with its reason
        assert client_for(alice).get("/merchant/", {"q": text}).status_code == 400
        return
    portal_search(client_for(alice), text)


@pytest.mark.parametrize("walk", [False, True], ids=["from the matches", "walked"])
def test_both_shapes_of_the_filter_find_the_same(corpus, acme, walk):
    """PostgreSQL starts from the matches when they are few, else walks (search.plan); each
    shape must find the same rows. (SQLite always walks.)"""
    conversation = corpus["latin"]
    note(conversation, "internal codeword")
    everything = Conversation.objects.all()

    def ids(text: str, *, public_only: bool = False) -> set[int]:
        query = search.parse_query(text)
        assert query is not None
        chosen = search.Plan() if walk else search.plan(query, public_only=public_only)
        rows = search.matching(everything, query, public_only=public_only, chosen=chosen)
        with search.walking(chosen):
            return set(rows.values_list("pk", flat=True))

    assert ids("payment") == {conversation.pk}  # subject
    assert ids("payout late") == {conversation.pk}  # message
    assert ids("codeword") == {conversation.pk}
    assert ids("codeword", public_only=True) == set()
    assert ids("商品") == {corpus["chinese"].pk, corpus["japanese"].pk}
    assert ids("nowhere") == set()


def test_too_many_matches_switch_to_walking(acme, monkeypatch):
    monkeypatch.setattr(search, "MESSAGE_CAP", 2)
    made = [filed(acme, n, f"Subject {n}", "common words here") for n in range(4)]
    query = search.parse_query("common")
    assert query is not None
    chosen = search.plan(query, public_only=False)
    page = search.ranked(Conversation.objects.all(), query, public_only=False, limit=3)
    assert [h.conversation.pk for h in page.hits] == [c.pk for c in reversed(made)][:3]
    if chosen.subject_ids is not None:  # PostgreSQL: counted, and too many
        assert chosen.message_ids is None
        assert chosen.walk
    # A merchant's search always walks its own conversations, never counts.
    assert search.plan(query, public_only=True).walk


@pytest.mark.parametrize("walk", [False, True], ids=["from the matches", "walked"])
def test_the_cheap_word_check_finds_what_full_text_finds(acme, walk):
    """On PostgreSQL an ASCII word is first looked for in the lowercased text (search._HasWord)
    and only then parsed: the answer is still full text's, case-insensitive prefixes of whole
    words, never text inside a word."""
    upper = filed(acme, 1, "Subject", "ORDER 79778-B shipped")
    prefix = filed(acme, 2, "Subject", "orders of parcel 797781")
    inside = filed(acme, 3, "Subject", "reorder and X79778")
    everything = Conversation.objects.all()

    def ids(text: str) -> set[int]:
        query = search.parse_query(text)
        assert query is not None
        chosen = search.Plan() if walk else search.plan(query, public_only=False)
        rows = search.matching(everything, query, public_only=False, chosen=chosen)
        with search.walking(chosen):
            return set(rows.values_list("pk", flat=True))

    # SQLite's trigram index finds text inside words too.
    substring = {inside.pk} if connection.vendor != "postgresql" else set()
    assert ids("order") == {upper.pk, prefix.pk} | substring
    assert ids("Order") == {upper.pk, prefix.pk} | substring
    assert ids("79778") == {upper.pk, prefix.pk} | substring
    assert ids('"order 79778"') == {upper.pk}
    if connection.vendor == "postgresql":
        assert ids("rder") == set()
        assert ids("9778") == set()
        assert ids("x7977") == {inside.pk}
