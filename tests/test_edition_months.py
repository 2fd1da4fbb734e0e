"""An edition's monthly figures come from one grouped pass of the engine; they must be what
a run of the engine over each month alone gives (as editions computed them before), on a
varied history: months in a time zone east of UTC, overlapping segments, reopened
conversations, status changes after an as_of in the middle of the period, conversations on
the month boundaries, spam and outreach."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sellerdesk.conversations.models import Conversation
from sellerdesk.reports import editions, engine, population, services
from sellerdesk.reports.config import build_params
from sellerdesk.reports.editions import compute_figures, month_starts, parse_config_text
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.monthly import months_by_engine_runs
from tests.builders import import_ok, message, status

CONFIG = """timezone = "Europe/Istanbul"
top = 3
[[segment]]
name = "Türkiye"
countries = ["TR"]
[[segment]]
name = "EU"
countries = ["EU"]
[[segment]]
name = "China and Türkiye"
countries = ["CN", "TR"]
[[segment]]
name = "All merchants"
countries = ["*"]
[[topic]]
name = "Cancel an order"
any = [["order_cancel"]]
"""
PERIOD = ("2022-01-01", "2023-01-01")
#: In the middle of August (Istanbul time): later months are not in the edition, August is cut.
AS_OF = "2022-08-15T12:00:00+03:00"
COUNTRIES = ("TR", "DE", "FR", "CN", "US", "BR")
KINDS = ("question", "request", "proposal", "complaint")


def _history(count: int = 400, seed: int = 7) -> list[dict[str, Any]]:
    """Conversations from December 2021 to January 2023; half the responses a fraction of a
    second after a whole second (sums of such durations as doubles would depend on the order
    a database adds them in)."""
    rnd = random.Random(seed)
    first = datetime(2021, 12, 20, tzinfo=UTC)
    span = int((datetime(2023, 1, 10, tzinfo=UTC) - first).total_seconds())
    # On the boundaries of the months in Istanbul (21:00 UTC the day before) and a second
    # before them.
    edges = [datetime(2022, m, 1, tzinfo=UTC) - timedelta(hours=3) for m in range(1, 13)]
    moments = [*edges, *(e - timedelta(seconds=1) for e in edges)]
    moments += [first + timedelta(seconds=rnd.randrange(span)) for _ in range(count)]
    items = []
    for n, created in enumerate(moments):
        country = rnd.choice(COUNTRIES)
        obj: dict[str, Any] = {
            "id": f"h-{n}",
            "merchant": {"id": f"m-{country}-{n % 5}", "name": "Shop", "country": country},
            "channel": rnd.choice(["chat", "email"]),
            "kind": rnd.choice(KINDS),
            "created_at": created.isoformat(),
            "subject": "Help",
            "tags": rnd.sample(["order_cancel", "refund", "payout", "listing"], rnd.randint(0, 2)),
            "messages": [message("1", author="merchant", created_at=created.isoformat())],
            "status_changes": [],
        }
        if rnd.random() < 0.05:
            obj["spam"] = True
        if rnd.random() < 0.05:
            obj["initiated_by"] = "support"
        if obj["kind"] == "complaint" and rnd.random() < 0.7:
            obj["outcome"] = rnd.choice(["upheld", "rejected", "withdrawn"])
        if rnd.random() < 0.8:
            reply = created + timedelta(seconds=rnd.choice([30, 600, 5400, 86_400 * 3]))
            reply += timedelta(seconds=rnd.randrange(7200))
            if rnd.random() < 0.5:  # sub-second: the means' sums must still agree exactly
                reply += timedelta(microseconds=rnd.randrange(1, 1_000_000))
            obj["messages"].append(message("r", created_at=reply.isoformat()))
        at = created
        # Solved, sometimes reopened and solved again: some of it after as_of.
        for _ in range(rnd.choice([0, 1, 1, 2, 3])):
            at += timedelta(seconds=rnd.randrange(60, 86_400 * 20))
            obj["status_changes"].append(status("solved", at.isoformat()))
            if rnd.random() < 0.4:
                at += timedelta(seconds=rnd.randrange(60, 86_400 * 10))
                obj["status_changes"].append(status("open", at.isoformat()))
            else:
                break
        items.append(obj)
    return items


_per_month_runs = months_by_engine_runs


def _params(as_of: str = AS_OF, start: str = PERIOD[0], end: str = PERIOD[1]) -> Any:
    config, _ = parse_config_text(CONFIG)
    return build_params(config, start, end, as_of)


def _check(params: Any) -> list[dict[str, Any]]:
    report, months = compute_figures(params)
    assert report == compute_report(params).as_dict()
    assert months == _per_month_runs(params)
    return months


def _assert_varied(months: list[dict[str, Any]]) -> None:
    """The data exercise what the comparison is about."""
    assert [m["month"] for m in months] == [f"2022-{n:02}" for n in range(1, 9)]
    segments = [s for m in months for s in m["segments"]]
    assert all(s["conversations"] > 0 for s in segments)
    timed = [s for s in segments if s["first_response_seconds"]["median"] is not None]
    assert len(timed) >= 0.9 * len(segments)
    resolved_medians = {
        s["resolution_seconds"]["median"] for m in months for s in m["segments"]
    } - {None}
    assert len(resolved_medians) > 10


# The engine shares its snapshot between connections (and so runs its statements on
# threads) only outside a transaction: a transactional test exercises that path on
# PostgreSQL; the plain one the single-connection path.
@pytest.mark.django_db(transaction=True)
def test_the_grouped_months_are_the_engine_over_each_month_on_its_snapshot():
    import_ok(*_history())
    _assert_varied(_check(_params()))


def test_the_grouped_months_are_the_engine_over_each_month_in_a_transaction(db, monkeypatch):
    # Three pivots per stage of the median search (``population.PIVOTS``): bounds in both.
    monkeypatch.setattr(population, "PIVOTS", 3)
    import_ok(*_history(seed=11))
    seconds = Conversation.objects.values_list("first_response_seconds", flat=True)
    assert any(v is not None and v != int(v) for v in seconds)
    months = _check(_params())
    _assert_varied(months)
    # An as_of after the period: every month, none cut; an as_of on a month's first instant:
    # that month is in (it may hold a conversation filed at that very instant).
    assert len(_check(_params(as_of="2023-06-01T00:00:00+00:00"))) == 12
    assert [m["month"] for m in _check(_params(as_of="2022-03-01T00:00:00+03:00"))][-1] == (
        "2022-03"
    )
    # A period that is not whole months, and one of a single month.
    _check(_params(start="2022-02-10", end="2022-05-20"))
    assert len(_check(_params(start="2022-04-01", end="2022-05-01"))) == 1


def test_a_month_without_conversations_has_zeros_and_no_times(db):
    may = (datetime(2022, 4, 30, 21, tzinfo=UTC), datetime(2022, 5, 31, 21, tzinfo=UTC))
    kept = [
        c
        for c in _history(seed=3)
        if not may[0] <= datetime.fromisoformat(c["created_at"]) < may[1]
    ]
    import_ok(*kept)
    months = {m["month"]: m for m in _check(_params())}
    segments = months["2022-05"]["segments"]
    assert all(s["conversations"] == 0 for s in segments)
    assert all(s["first_response_seconds"] == {"mean": None, "median": None} for s in segments)
    assert all(s["conversations"] > 0 for s in months["2022-04"]["segments"])


def _tied_history(count: int) -> list[dict[str, Any]]:
    """Responses and solves after one of three whole durations, so that equal values lie in
    every month (each middle rank of the period falls among ties spread over months); the
    EU's conversations (DE) all in March, the last one the only one at the end of the year."""
    rnd = random.Random(count)
    items = []
    for n in range(count):
        country = rnd.choice(["TR", "CN", "US"]) if n % 9 else "DE"
        month = 3 if country == "DE" else rnd.randrange(1, 13)
        if n == count - 1:
            country, month = "DE", 12
        created = datetime(2022, month, rnd.randrange(1, 28), 12, tzinfo=UTC)
        delay = timedelta(seconds=rnd.choice([60, 120, 600]))
        obj: dict[str, Any] = {
            "id": f"t-{n}",
            "merchant": {"id": f"m-{country}", "name": "Shop", "country": country},
            "channel": "chat",
            "kind": rnd.choice(KINDS),
            "created_at": created.isoformat(),
            "subject": "Help",
            "tags": [],
            "messages": [
                message("1", author="merchant", created_at=created.isoformat()),
                message("r", created_at=(created + delay).isoformat()),
            ],
            "status_changes": [status("solved", (created + 2 * delay).isoformat())],
        }
        items.append(obj)
    return items


