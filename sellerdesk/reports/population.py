"""The report's counts, means and medians from one read of the population (PostgreSQL).

Reading the conversations of the period is much of what a report costs: at a million
conversations a read of them (about 600,000 rows kept of the table's million) with the
counts and sums cost 0.85 s of CPU, a third of the report's. One statement therefore reads
them once and computes every figure the engine takes from them, and, with month cuts, each month's as
well (an edition's charts), so that an edition costs what the engine's report costs.

The rows are grouped by (month, country set): a country set is the countries held by the same
segments (``country_sets``), so each conversation is in one group whatever the number of
segments counting it. Per group: the counts (conversations, by kind, complaints' outcomes),
the sums of the durations in whole microseconds (``engine.sum_micros``: exact, added up per
segment in Python in any order) and each duration's values sorted
(``array_agg(… ORDER BY …)``). A segment's figures add up its country sets' groups; its
medians rank the values of several sorted arrays (the search in ``population_figures``).
Without month cuts every row is in month 0.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sellerdesk.conversations.models import Kind, Outcome

if TYPE_CHECKING:
    from sellerdesk.reports.engine import SegmentFigures, _Query

#: Every this-many-th value of each sorted array is a pivot of the median search (at 1M
#: conversations about 2,000 pivots in all; at most this many values of each array between
#: two pivots to sort again).
PIVOT_STEP = 1024

KINDS = [k.value for k in Kind]
OUTCOMES = [o.value for o in Outcome]
#: The durations whose medians are taken, by metric number: first response, resolution,
#: complaints' resolution (``medians.METRICS``).
COLUMNS = ("fr", "res", "cres")
#: The counts per group, in the statement's order (then fr_n, res_n, cres_n: the arrays'
#: lengths).
COUNTS = ["n", *(f"k_{k}" for k in KINDS), *(f"o_{o}" for o in [*OUTCOMES, "undecided"])]
SUMS = ["fr_sum", "res_sum", "cres_sum"]


def country_sets(query: _Query) -> tuple[list[tuple[int, ...]], str, list[Any]]:
    """The configuration's countries cut by the segments that hold them: each set's segment
    numbers (by set number), and the SQL of a conversation's set number (NULL: a country no
    segment holds) with its parameters."""
    segments = query.params.config.segments
    countries = sorted({country for segment in segments for country in segment.countries})
    holders: dict[tuple[int, ...], list[str]] = {}
    for country in countries:
        held = tuple(seg for seg, segment in enumerate(segments) if country in segment.countries)
        holders.setdefault(held, []).append(country)
    # The sets of fewest countries tested first (PostgreSQL hashes a long IN list).
    sets = sorted(holders, key=lambda held: (len(holders[held]), held))
    whens = " ".join(
        f"WHEN pop.country IN ({', '.join(['%s'] * len(holders[held]))}) THEN {index}"
        for index, held in enumerate(sets)
    )
    return sets, f"CASE {whens} END", [c for held in sets for c in holders[held]]


def population_figures(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """Every figure of the engine's but the lists, per segment; with month cuts, each
    month's counts and times too (into ``query.months``)."""
    from sellerdesk.reports.engine import MICROS, mean_of_micros  # the engine imports us

    segments = query.params.config.segments
    sets, set_sql, set_args = country_sets(query)
    monthly = query.month_cuts is not None
    keys = [(seg, metric) for seg in range(len(segments)) for metric in range(len(COLUMNS))]
    # (key, metric, set): the sorted arrays each (segment, metric) ranks.
    members = [
        (key, metric, index)
        for key, (seg, metric) in enumerate(keys)
        for index, held in enumerate(sets)
        if seg in held
    ]
    with_sql, args = query.with_clause(query.population_cte(lookup_join=True))
    kind_codes = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(KINDS))
    outcome_codes = " ".join(f"WHEN pop.outcome = '{o}' THEN {i}" for i, o in enumerate(OUTCOMES))
    counts = [
        "COUNT(*)",
        *(f"COUNT(*) FILTER (WHERE p.kc = {i})" for i in range(len(KINDS))),
        *(f"COUNT(*) FILTER (WHERE p.oc = {i})" for i in range(len(OUTCOMES) + 1)),
        *(f"SUM(p.{column}_us)" for column in COLUMNS),
    ]
    arrays = [
        f"array_agg(p.{column} ORDER BY p.{column}) FILTER (WHERE p.{column} IS NOT NULL)"
        f" AS a{metric}"
        for metric, column in enumerate(COLUMNS)
    ]
    micros = ", ".join(
        f"CAST(ROUND({column} * {MICROS}) AS BIGINT) AS {name}_us"
        for name, column in (
            ("fr", "pop.fr"),
            ("res", "pop.res"),
            ("cres", "CASE WHEN pop.kind = 'complaint' THEN pop.res END"),
        )
    )
    member_rows = ", ".join(["(%s, %s, %s)"] * len(members))
    # A month's medians: of the charted metrics only (``monthly.METRICS``).
    groups = (
        "(VALUES (-1), (x.m)) g(g) WHERE g.g = -1 OR x.metric < 2"
        if monthly
        else "(VALUES (-1)) g(g)"
    )
    half = "CAST(0.5 AS double precision)"

    def lerp(lo: str, hi: str, count: str) -> str:
        # percentile_cont's interpolation (float8_lerp): lo + 0.5 * (hi - lo) for an even
        # count, the middle value itself for an odd one.
        return f"CASE WHEN MOD({count}, 2) = 0 THEN {lo} + {half} * ({hi} - {lo}) ELSE {lo} END"

    # Every value is sorted (1.2 million at 1M conversations): enough memory that the sorts
    # stay out of temporary files.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # The population read, its rows' group and microseconds computed and the rows sorted by
    # group in parallel workers (a Gather Merge beneath the aggregates, which only this
    # backend can run); its few rows changed after as_of each find their stretch by an
    # index probe, not a hash of every stretch.
    cursor.execute("SET LOCAL parallel_setup_cost = 0")
    cursor.execute("SET LOCAL parallel_tuple_cost = 0")
    cursor.execute("SET LOCAL enable_hashjoin = off")
    # The median of a (segment, metric) over some arrays (a month's: its country sets'; the
    # period's: those of every month) is found without sorting their values again: every
    # PIVOT_STEP-th value of each array is a pivot, and how many of the values are ≤ each
    # pivot is added up from binary searches in the sorted arrays (width_bucket). The value
    # of rank r lies between the greatest pivot with fewer than r values ≤ it (lo, ``below``
    # values ≤ it) and the least with at least r (hi): the arrays' values in (lo, hi] are at
    # most PIVOT_STEP per array (more only where values tie), and the value of rank r is the
    # (r - below)-th of them. The median is then what percentile_cont(0.5) gives.
    cursor.execute(
        f"""{with_sql},
        mem(key, metric, st) AS (VALUES {member_rows}),
        agg AS MATERIALIZED (
          SELECT p.grp / {len(sets)} AS m, MOD(p.grp, {len(sets)}) AS st,
            ARRAY[{", ".join(counts)}] AS counts, {", ".join(arrays)}
          FROM (SELECT {f"pop.m * {len(sets)} + " if monthly else ""}{set_sql} AS grp,
                  pop.fr, pop.res,
                  CASE WHEN pop.kind = 'complaint' THEN pop.res END AS cres,
                  CASE pop.kind {kind_codes} END AS kc,
                  CASE WHEN pop.kind = 'complaint' THEN
                    CASE WHEN pop.outcome IS NULL THEN {len(OUTCOMES)} {outcome_codes} END
                  END AS oc,
                  {micros}
                FROM pop) p
          WHERE p.grp IS NOT NULL
          GROUP BY p.grp),
        ma AS MATERIALIZED (
          SELECT a.m, a.st, k.metric, k.arr, COALESCE(cardinality(k.arr), 0) AS n
          FROM agg a CROSS JOIN LATERAL (VALUES (0, a.a0), (1, a.a1), (2, a.a2)) k(metric, arr)),
        ga AS NOT MATERIALIZED (
          SELECT x.key, g.g, x.arr, x.n
          FROM (SELECT mem.key, mem.metric, a.m, a.arr, a.n
                FROM ma a JOIN mem ON mem.st = a.st AND mem.metric = a.metric) x
          CROSS JOIN LATERAL {groups}),
        total AS MATERIALIZED (
          SELECT key, g, SUM(n) AS n, COUNT(*) FILTER (WHERE n > 0) AS arrays
          FROM ga GROUP BY key, g HAVING SUM(n) > 0),
        gm AS MATERIALIZED (
          SELECT a.key, a.g, a.arr, a.n
          FROM ga a JOIN total t ON t.key = a.key AND t.g = a.g
          WHERE t.arrays > 1 AND a.n > 0),
        piv AS MATERIALIZED (
          SELECT DISTINCT a.key, a.g, a.arr[i] AS x
          FROM gm a CROSS JOIN LATERAL generate_series({PIVOT_STEP}, a.n, {PIVOT_STEP}) i),
        pivs AS MATERIALIZED (SELECT key, g, array_agg(x) AS xs FROM piv GROUP BY key, g),
        hits AS MATERIALIZED (
          SELECT a.key, a.g, u.x, width_bucket(u.x, a.arr) AS w
          FROM gm a
          JOIN pivs p ON p.key = a.key AND p.g = a.g
          CROSS JOIN LATERAL unnest(p.xs) u(x)),
        le AS (SELECT key, g, x, SUM(w) AS le FROM hits GROUP BY key, g, x),
        ranks AS (SELECT key, g, (n + 1) / 2 AS r FROM total WHERE arrays > 1
                  UNION SELECT key, g, (n + 2) / 2 FROM total WHERE arrays > 1),
        bounds AS MATERIALIZED (
          SELECT t.key, t.g, t.r, MAX(le.x) FILTER (WHERE le.le < t.r) AS lo,
            COALESCE(MAX(le.le) FILTER (WHERE le.le < t.r), 0) AS below,
            MIN(le.x) FILTER (WHERE le.le >= t.r) AS hi
          FROM ranks t LEFT JOIN le ON le.key = t.key AND le.g = t.g
          GROUP BY t.key, t.g, t.r),
        found AS (
          SELECT b.key, b.g, b.r, (array_agg(c.v ORDER BY c.v))[b.r - b.below] AS v
          FROM bounds b JOIN gm a ON a.key = b.key AND a.g = b.g
          CROSS JOIN LATERAL unnest(a.arr[COALESCE(width_bucket(b.lo, a.arr), 0) + 1
                                          : COALESCE(width_bucket(b.hi, a.arr), a.n)]) c(v)
          GROUP BY b.key, b.g, b.r, b.below)
        SELECT t.g, t.key, {lerp("lo.v", "hi.v", "t.n")}, CAST(NULL AS numeric[])
        FROM total t
        JOIN found lo ON lo.key = t.key AND lo.g = t.g AND lo.r = (t.n + 1) / 2
        JOIN found hi ON hi.key = t.key AND hi.g = t.g AND hi.r = (t.n + 2) / 2
        UNION ALL
        -- A median of one array is read from it.
        SELECT t.g, t.key, {lerp("a.arr[(a.n + 1) / 2]", "a.arr[(a.n + 2) / 2]", "a.n")}, NULL
        FROM total t JOIN ga a ON a.key = t.key AND a.g = t.g AND a.n > 0
        WHERE t.arrays = 1
        UNION ALL
        SELECT a.m, a.st, NULL, a.counts || ARRAY[
          COALESCE(cardinality(a.a0), 0), COALESCE(cardinality(a.a1), 0),
          COALESCE(cardinality(a.a2), 0)]::numeric[]
        FROM agg a""",
        [*args, *[v for member in members for v in member], *set_args],
    )
    rows = cursor.fetchall()
    for setting in ("parallel_setup_cost", "parallel_tuple_cost", "enable_hashjoin"):
        # For whatever else this transaction runs (one connection: inside a transaction).
        cursor.execute(f"SET LOCAL {setting} = DEFAULT")

    names = [*COUNTS, *SUMS, "fr_n", "res_n", "cres_n"]
    # (group, segment) → name → total: group -1 the period, m month m.
    totals: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    months = query.months or {}
    for group, key, median, values in rows:
        if values is None:
            seg, metric = keys[key]
            value = None if median is None else float(median)
            if group == -1:
                figure = figures[seg]
                timing = (figure.first_response, figure.resolution, figure.complaint_resolution)[
                    metric
                ]
            else:
                # Complaints' times are not charted (``monthly.METRICS``).
                timing = (months[group][seg].first_response, months[group][seg].resolution)[metric]
            timing.median = value
            continue
        for seg in sets[key]:
            for target in ((-1, seg), (group, seg)) if monthly else ((-1, seg),):
                sums = totals[target]
                for name, value in zip(names, values, strict=True):
                    sums[name] += int(value or 0)
    for (group, seg), sums in totals.items():
        figure = figures[seg] if group == -1 else months[group][seg]
        figure.conversations = sums["n"]
        figure.responded = sums["fr_n"]
        figure.first_response.mean = mean_of_micros(sums["fr_sum"], sums["fr_n"])
        figure.resolved = sums["res_n"]
        figure.resolution.mean = mean_of_micros(sums["res_sum"], sums["res_n"])
        if group == -1:
            figure.by_kind = {k: sums[f"k_{k}"] for k in KINDS}
            figure.complaints = figure.by_kind[Kind.COMPLAINT]
            figure.outcomes = {o: sums[f"o_{o}"] for o in [*OUTCOMES, "undecided"]}
            figure.complaint_resolution.mean = mean_of_micros(sums["cres_sum"], sums["cres_n"])
