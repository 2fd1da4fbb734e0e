"""The agents' inbox at /desk/: the queues and their counts, the filters, the sorts, cursor
pagination, a fixed number of queries a page, and bulk actions that leave the single change's
trail."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sellerdesk.accounts.models import User
from sellerdesk.conversations import selectors, workflow
from sellerdesk.conversations.models import Activity, Conversation
from sellerdesk.conversations.services import conversation_open, merchant_upsert

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
INBOX = "/desk/"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def filed(merchant, minutes: float = 0, **fields) -> Conversation:
    """A conversation the merchant filed ``minutes`` after T0."""
    fields.setdefault("channel", "web")
    fields.setdefault("subject", f"filed at +{minutes}")
    return conversation_open(merchant=merchant, created_at=at(minutes), body="Merhaba", **fields)


def set_up(c: Conversation, actor: User, *, status=None, assignee=None, team=None, priority=None):
    if assignee is not None:
        workflow.conversation_assign(conversation=c, assignee=assignee, actor=actor)
    if team is not None:
        workflow.conversation_set_team(conversation=c, team=team, actor=actor)
    if status is not None:
        workflow.conversation_change_status(conversation=c, status=status, actor=actor)
    if priority is not None:
        workflow.conversation_change_priority(conversation=c, priority=priority, actor=actor)
    return c


def page(client, **query):
    response = client.get(INBOX, query)
    assert response.status_code == 200, response.status_code
    return response


def pks(response) -> list[int]:
    return [c.pk for c in response.context["page"].rows]


BADGE = re.compile(
    r'data-queue="(\w+)">\s*<span>[^<]*</span><span class="badge">([^<]*)</span>', re.S
)


def badges(response) -> dict[str, str]:
    return dict(BADGE.findall(response.content.decode()))


# --- Queues -----------------------------------------------------------------------------------


@pytest.fixture
def queues(acme, globex, agent, cn_agent, lead, eu_team, cn_team):
    """One conversation for each way a conversation sits in (or out of) the queues, filed in
    this order; the comments say which of the agent's queues hold it."""
    return {
        "new": filed(acme, 1),  # unassigned, open
        "mine_open": set_up(filed(acme, 2), lead, assignee=agent, status="open"),  # mine, open
        # mine, waiting, open
        "mine_pending": set_up(filed(globex, 3), lead, assignee=agent, status="pending"),
        # someone else's, in another team: open only
        "cn_on_hold": set_up(
            filed(globex, 4), lead, assignee=cn_agent, team=cn_team, status="on_hold"
        ),
        "eu_open": set_up(filed(acme, 5), lead, team=eu_team, status="open"),  # unassigned, team
        # waiting, team, open
        "eu_pending": set_up(filed(acme, 6), lead, team=eu_team, status="pending"),
        # solved only
        "eu_solved": set_up(filed(acme, 7), lead, assignee=agent, team=eu_team, status="solved"),
        "closed": set_up(filed(acme, 8), lead, assignee=agent, status="closed"),  # none
        "solved": set_up(filed(globex, 9), lead, status="solved"),  # solved
    }


AGENTS_QUEUES = {
    "unassigned": ["new", "eu_open"],
    "mine": ["mine_open", "mine_pending"],
    "team": ["eu_open", "eu_pending"],
    "waiting": ["mine_pending", "eu_pending"],
    "solved": ["eu_solved", "solved"],
    "open": ["new", "mine_open", "mine_pending", "cn_on_hold", "eu_open", "eu_pending"],
}


def test_the_queues_cover_every_queue_the_inbox_offers():
    assert set(AGENTS_QUEUES) == set(selectors.QUEUES)


@pytest.mark.parametrize("queue", selectors.QUEUES)
def test_each_queue_holds_its_conversations_oldest_first(client_for, agent, queues, queue):
    response = page(client_for(agent), queue=queue)
    assert pks(response) == [queues[key].pk for key in AGENTS_QUEUES[queue]]


def test_queue_counts_match_the_queues(client_for, agent, queues):
    response = page(client_for(agent))
    expected = {queue: len(keys) for queue, keys in AGENTS_QUEUES.items()}
    assert response.context["counts"] == expected
    assert selectors.queue_counts(user=agent) == expected
    assert badges(response) == {queue: str(n) for queue, n in expected.items()}