@pytest.mark.parametrize(("count", "pivots"), [(121, 1), (122, 2), (121, 7), (122, 64)])
def test_the_periods_medians_from_the_months_sorted_values_among_ties(
    db, monkeypatch, count, pivots
):
    """An edition's period medians come from each month's sorted values (``population.
    population_figures``, ``pivots`` pivots per stage of its search): equal to ``percentile_cont`` over
    the period with ties across months, odd and even counts, a segment whose values lie in
    one or two months, and one with none in a period."""
    monkeypatch.setattr(population, "PIVOTS", pivots)
    import_ok(*_tied_history(count))
    for as_of in (AS_OF, "2023-06-01T00:00:00+00:00", "2022-03-20T00:00:00+03:00"):
        _check(_params(as_of=as_of))
    _check(_params(start="2022-05-01", end="2022-07-01"))
    eu = compute_report(_params(start="2022-05-01", end="2022-07-01")).segments[1]
    assert eu.conversations == 0
    assert eu.first_response.median is None
    # The whole year: every conversation responded (an odd count, then an even one).
    whole = compute_report(_params(as_of="2023-06-01T00:00:00+00:00")).segments[-1]
    assert whole.responded == count
    assert whole.first_response.median in (60.0, 90.0, 120.0, 360.0, 600.0)


