"""The report engine: report.md's figures computed in SQL over the stored facts.

Every segment is computed from the same read of the population, never by a Python loop over
conversations. On PostgreSQL one statement reads the population for the counts, means and
medians of every segment (``reports.population``); on SQLite two do (the counts and means
per country then per segment, and the medians by a histogram search, ``reports.medians``).
Then the top tags, the top tag pairs (stored as rows by the services) and the topics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connections, transaction

from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagPair,
    Kind,
    Outcome,
    ResolutionStretch,
    Tag,
)
from sellerdesk.core.db import read_snapshot
from sellerdesk.reports import business, medians, monthly, population
from sellerdesk.reports.business import BusinessClock
from sellerdesk.reports.config import ReportParams

SCHEMA = "sellerdesk.report/v1"
KINDS = [k.value for k in Kind]
OUTCOMES = [o.value for o in Outcome]
#: Durations are summed in whole microseconds (``_main_figures``).
MICROS = 1_000_000


@dataclass
class Timing:
    mean: float | None = None
    median: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "median": self.median}


@dataclass
class SegmentFigures:
    name: str
    entries: tuple[str, ...]
    conversations: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    responded: int = 0
    first_response: Timing = field(default_factory=Timing)
    resolved: int = 0
    resolution: Timing = field(default_factory=Timing)
    tags: list[tuple[str, int]] = field(default_factory=list)
    tag_pairs: list[tuple[str, str, int]] = field(default_factory=list)
    topics: list[tuple[str, int]] = field(default_factory=list)
    complaints: int = 0
    outcomes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys([*OUTCOMES, "undecided"], 0)
    )
    complaint_resolution: Timing = field(default_factory=Timing)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "conversations": self.conversations,
            "by_kind": dict(self.by_kind),
            "responded": self.responded,
            "first_response_seconds": self.first_response.as_dict(),
            "resolved": self.resolved,
            "resolution_seconds": self.resolution.as_dict(),
            "tags": [{"tag": t, "conversations": n} for t, n in self.tags],
            "tag_pairs": [{"tags": [a, b], "conversations": n} for a, b, n in self.tag_pairs],
            "topics": [{"name": t, "conversations": n} for t, n in self.topics],
            "complaints": {
                "count": self.complaints,
                "outcomes": dict(self.outcomes),
                "resolution_seconds": self.complaint_resolution.as_dict(),
            },
        }


@dataclass
class Report:
    params: ReportParams
    segments: list[SegmentFigures]
    #: Durations in business hours of this calendar (``team``: each team's); None: calendar
    #: time, as report.md defines them.
    business_hours: str | None = None
    #: With ``compute_report(months=...)``: each month's counts and times (no lists), by the
    #: month's number (a month with no conversation is there, with zeros).
    months: dict[int, list[SegmentFigures]] | None = None

    def as_dict(self) -> dict[str, Any]:
        zone = self.params.config.zone
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "period": {
                "start": self.params.start.astimezone(zone).isoformat(),
                "end": self.params.end.astimezone(zone).isoformat(),
            },
            "as_of": self.params.as_of.astimezone(zone).isoformat(),
        }
        if self.business_hours is not None:
            document["business_hours"] = self.business_hours
        document["segments"] = [s.as_dict() for s in self.segments]
        return document


def _t(model: Any) -> str:
    return str(model._meta.db_table)


class _Query:
    """The shared pieces of the report's statements, with their parameters in order."""

    def __init__(
        self, params: ReportParams, vendor: str, adapt: Any, clock: BusinessClock | None = None
    ) -> None:
        self.params = params
        self.vendor = vendor
        self.adapt = adapt
        #: Set: durations are measured in business hours (``reports.business``).
        self.clock = clock
        # Normalized names sort by code point: PostgreSQL's "C" collation, SQLite's default.
        self.collate = ' COLLATE "C"' if vendor == "postgresql" else ""
        #: Set (the period cut at each month, ``editions.month_starts``): the population
        #: also carries ``m``, the number of the month each conversation was filed in.
        self.month_cuts: list[datetime] | None = None
        #: With month cuts on PostgreSQL: where the period's own statements put each month's
        #: figures as well (``compute_report(months=...)``).
        self.months: dict[int, list[SegmentFigures]] | None = None

    def month_column(self) -> tuple[str, list[Any]]:
        """``<month number> AS m, `` for the population's SELECT (empty without month cuts):
        its first column (``_population`` says why).

        A conversation's month is the number of the last cut at or before its created_at:
        the same [start, end) bounds a run of the engine over that month alone applies."""
        cuts = self.month_cuts
        if cuts is None:
            return "", []
        inner = cuts[1:-1]
        if not inner:
            return "0 AS m, ", []
        args = [self.adapt(cut) for cut in inner]
        if self.vendor == "postgresql":
            # The same number by a binary search over the (ascending) cuts, how many of them
            # lie at or before created_at: about four comparisons per conversation rather
            # than up to one per cut, in both statements that group by month.
            cuts_sql = ", ".join(["%s"] * len(inner))
            return f"width_bucket(c.created_at, ARRAY[{cuts_sql}]::timestamptz[]) AS m, ", args
        whens = " ".join(f"WHEN c.created_at < %s THEN {index}" for index in range(len(inner)))
        return f"CASE {whens} ELSE {len(inner)} END AS m, ", args

    def segments_cte(self) -> tuple[str, list[Any]]:
        """seg(seg, country): one row per country of each segment (``*`` = every code)."""
        rows: list[Any] = []
        for index, segment in enumerate(self.params.config.segments):
            for country in sorted(segment.countries):
                rows.extend([index, country])
        values = ", ".join(["(%s, %s)"] * (len(rows) // 2))
        return f"seg(seg, country) AS (VALUES {values})", rows

    def period(self, alias: str) -> tuple[str, list[Any]]:
        """created_at in [start, end) and not after as_of."""
        p = self.params
        return (
            f"{alias}.created_at >= %s AND {alias}.created_at < %s AND {alias}.created_at <= %s",
            [self.adapt(p.start), self.adapt(p.end), self.adapt(p.as_of)],
        )

    #: Set by compute_report: whether any conversation changed status after as_of.
    changed_after_as_of = True

    def population_cte(self, *, lookup_join: bool = False) -> tuple[str, list[Any]]:
        """pop: the conversations the report counts (report.md, "Population"), with their
        first-response and resolution seconds as of as_of.

        The facts stored for "now" hold at as_of unless a status change came after it; only
        then is the stretch that covered as_of looked up (one indexed probe). The WHERE
        repeats the partial index's condition literally so that both databases use it.

        In business hours, the same rows (``pop_cal``) with each conversation's instants
        (created_at, plus its calendar seconds) measured again on its calendar.

        ``lookup_join``: the stretch at as_of joined, not looked up by a sub-plan (see
        ``_population``).
        """
        if self.clock is None:
            return self._population("pop", "", lookup_join=lookup_join)
        clock = self.clock
        extra = f", c.team_id AS team_id, {business.epoch(self.vendor, 'c.created_at')} AS ce"
        inner, args = self._population("pop_cal", extra, split=False)
        key = "%s"
        key_args: list[Any] = [clock.default_key]
        if clock.team_keys:
            cases = " ".join(["WHEN %s THEN %s"] * len(clock.team_keys))
            key = f"CASE p.team_id {cases} ELSE %s END"
            key_args = [v for item in sorted(clock.team_keys.items()) for v in item]
            key_args.append(clock.default_key)
        sql = f"""{inner},
            pop_key AS (SELECT p.*, {key} AS ck FROM pop_cal p),
            pop_at AS (SELECT q.*, {business.cumulative("q.ce", "q.ck")} AS c0 FROM pop_key q),
            pop AS (SELECT r.country, r.kind, r.outcome,
                CASE WHEN r.fr IS NOT NULL
                  THEN {business.cumulative("(r.ce + r.fr)", "r.ck")} - r.c0 END AS fr,
                CASE WHEN r.res IS NOT NULL
                  THEN {business.cumulative("(r.ce + r.res)", "r.ck")} - r.c0 END AS res
              FROM pop_at r)"""
        return sql, [*args, *key_args]

    def _population(
        self,
        name: str,
        extra: str,
        *,
        split: bool = True,
        lookup_join: bool = False,
    ) -> tuple[str, list[Any]]:
        as_of = self.adapt(self.params.as_of)
        period, period_args = self.period("c")
        month, month_args = self.month_column()
        if month and extra:
            raise ValueError("month by month is computed in calendar time only")

        # The month is each SELECT's first column (its parameters the first): PostgreSQL
        # scans a UNION ALL branch under a Subquery Scan that only reorders its columns when
        # they are not in the order the statement reads them, a step per row (about 0.05 s
        # of CPU at 1M conversations), and it reads pop.m first (the group).
        def select(res: str, condition: str = "", join: str = "") -> str:
            return f"""SELECT {month}c.country, c.kind, c.outcome,
                  CASE WHEN c.first_response_at <= %s THEN c.first_response_seconds END AS fr,
                  {res} AS res{extra}
                FROM {_t(Conversation)} c{join}
                WHERE c.initiated_by = 'merchant' AND NOT c.spam AND {period}{condition}"""

        lookup = f"""(SELECT rs.started_seconds FROM {_t(ResolutionStretch)} rs
                   WHERE rs.conversation_id = c.id AND rs.started_at <= %s
                     AND (rs.ended_at IS NULL OR rs.ended_at > %s))"""
        if not self.changed_after_as_of:
            # Nothing changed status after as_of: the stored facts are the facts then. A
            # plain column (no sub-plan) also lets PostgreSQL aggregate in parallel.
            return f"{name} AS ({select('c.resolution_seconds')})", [
                *month_args,
                as_of,
                *period_args,
            ]
        if not split or "pop_now" not in self.population_parts():
            res = f"""CASE WHEN c.status_changed_at IS NULL OR c.status_changed_at <= %s
                   THEN c.resolution_seconds ELSE {lookup} END"""
            return f"{name} AS ({select(res)})", [
                *month_args,
                *[as_of] * 4,
                *period_args,
            ]
        # Apart, pop_now (nearly all of it) is read by PostgreSQL's parallel workers: no
        # worker may run the look-up's sub-plan, which would hold the whole scan to one.
        now = select(
            "c.resolution_seconds",
            " AND (c.status_changed_at IS NULL OR c.status_changed_at <= %s)",
        )
        then = select(lookup, " AND c.status_changed_at > %s")
        then_args = [*month_args, as_of, as_of, as_of, *period_args, as_of]
        if lookup_join:
            # The stretch that covered as_of joined rather than looked up by a sub-plan (which
            # no parallel worker may run): pop_then may then be read beside pop_now by the
            # same parallel workers. At most one stretch covers an instant (a sub-plan finding
            # two would fail the report's other statements).
            then = select(
                "lk.started_seconds",
                " AND c.status_changed_at > %s",
                f""" LEFT JOIN {_t(ResolutionStretch)} lk ON lk.conversation_id = c.id
                  AND lk.started_at <= %s AND (lk.ended_at IS NULL OR lk.ended_at > %s)""",
            )  # its parameters as the look-up's, in the same order
        sql = f"""pop_now AS NOT MATERIALIZED ({now}),
            pop_then AS NOT MATERIALIZED ({then}),
            pop AS (SELECT * FROM pop_now UNION ALL SELECT * FROM pop_then)"""
        return sql, [*month_args, as_of, *period_args, as_of, *then_args]

    def population_parts(self) -> list[str]:
        """The CTEs of ``population_cte`` whose rows together are pop's, each small enough
        (or plain enough) to be aggregated on its own; sums and counts add up across them."""
        if self.vendor == "postgresql" and self.changed_after_as_of and self.clock is None:
            return ["pop_now", "pop_then"]
        return ["pop"]

    @staticmethod
    def with_clause(*parts: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
        sqls = [sql for sql, _ in parts]
        args = [arg for _, part_args in parts for arg in part_args]
        return "WITH " + ",\n".join(sqls), args


def compute_report(
    params: ReportParams,
    *,
    using: str = "default",
    lists: bool = True,
    months: list[datetime] | None = None,
) -> Report:
    """The report's figures for every segment, read in one snapshot of the database.

    ``lists=False`` leaves out the top tags, tag pairs and topics (empty lists): for callers
    that need only the counts and times.

    ``months``: the period cut at each month (``editions.month_starts``; first and last are
    the period's bounds). The report then also holds, for each month from the first to the
    one as_of falls in, the counts and times a run over that month alone would give
    (``Report.months``), computed in the same snapshot (``reports.monthly``: on PostgreSQL
    by the period's own statements, grouped by month as well; on SQLite by three statements
    more)."""
    connection = connections[using]
    clock = None
    if params.business_hours is not None:
        # The window tables are written before the report's read-only snapshot opens.
        # Every instant measured lies in [start, as_of].
        clock = business.business_clock(
            params.business_hours, params.start, max(params.start, params.as_of)
        )
    query = _Query(params, connection.vendor, connection.ops.adapt_datetimefield_value, clock)
    figures = [SegmentFigures(s.name, s.entries) for s in params.config.segments]
    by_month: dict[int, list[SegmentFigures]] = {}
    monthly_steps: list[_Step] = []
    month_query = query
    if months is not None:
        if clock is not None:
            raise ValueError("month by month is computed in calendar time only")
        if months[0] != params.start or months[-1] != params.end:
            raise ValueError("the month cuts must start and end with the period")
        by_month = {
            index: [SegmentFigures(s.name, s.entries) for s in params.config.segments]
            for index, start in enumerate(months[:-1])
            if start <= params.as_of
        }
        if connection.vendor == "postgresql":
            # The period's own statement groups by month as well (``population``): the
            # population is read no more than for the engine.
            query.month_cuts = list(months)
            query.months = by_month
        else:
            month_query = _Query(
                params, connection.vendor, connection.ops.adapt_datetimefield_value
            )
            month_query.month_cuts = list(months)
            monthly_steps = [
                lambda cursor, _q, _f: monthly.monthly_sums(cursor, month_query, by_month),
                lambda cursor, _q, _f: monthly.monthly_medians(cursor, month_query, by_month),
            ]
    queries = [query, month_query] if month_query is not query else [query]
    # Every statement but the first (did anything change after as_of?) fills figures of its
    # own. Where the database lets several connections read one snapshot, they run side by
    # side, in groups: the figures read from the population on one connection (on PostgreSQL
    # one statement, with each month's; on SQLite the medians, the one statement that
    # sorts, apart from the counts and sums), the tag pairs and topics on another, the tags
    # on a third; on SQLite the months' statements, which sort about as many values as the
    # medians, on a fourth. Not inside a caller's transaction: its own writes would be
    # missing from the snapshot.
    groups: list[list[_Step]]
    if connection.vendor == "postgresql":
        groups = (
            [[_top_tags], [population.population_figures], [_top_pairs, _topics]]
            if lists
            else [[population.population_figures]]
        )
    else:
        groups = (
            [[_main_figures, _top_tags], [_medians], [_top_pairs, _topics]]
            if lists
            else [[_main_figures], [_medians]]
        )
    if monthly_steps:
        groups.append(monthly_steps)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        _in_one_postgresql_snapshot(using, groups, queries, figures)
    elif _sqlite_may_share(connection):
        _in_one_sqlite_snapshot(using, groups, queries, figures)
    else:
        with read_snapshot(connection), connection.cursor() as cursor:
            _tune(cursor, query.vendor)
            _note_changes_after_as_of(cursor, queries)
            for steps in groups:
                for step in steps:
                    step(cursor, query, figures)
    return Report(
        params=params,
        segments=figures,
        business_hours=clock.label if clock else None,
        months=by_month if months is not None else None,
    )


def _note_changes_after_as_of(cursor: Any, queries: list[_Query]) -> None:
    """Whether any conversation changed status after as_of (the stretch look-up's fast path),
    read in the report's snapshot."""
    cursor.execute(
        f"SELECT 1 FROM {_t(Conversation)} WHERE status_changed_at > %s LIMIT 1",
        [queries[0].adapt(queries[0].params.as_of)],
    )
    changed = cursor.fetchone() is not None
    for query in queries:
        query.changed_after_as_of = changed


def _in_one_postgresql_snapshot(
    using: str, groups: list[list[_Step]], queries: list[_Query], figures: list[SegmentFigures]
) -> None:
    """The first group on this connection, the others on connections of their own that import
    its snapshot (``pg_export_snapshot``)."""
    connection = connections[using]
    query = queries[0]
    with read_snapshot(connection, repeatable=True), connection.cursor() as cursor:
        _tune(cursor, query.vendor)
        _note_changes_after_as_of(cursor, queries)
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        here, *beside = groups
        with ThreadPoolExecutor(max_workers=max(1, len(beside))) as pool:
            done = [
                pool.submit(_on_snapshot, using, snapshot, steps, query, figures)
                for steps in beside
            ]
            for step in here:
                step(cursor, query, figures)
            for future in done:
                future.result()


def _sqlite_may_share(connection: Any) -> bool:
    """Whether the report may read this SQLite database on several connections: a file
    (not an in-memory database, which each connection would see empty or shared-cache
    locked), outside any transaction of the caller's."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return False
    connection.ensure_connection()
    if connection.connection.in_transaction:
        return False
    name = str(connection.settings_dict["NAME"])
    return not (name == ":memory:" or "mode=memory" in name)


#: How long the report's SQLite readers may take to open their snapshots.
_SNAPSHOT_WAIT_S = 30.0


def _in_one_sqlite_snapshot(
    using: str, groups: list[list[_Step]], queries: list[_Query], figures: list[SegmentFigures]
) -> None:
    """Each group on a connection of its own, in threads, every connection reading the same
    snapshot of the SQLite database, so that SQLite's statements use the machine's cores.

    SQLite cannot hand a snapshot to another connection (PostgreSQL exports one), so the
    readers all open theirs while nothing can commit: this connection holds the write lock
    (``BEGIN IMMEDIATE``, waiting for a writer already at work) for the few milliseconds it
    takes each reader to start a read transaction and read its first page; then it lets
    go, and writers go on beside the readers (WAL). This connection reads nothing after.
    """
    connection = connections[using]
    query = queries[0]
    opened = threading.Barrier(len(groups) + 1, timeout=_SNAPSHOT_WAIT_S)

    def read(steps: list[_Step]) -> None:
        own = connections[using]
        try:
            try:
                with own.cursor() as cursor:
                    cursor.execute("BEGIN DEFERRED")
                    cursor.execute(f"SELECT 1 FROM {_t(Conversation)} LIMIT 1")  # the snapshot
                    cursor.fetchall()
            except BaseException:
                opened.abort()
                raise
            opened.wait()
            with own.cursor() as cursor:
                try:
                    for step in steps:
                        step(cursor, query, figures)
                finally:
                    cursor.execute("COMMIT")
        finally:
            own.close()

    done: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=len(groups)) as pool, connection.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
        try:
            _note_changes_after_as_of(cursor, queries)
            done = [pool.submit(read, steps) for steps in groups]
            try:
                opened.wait()
            except threading.BrokenBarrierError:
                opened.abort()  # a reader failed to open its snapshot: it says why below
        finally:
            cursor.execute("COMMIT")
    failures = [exc for exc in (future.exception() for future in done) if exc is not None]
    if failures:
        # The reader that failed first, rather than the others it stopped waiting.
        failures.sort(key=lambda exc: isinstance(exc, threading.BrokenBarrierError))
        raise failures[0]


_Step = Callable[[Any, "_Query", list["SegmentFigures"]], None]


def _tune(cursor: Any, vendor: str) -> None:
    if vendor == "postgresql":
        # Short scans and aggregates: compiling them with JIT costs more than it saves
        # (about 0.3 s a statement at 1M conversations).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")


def _on_snapshot(
    using: str, snapshot: str, steps: list[_Step], query: _Query, figures: list[SegmentFigures]
) -> None:
    """Some of the report's statements on this thread's own connection, in the snapshot the
    report exported. Each statement fills figures of its own."""
    connection = connections[using]
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            _tune(cursor, query.vendor)
            for step in steps:
                step(cursor, query, figures)
    finally:
        connection.close()


def sum_micros(expr: str) -> str:
    """SQL summing a duration in seconds as whole microseconds (divide by ``MICROS``; see
    ``_mean``).

    A sum of doubles depends on the order the rows come in, to the last bit: a restored
    backup (the same rows, another physical order) gave a mean 2e-15 apart. The sum is of
    whole microseconds (the timestamps' precision) as integers, exact whatever the order
    (PostgreSQL accumulates int8 in 128 bits; SQLite's int64 holds 292,000 years): so too
    an edition's monthly means, summed per month rather than per run."""
    return f"SUM(CAST(ROUND({expr} * {MICROS}) AS BIGINT))"


def _main_figures(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """Counts and sums per country in one pass over the population, then per segment: every
    figure but the medians adds up across countries."""
    kinds = [f"SUM(CASE WHEN kind = '{k}' THEN 1 ELSE 0 END) AS k_{k}" for k in KINDS]
    outcomes = [
        f"SUM(CASE WHEN kind = 'complaint' AND outcome = '{o}' THEN 1 ELSE 0 END) AS o_{o}"
        for o in OUTCOMES
    ]
    outcomes.append(
        "SUM(CASE WHEN kind = 'complaint' AND outcome IS NULL THEN 1 ELSE 0 END) AS o_undecided"
    )
    total = sum_micros

    complaint_res = "CASE WHEN kind = 'complaint' THEN res END"
    per_country = ",\n".join([
        "COUNT(*) AS n", *kinds,
        "COUNT(fr) AS fr_n", f"{total('fr')} AS fr_sum",
        "COUNT(res) AS res_n", f"{total('res')} AS res_sum",
        *outcomes,
        "COUNT(CASE WHEN kind = 'complaint' THEN res END) AS cres_n",
        f"{total(complaint_res)} AS cres_sum",
    ])  # fmt: skip
    columns = ["n", *[f"k_{k}" for k in KINDS], "fr_n", "fr_sum", "res_n", "res_sum"]
    columns += [f"o_{o}" for o in [*OUTCOMES, "undecided"]] + ["cres_n", "cres_sum"]
    with_sql, args = query.with_clause(query.segments_cte(), query.population_cte())
    per_part = [
        f"SELECT country, {per_country} FROM {part} GROUP BY country"
        for part in query.population_parts()
    ]
    cursor.execute(
        f"""{with_sql},
        bc AS ({" UNION ALL ".join(per_part)})
        SELECT s.seg, {", ".join(f"SUM(bc.{c})" for c in columns)}
        FROM bc JOIN seg s ON s.country = bc.country
        GROUP BY s.seg""",
        args,
    )
    for row in cursor.fetchall():
        values = dict(zip(columns, row[1:], strict=True))
        figure = figures[row[0]]
        figure.conversations = int(values["n"])
        figure.by_kind = {k: int(values[f"k_{k}"] or 0) for k in KINDS}
        figure.complaints = figure.by_kind[Kind.COMPLAINT]
        figure.responded = int(values["fr_n"])
        figure.first_response.mean = mean_of_micros(values["fr_sum"], values["fr_n"])
        figure.resolved = int(values["res_n"])
        figure.resolution.mean = mean_of_micros(values["res_sum"], values["res_n"])
        figure.outcomes = {o: int(values[f"o_{o}"] or 0) for o in [*OUTCOMES, "undecided"]}
        figure.complaint_resolution.mean = mean_of_micros(values["cres_sum"], values["cres_n"])


def _medians(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """Medians rank each segment's values whole (see ``medians``): elsewhere than on
    PostgreSQL (which finds them with the other figures, ``population``), an exact two-step
    histogram search."""
    medians.medians_by_histogram(cursor, query, figures)


#: The largest LIMIT handed to the database: ``top`` has no upper bound in report.md, and one
#: past a 64-bit integer (``top = 99999999999999999999``) would fail there. No report has
#: this many tags or pairs, so the lists are the same.
SQL_LIMIT_MAX = 2**31 - 1


def sql_limit(top: int) -> int:
    return min(top, SQL_LIMIT_MAX)


def _top_tags(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """Counted per country from the tag rows' own copy of the population facts (an index
    scan, no join with conversations), then per segment, then ranked."""
    period, period_args = query.period("ct")
    with_sql, args = query.with_clause(query.segments_cte())
    cursor.execute(
        f"""{with_sql},
        tc AS (
          SELECT ct.country, ct.tag_id, COUNT(*) AS n
          FROM {_t(ConversationTag)} ct
          WHERE ct.counted AND {period}
          GROUP BY ct.country, ct.tag_id),
        st AS (
          SELECT s.seg, tc.tag_id, SUM(tc.n) AS n
          FROM tc JOIN seg s ON s.country = tc.country
          GROUP BY s.seg, tc.tag_id),
        ranked AS (
          SELECT st.seg, t.name, st.n,
            ROW_NUMBER() OVER (PARTITION BY st.seg ORDER BY st.n DESC, t.name{query.collate}) AS rn
          FROM st JOIN {_t(Tag)} t ON t.id = st.tag_id)
        SELECT seg, name, n FROM ranked WHERE rn <= %s ORDER BY seg, rn""",
        [*args, *period_args, sql_limit(query.params.config.top)],
    )
    for seg, name, count in cursor.fetchall():
        figures[seg].tags.append((name, int(count)))


def _top_pairs(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """As the tags, over the pair rows the services keep (no self-join)."""
    period, period_args = query.period("tp")
    with_sql, args = query.with_clause(query.segments_cte())
    cursor.execute(
        f"""{with_sql},
        pc AS (
          SELECT tp.country, tp.tag_a_id, tp.tag_b_id, COUNT(*) AS n
          FROM {_t(ConversationTagPair)} tp
          WHERE tp.counted AND {period}
          GROUP BY tp.country, tp.tag_a_id, tp.tag_b_id),
        sp AS (
          SELECT s.seg, pc.tag_a_id, pc.tag_b_id, SUM(pc.n) AS n
          FROM pc JOIN seg s ON s.country = pc.country
          GROUP BY s.seg, pc.tag_a_id, pc.tag_b_id),
        ranked AS (
          SELECT sp.seg, ta.name AS a, tb.name AS b, sp.n,
            ROW_NUMBER() OVER (PARTITION BY sp.seg
              ORDER BY sp.n DESC, ta.name{query.collate}, tb.name{query.collate}) AS rn
          FROM sp
          JOIN {_t(Tag)} ta ON ta.id = sp.tag_a_id
          JOIN {_t(Tag)} tb ON tb.id = sp.tag_b_id)
        SELECT seg, a, b, n FROM ranked WHERE rn <= %s ORDER BY seg, rn""",
        [*args, *period_args, sql_limit(query.params.config.top)],
    )
    for seg, a, b, count in cursor.fetchall():
        figures[seg].tag_pairs.append((a, b, int(count)))


def _topics(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """A conversation matches a topic when its tag rows cover every tag of one of the
    topic's sets; matches are counted once per topic, per country, then per segment."""
    topics = query.params.config.topics
    counts: dict[tuple[int, int], int] = {}
    names = sorted({name for topic in topics for tag_set in topic.any for name in tag_set})
    rows: list[Any] = []
    if names:
        cursor.execute(
            f"SELECT name, id FROM {_t(Tag)} WHERE name IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        ids = dict(cursor.fetchall())
        for t_index, topic in enumerate(topics):
            for s_index, tag_set in enumerate(topic.any):
                if all(name in ids for name in tag_set):  # a set with an unknown tag matches none
                    for name in tag_set:
                        rows.extend([t_index, s_index, ids[name], len(tag_set)])
    if rows:
        values = ", ".join(["(%s, %s, %s, %s)"] * (len(rows) // 4))
        period, period_args = query.period("ct")
        with_sql, args = query.with_clause(
            query.segments_cte(), (f"ts(topic, setno, tag_id, size) AS (VALUES {values})", rows)
        )
        cursor.execute(
            f"""{with_sql},
            hits AS (
              SELECT ct.conversation_id AS cid, ct.country, ts.topic
              FROM {_t(ConversationTag)} ct JOIN ts ON ts.tag_id = ct.tag_id
              WHERE ct.counted AND {period}
              GROUP BY ct.conversation_id, ct.country, ts.topic, ts.setno, ts.size
              HAVING COUNT(*) = ts.size),
            tc AS (
              SELECT country, topic, COUNT(DISTINCT cid) AS n FROM hits GROUP BY country, topic)
            SELECT s.seg, tc.topic, SUM(tc.n)
            FROM tc JOIN seg s ON s.country = tc.country
            GROUP BY s.seg, tc.topic""",
            [*args, *period_args],
        )
        counts = {(seg, topic): int(n) for seg, topic, n in cursor.fetchall()}
    for s_index, figure in enumerate(figures):
        figure.topics = [(t.name, counts.get((s_index, i), 0)) for i, t in enumerate(topics)]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def mean_of_micros(total: Any, count: Any) -> float | None:
    """``total`` microseconds (an exact integer) over ``count``, in seconds."""
    if not count:
        return None
    return float(Decimal(total) / MICROS) / int(count)