def test_mine_and_team_are_the_asking_agents(client_for, cn_agent, queues):
    client = client_for(cn_agent)
    assert pks(page(client, queue="mine")) == [queues["cn_on_hold"].pk]
    assert pks(page(client, queue="team")) == [queues["cn_on_hold"].pk]
    assert selectors.queue_counts(user=cn_agent)["mine"] == 1


def test_counts_stop_at_the_cap_and_show_a_plus(client_for, agent, acme, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    for minutes in range(5):
        filed(acme, minutes)
    set_up(filed(acme, 10), agent, assignee=agent)
    set_up(filed(acme, 11), agent, assignee=agent)

    response = page(client_for(agent))

    assert response.context["counts"]["unassigned"] == 4  # counted one past the cap
    assert response.context["counts"]["open"] == 4
    assert response.context["counts"]["mine"] == 2
    shown = badges(response)
    assert shown["unassigned"] == "3+"
    assert shown["open"] == "3+"
    assert shown["mine"] == "2"
    assert shown["solved"] == "0"
    # The cap is on the count only: the queue still lists every row.
    assert len(pks(response)) == 5


def test_a_count_of_exactly_the_cap_shows_no_plus(client_for, agent, acme, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    for minutes in range(3):
        filed(acme, minutes)
    assert badges(page(client_for(agent)))["unassigned"] == "3"


def test_an_unknown_queue_is_not_found(client_for, agent):
    assert client_for(agent).get(INBOX, {"queue": "everything"}).status_code == 404


# --- Filters ----------------------------------------------------------------------------------


@pytest.fixture
def spread(acme, globex, agent, lead, cn_agent):
    """Conversations that differ in every filtered field, all in the "open" queue."""
    de = merchant_upsert(external_id="m-de", name="Berlin GmbH", country="DE")
    fr = merchant_upsert(external_id="m-fr", name="Paris SARL", country="FR")
    hk = merchant_upsert(external_id="m-hk", name="Kowloon Ltd", country="HK")
    us = merchant_upsert(external_id="m-us", name="Ohio Inc", country="US")
    rows = {
        "tr": filed(acme, 1, kind="question", tags=["Refund"]),
        "cn": set_up(
            filed(globex, 2, channel="email", kind="complaint", tags=["Payout delay"]),
            lead,
            assignee=agent,
            priority="high",
        ),
        "de": set_up(
            filed(de, 3, channel="chat", kind="request", tags=["refund", "Shipping"]),
            lead,
            assignee=lead,
            status="on_hold",
            priority="urgent",
        ),
        "fr": set_up(filed(fr, 4, channel="api", kind="proposal"), lead, status="pending"),
        "hk": set_up(filed(hk, 5, channel="phone"), lead, assignee=cn_agent),
        "us": set_up(filed(us, 6, channel="email"), lead, priority="low"),
    }
    return rows


FILTERS = [
    ({"status": "on_hold"}, ["de"]),
    ({"status": "pending"}, ["fr"]),
    ({"kind": "complaint"}, ["cn"]),
    ({"kind": "question"}, ["tr", "hk", "us"]),
    ({"tag": "refund"}, ["tr", "de"]),
    ({"tag": "REFUND"}, ["tr", "de"]),
    ({"tag": "  Refund "}, ["tr", "de"]),
    ({"tag": "payout   DELAY"}, ["cn"]),
    ({"tag": "refun"}, []),
    ({"channel": "email"}, ["cn", "us"]),
    ({"channel": "chat"}, ["de"]),
    ({"country": "tr"}, ["tr"]),
    ({"country": "DE"}, ["de"]),
    ({"segment": "EU"}, ["de", "fr"]),
    ({"segment": "CN"}, ["cn", "hk"]),
    ({"segment": "TR"}, ["tr"]),
    ({"segment": "Atlantis"}, []),
    ({"assignee": "me"}, ["cn"]),
    ({"assignee": "none"}, ["tr", "fr", "us"]),
    ({"priority": "urgent"}, ["de"]),
    ({"priority": "high"}, ["cn"]),
    ({"priority": "low"}, ["us"]),
    ({"priority": "normal"}, ["tr", "fr", "hk"]),
    ({"segment": "EU", "tag": "Refund"}, ["de"]),
    ({"channel": "email", "assignee": "none"}, ["us"]),
    ({"q": "merhaba", "kind": "question"}, ["tr", "hk", "us"]),
    ({"q": '"at +3"'}, ["de"]),
    ({"q": "+5", "segment": "CN"}, ["hk"]),
    ({"q": "MERHABA", "segment": "EU", "priority": "urgent"}, ["de"]),
    ({"q": "nowhere"}, []),
]


@pytest.mark.parametrize(
    ("query", "expected"), FILTERS, ids=[json.dumps(q, ensure_ascii=False) for q, _ in FILTERS]
)
def test_filter(client_for, agent, spread, query, expected):
    response = page(client_for(agent), queue="open", **query)
    assert pks(response) == [spread[key].pk for key in expected]


def test_filter_by_assignee_id(client_for, agent, lead, cn_agent, spread):
    client = client_for(agent)
    assert pks(page(client, queue="open", assignee=str(lead.pk))) == [spread["de"].pk]
    assert pks(page(client, queue="open", assignee=str(cn_agent.pk))) == [spread["hk"].pk]


def test_every_filter_of_the_form_is_tested():
    tested = {name for query, _ in FILTERS for name in query}
    assert tested == set(selectors.InboxFilters.__dataclass_fields__)


def test_the_eu_segment_is_the_member_states():
    countries = selectors.segment_countries("EU")
    assert {"DE", "FR", "IT", "PL", "IE", "CY"} <= set(countries)
    assert len(countries) == 27
    assert not {"GB", "TR", "CH", "NO", "EU"} & set(countries)


def test_a_filter_narrows_the_page_not_the_counts(client_for, agent, spread):
    response = page(client_for(agent), queue="open", segment="EU")
    assert response.context["counts"]["open"] == len(spread)


# --- Sorts ------------------------------------------------------------------------------------


@pytest.fixture
def deadlines(acme, lead):
    """Waiting conversations whose deadlines run opposite to their filing, and open ones."""
    rows = [filed(acme, minutes) for minutes in range(6)]
    # Asked to answer by: rows[0] last, rows[2] first; rows[1] and rows[3] share a deadline.
    asked = {0: 30, 1: 20, 2: 10, 3: 20}
    for index, days_later in asked.items():
        with time_machine.travel(T0 + timedelta(days=days_later), tick=False):
            set_up(rows[index], lead, status="pending")
    return rows


def test_sort_oldest_newest_and_due(client_for, agent, deadlines):
    rows = deadlines
    client = client_for(agent)
    oldest = [c.pk for c in rows]
    assert pks(page(client, queue="open")) == oldest
    assert pks(page(client, queue="open", sort="oldest")) == oldest
    assert pks(page(client, queue="open", sort="newest")) == oldest[::-1]
    # Waiting on the merchant, due first is the merchant's deadline; equal deadlines by id.
    by_due = [rows[i].pk for i in (2, 1, 3, 0)]
    assert pks(page(client, queue="waiting", sort="due")) == by_due
    # Elsewhere it is the service-level due time: none here, so by id.
    assert pks(page(client, queue="open", sort="due")) == oldest
    # An unknown sort is the default one.
    assert pks(page(client, queue="open", sort="random()")) == oldest


# --- Cursor pagination ------------------------------------------------------------------------


@pytest.fixture
def ties(acme, lead):
    """Eleven conversations, most of them sharing a created_at, some with shared deadlines."""
    minutes = [5, 0, 5, 5, 1, 0, 5, 2, 2, 5, 0]
    rows = [filed(acme, m) for m in minutes]
    for index, days_later in {1: 9, 3: 9, 4: 8, 7: 9, 9: 12}.items():
        with time_machine.travel(T0 + timedelta(days=days_later), tick=False):
            set_up(rows[index], lead, status="pending")
    return rows


def _expected_order(rows: list[Conversation], sort: str) -> list[int]:
    fresh = list(Conversation.objects.filter(pk__in=[c.pk for c in rows]))
    if sort == "newest":
        fresh.sort(key=lambda c: (c.created_at, c.pk), reverse=True)
    elif sort == "due":  # in the waiting queue: the merchant's deadline
        fresh = [c for c in fresh if c.status == "pending"]
        fresh.sort(key=lambda c: (c.merchant_due_at, c.pk))
    else:
        fresh.sort(key=lambda c: (c.created_at, c.pk))
    return [c.pk for c in fresh]


@pytest.mark.parametrize("sort", selectors.SORTS)
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10, 11, 12])
def test_cursor_pages_visit_every_row_once(agent, ties, sort, limit):
    seen: list[int] = []
    cursor = None
    for _ in range(len(ties) + 2):
        queue = "waiting" if sort == "due" else "open"
        result = selectors.inbox(user=agent, queue=queue, sort=sort, cursor=cursor, limit=limit)
        assert len(result.rows) <= limit
        seen += [c.pk for c in result.rows]
        cursor = result.next_cursor
        if cursor is None:
            break
    assert cursor is None
    assert seen == _expected_order(ties, sort)