def test_an_edition_runs_the_engine_once(db, lead, monkeypatch):
    import_ok(*_history(count=50))
    calls = []
    real = engine.compute_report

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(editions, "compute_report", counted)
    edition = services.edition_create(
        actor=lead, series="months", title="Months", start=PERIOD[0], end=PERIOD[1],
        as_of=AS_OF, config_text=CONFIG,
    )  # fmt: skip
    assert len(calls) == 1
    services.edition_publish(actor=lead, edition=edition)
    assert len(calls) == 2
    assert edition.monthly == _per_month_runs(_params())


def test_the_grouped_months_run_a_fixed_number_of_statements(db):
    import_ok(*_history(count=50))
    params = _params()
    with CaptureQueriesContext(connection) as plain:
        compute_report(params)
    with CaptureQueriesContext(connection) as with_months:
        compute_report(params, months=month_starts(params))

    # Whatever the number of months: on PostgreSQL none (the period's statements group by
    # month as well; a few more SET LOCAL of the planner's costs), on SQLite the sums and the
    # histogram search's four (its population copied into a temporary table, its two
    # statements, the table dropped).
    def reads(captured: Any) -> int:
        return sum(1 for q in captured.captured_queries if not q["sql"].startswith("SET "))

    added = reads(with_months) - reads(plain)
    assert added == (0 if connection.vendor == "postgresql" else 5)


def test_a_conversations_month_is_the_number_of_cuts_at_or_before_it(db):
    """The population's month number (``_Query.month_column``: a binary search over the cuts
    on PostgreSQL, a CASE elsewhere) on each side of every cut, to the microsecond, at the
    period's bounds and with a single cut."""
    from sellerdesk.reports.engine import _Query

    for end in (PERIOD[1], "2022-03-01"):
        params = _params(end=end)
        query = _Query(params, connection.vendor, connection.ops.adapt_datetimefield_value)
        query.month_cuts = month_starts(params)
        column, args = query.month_column()
        assert ("width_bucket" in column) == (connection.vendor == "postgresql")
        inner = query.month_cuts[1:-1]
        assert len(inner) == (11 if end == PERIOD[1] else 1)
        instants = [params.start, params.end - timedelta(microseconds=1)]
        for cut in inner:
            instants += [cut - timedelta(microseconds=1), cut, cut + timedelta(seconds=1)]
        created = "CAST(%s AS timestamptz)" if connection.vendor == "postgresql" else "%s"
        with connection.cursor() as cursor:
            for instant in instants:
                cursor.execute(
                    f"SELECT {column}1 FROM (SELECT {created} AS created_at) c",
                    [*args, query.adapt(instant)],
                )
                expected = sum(1 for cut in inner if cut <= instant)
                assert cursor.fetchone()[0] == expected, instant