def test_the_pages_of_the_view_follow_the_next_link(client_for, agent, acme):
    rows = [filed(acme, minute // 4, tags=["Kargo"] if minute % 2 else []) for minute in range(60)]
    client = client_for(agent)
    seen: list[int] = []
    sizes = []
    url = f"{INBOX}?queue=open&size=25&tag=kargo"
    while url:
        response = client.get(url if url.startswith("/") else INBOX + url)
        assert response.status_code == 200
        sizes.append(len(pks(response)))
        seen += pks(response)
        url = response.context["next_url"]
        if url:
            assert "tag=kargo" in url
            assert 'rel="next"' in response.content.decode()
    assert sizes == [25, 5]
    tagged = [c for c in rows if c.tags.exists()]
    assert seen == _expected_order(tagged, "oldest")


def test_htmx_asks_for_the_rows_only(client_for, agent, acme):
    filed(acme, 1, subject="Kargo nerede")
    response = client_for(agent).get(
        INBOX, {"queue": "open"}, headers={"HX-Request": "true", "HX-Target": "inbox-rows"}
    )
    text = response.content.decode()
    assert "Kargo nerede" in text
    assert "<html" not in text
    # The page and the rows share the URL: caches are told the answer depends on both headers.
    for answer in (response, client_for(agent).get(INBOX, {"queue": "open"})):
        vary = {v.strip() for v in answer["Vary"].split(",")}
        assert {"HX-Request", "HX-Target"} <= vary


def _cursor(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


TAMPERED = {
    "not base64": "%%%not-a-cursor%%%",
    "not json": _cursor(b"\x00\x01garbage"),
    "not utf-8": _cursor(b"\xff\xfe\xfd"),
    "a number": _cursor(42),
    "an object": _cursor({"at": "2025-03-03T09:00:00+00:00", "pk": 1}),
    "three items": _cursor(["2025-03-03T09:00:00+00:00", 1, 2]),
    "not a timestamp": _cursor(["yesterday", 1]),
    "a timestamp without offset": _cursor(["2025-03-03T09:00:00", 1]),
    "a number for a timestamp": _cursor([1741000000, 1]),
    "an id that is text": _cursor(["2025-03-03T09:00:00+00:00", "1"]),
    "an id that is a float": _cursor(["2025-03-03T09:00:00+00:00", 1.5]),
    "an id that is a list": _cursor(["2025-03-03T09:00:00+00:00", [1]]),
    "an impossible date": _cursor(["2025-02-30T09:00:00+00:00", 1]),
}


@pytest.mark.parametrize("sort", ["oldest", "newest"])
@pytest.mark.parametrize(
    "cursor",
    [*TAMPERED.values(), _cursor([None, 1])],
    ids=[*TAMPERED, "no timestamp (the due sort's cursor)"],
)
def test_a_tampered_cursor_is_not_found(client_for, agent, acme_conversation, cursor, sort):
    response = client_for(agent).get(INBOX, {"queue": "open", "sort": sort, "cursor": cursor})
    assert response.status_code == 404


@pytest.mark.parametrize("cursor", list(TAMPERED.values()), ids=list(TAMPERED))
def test_a_tampered_due_cursor_is_not_found(client_for, agent, acme_conversation, cursor):
    response = client_for(agent).get(INBOX, {"queue": "open", "sort": "due", "cursor": cursor})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("sort", "last"),
    [
        ("oldest", ["2999-01-01T00:00:00+00:00", 2**62]),
        ("newest", ["1970-01-01T00:00:00+00:00", 0]),
        ("due", [None, 2**62]),
    ],
)
def test_a_cursor_past_the_end_is_an_empty_page(client_for, agent, acme_conversation, sort, last):
    response = client_for(agent).get(
        INBOX, {"queue": "open", "sort": sort, "cursor": _cursor(last)}
    )
    assert response.status_code == 200
    assert response.context["page"].rows == []
    assert response.context["next_url"] is None


# --- Queries a page ---------------------------------------------------------------------------


def _busy(merchants, staff, teams, start: int, count: int) -> None:
    """Conversations with tags, assignees and teams: what a careless page would query per row."""
    for n in range(start, start + count):
        c = filed(merchants[n % len(merchants)], n, tags=[f"topic {n % 7}", f"area {n % 3}"])
        set_up(c, staff[0], assignee=staff[n % len(staff)], team=teams[n % len(teams)])


def _queries(client, **query) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(INBOX, query)
    assert response.status_code == 200
    return len(context.captured_queries)


#: Session, user, the rows, their tags, the agent's teams and six queue counts, the staff for
#: the assignee menus.
QUERIES_A_PAGE = 12


def test_a_page_costs_the_same_queries_whatever_its_size(
    client_for, agent, lead, cn_agent, acme, globex, eu_team, cn_team, django_assert_max_num_queries
):
    args = ([acme, globex], [agent, lead, cn_agent], [eu_team, cn_team])
    client = client_for(agent)
    _busy(*args, start=0, count=5)
    client.get(INBOX)  # sign-in leftovers (the session's first read) out of the way
    small = _queries(client, queue="open", size=25)
    _busy(*args, start=5, count=55)
    full = _queries(client, queue="open", size=100)
    paged = _queries(client, queue="open", size=25)
    assert len(pks(page(client, queue="open", size=100))) == 60
    assert small == full == paged
    with django_assert_max_num_queries(QUERIES_A_PAGE):
        client.get(INBOX, {"queue": "open", "size": 100, "sort": "due"})
    with django_assert_max_num_queries(QUERIES_A_PAGE):
        client.get(INBOX, {"queue": "mine", "size": 50, "tag": "topic 1", "segment": "CN"})
    # A search adds one query, for the snippets, whatever the page's size; on PostgreSQL eight
    # more (conversations.search.plan): a probe of the newest conversations finds the term
    # common in messages, the subjects that hold it are counted, and the probe, the count and
    # the page each run between two planner settings.
    searching = 9 if connection.vendor == "postgresql" else 1
    assert _queries(client, queue="open", size=100, q="merhaba") == full + searching
    assert _queries(client, queue="open", size=25, q="merhaba") == full + searching
    with django_assert_max_num_queries(QUERIES_A_PAGE + searching):
        client.get(INBOX, {"queue": "open", "q": "filed", "tag": "topic 1", "sort": "due"})


# --- Bulk actions -----------------------------------------------------------------------------


def trail_since(conversation: Conversation, mark: int) -> list[tuple]:
    return [
        (a.verb, a.detail, a.actor_id, a.automatic)
        for a in Activity.objects.filter(conversation=conversation, pk__gt=mark).order_by("pk")
    ]


def last_activity() -> int:
    return Activity.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def prepare_nothing(c, users):
    return None


def prepare_assigned(c, users):
    workflow.conversation_assign(conversation=c, assignee=users["lead"], actor=users["lead"])


def prepare_tagged(c, users):
    workflow.conversation_add_tag(conversation=c, name="Kargo", actor=users["lead"])


BULK = {
    # action: (bulk fields, single view, single fields, prepare, check)
    "assign_me": (
        {},
        "assign",
        {"assignee": "me"},
        prepare_nothing,
        lambda c, u: c.assignee_id == u["agent"].pk,
    ),
    "assign": (
        {"assignee": "{lead}"},
        "assign",
        {"assignee": "{lead}"},
        prepare_nothing,
        lambda c, u: c.assignee_id == u["lead"].pk,
    ),
    "unassign": (
        {},
        "assign",
        {"assignee": "none"},
        prepare_assigned,
        lambda c, u: c.assignee_id is None,
    ),
    "status": (
        {"status": "on_hold"},
        "status",
        {"status": "on_hold"},
        prepare_nothing,
        lambda c, u: c.status == "on_hold",
    ),
    "tag_add": (
        {"tag": "Kargo Gecikmesi"},
        "tag_add",
        {"tag": "Kargo Gecikmesi"},
        prepare_nothing,
        lambda c, u: list(c.tags.values_list("name", flat=True)) == ["kargo gecikmesi"],
    ),
    "tag_remove": (
        {"tag": "KARGO"},
        "tag_remove",
        {"tag": "KARGO"},
        prepare_tagged,
        lambda c, u: not c.tags.exists(),
    ),
}


def test_every_bulk_action_of_the_form_is_tested(client_for, agent):
    form = client_for(agent).get(INBOX).content.decode()
    menu = form.split('id="bulk-action"', 1)[1].split("</select>", 1)[0]
    offered = set(re.findall(r'<option value="(\w+)"', menu))
    assert offered == set(BULK)


@pytest.mark.parametrize("action", list(BULK))
def test_bulk_changes_each_selected_conversation_with_the_single_changes_trail(
    client_for, agent, lead, acme, globex, action
):
    users = {"agent": agent, "lead": lead}
    bulk_fields, single_view, single_fields, prepare, check = BULK[action]
    rows = [filed(acme, 1), filed(globex, 2), filed(acme, 3)]
    single, untouched = filed(globex, 4), filed(acme, 5)
    for c in [*rows, single, untouched]:
        prepare(c, users)
    client = client_for(agent)

    def fill(fields):
        return {k: v.format(lead=lead.pk) for k, v in fields.items()}

    mark = last_activity()
    response = client.post(
        reverse("desk:bulk"),
        {"ids": [str(c.pk) for c in rows], "action": action, **fill(bulk_fields)},
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Changed 3 conversations."]
    response = client.post(
        reverse(f"desk:{single_view}", kwargs={"pk": single.pk}), fill(single_fields)
    )
    assert response.status_code == 302

    expected = trail_since(single, mark)
    assert len(expected) == 1
    for c in rows:
        c.refresh_from_db()
        assert check(c, users), c
        assert trail_since(c, mark) == expected
    untouched.refresh_from_db()
    assert trail_since(untouched, mark) == []


def test_bulk_pending_leaves_the_status_and_the_deadline_like_the_single_change(
    client_for, agent, acme
):
    rows = [filed(acme, 1), filed(acme, 2)]
    single = filed(acme, 3)
    client = client_for(agent)
    mark = last_activity()
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        bulk = {"ids": [rows[0].pk, rows[1].pk], "action": "status", "status": "pending"}
        client.post(reverse("desk:bulk"), bulk)
        client.post(reverse("desk:status", kwargs={"pk": single.pk}), {"status": "pending"})
    expected = trail_since(single, mark)
    assert [verb for verb, *_ in expected] == ["status", "deadline"]
    for c in rows:
        c.refresh_from_db()
        assert c.status == "pending"
        assert c.merchant_due_at == T0 + timedelta(days=9)
        assert trail_since(c, mark) == expected


def test_bulk_leaves_no_trail_where_nothing_changes(client_for, agent, acme):
    mine = set_up(filed(acme, 1), agent, assignee=agent)
    other = filed(acme, 2)
    mark = last_activity()
    client_for(agent).post(
        reverse("desk:bulk"), {"ids": [mine.pk, other.pk], "action": "assign_me"}
    )
    assert trail_since(mine, mark) == []
    assert [verb for verb, *_ in trail_since(other, mark)] == ["assigned"]


def test_bulk_ignores_ids_that_do_not_exist(client_for, agent, acme):
    c = filed(acme, 1)
    response = client_for(agent).post(
        reverse("desk:bulk"),
        {"ids": [str(c.pk), "999999", "abc", "", "-3", f"{c.pk}.0"], "action": "assign_me"},
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Changed 1 conversation."]
    c.refresh_from_db()
    assert c.assignee_id == agent.pk
    assert Activity.objects.filter(verb="assigned").count() == 1


def test_bulk_with_no_existing_ids_changes_nothing(client_for, agent, acme):
    c = filed(acme, 1)
    mark = last_activity()
    response = client_for(agent).post(
        reverse("desk:bulk"), {"ids": ["999999", "0"], "action": "assign_me"}
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Select at least one conversation."
    ]
    assert trail_since(c, mark) == []


def test_bulk_with_an_unknown_action_changes_nothing(client_for, agent, acme):
    c = filed(acme, 1)
    mark = last_activity()
    response = client_for(agent).post(reverse("desk:bulk"), {"ids": [c.pk], "action": "delete"})
    assert response.status_code == 302
    assert trail_since(c, mark) == []


def test_bulk_is_for_staff_only(client_for, alice, acme_conversation):
    c = acme_conversation
    mark = last_activity()
    for user in (alice, None):
        response = client_for(user).post(
            reverse("desk:bulk"), {"ids": [c.pk], "action": "status", "status": "solved"}
        )
        assert response.status_code == (403 if user else 302)
    c.refresh_from_db()
    assert c.status == "new"
    assert trail_since(c, mark) == []


def test_bulk_by_get_changes_nothing(client_for, agent, acme_conversation):
    c = acme_conversation
    response = client_for(agent).get(reverse("desk:bulk"), {"ids": [c.pk], "action": "assign_me"})
    assert response.status_code == 405
    c.refresh_from_db()
    assert c.assignee_id is None


def test_bulk_returns_to_the_inbox_page_it_came_from_on_this_site_only(
    client_for, agent, acme_conversation
):
    client = client_for(agent)
    data = {"ids": [acme_conversation.pk], "action": "assign_me"}
    back = "/desk/?queue=mine&sort=newest"
    assert client.post(reverse("desk:bulk"), {**data, "next": back})["Location"] == back
    outside = client.post(reverse("desk:bulk"), {**data, "next": "https://evil.example/desk/"})
    assert outside["Location"] == reverse("desk:inbox")


OUT_OF_RANGE = {
    "before year 1 in UTC": _cursor(["0001-01-01T00:30:00+01:00", 1]),
    "after year 9999 in UTC": _cursor(["9999-12-31T23:30:00-01:00", 1]),
}


@pytest.mark.parametrize("sort", selectors.SORTS)
@pytest.mark.parametrize("cursor", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
def test_a_cursor_off_the_calendar_is_not_found(client_for, agent, acme_conversation, cursor, sort):
    response = client_for(agent).get(INBOX, {"queue": "open", "sort": sort, "cursor": cursor})
    assert response.status_code == 404


@pytest.mark.parametrize("assignee", ["999999", "²", str(2**63), str(10**30)])
def test_an_assignee_id_nobody_has_is_an_empty_page(client_for, agent, spread, assignee):
    response = client_for(agent).get(INBOX, {"queue": "open", "assignee": assignee})
    assert response.status_code == 200
    assert pks(response) == []


@pytest.mark.parametrize("bad", ["²", str(2**63), str(10**30)])
def test_bulk_ignores_ids_that_are_not_ids(client_for, agent, acme, bad):
    c = filed(acme, 1)
    response = client_for(agent).post(
        reverse("desk:bulk"), {"ids": [str(c.pk), bad], "action": "assign_me"}
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Changed 1 conversation."]
    c.refresh_from_db()
    assert c.assignee_id == agent.pk


def test_a_cursor_id_no_database_key_holds_is_not_found(client_for, agent, acme_conversation):
    cursor = _cursor(["2999-01-01T00:00:00+00:00", 10**30])
    response = client_for(agent).get(INBOX, {"queue": "open", "cursor": cursor})
    assert response.status_code == 404
