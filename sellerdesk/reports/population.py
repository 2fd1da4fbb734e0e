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

#: The median search's pivots per (segment, metric, month) at each of its two stages (the
#: values of its arrays at about even steps of rank, taken from every array).
PIVOTS = 64

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
    def groups(row: str) -> str:
        # The groups a row of ``row`` (a month's array) is in: the period's (-1) and, for the
        # charted metrics, its month's.
        return (
            f"(VALUES (-1), ({row}.m)) g(g) WHERE (g.g = -1 OR {row}.metric < 2)"
            if monthly
            else "(VALUES (-1)) g(g) WHERE TRUE"
        )

    half = "CAST(0.5 AS double precision)"

    def lerp(lo: str, hi: str, count: str) -> str:
        # percentile_cont's interpolation (float8_lerp): lo + 0.5 * (hi - lo) for an even
        # count, the middle value itself for an odd one.
        return f"CASE WHEN MOD({count}, 2) = 0 THEN {lo} + {half} * ({hi} - {lo}) ELSE {lo} END"

    def counted(stage: int) -> str:
        # A stage's pivots gathered per (key, group), and how many of the group's values are
        # ≤ each pivot: a binary search (width_bucket) in each of its sorted arrays, added up.
        return f"""pivs{stage} AS MATERIALIZED (
          SELECT key, g, array_agg(x) AS xs FROM piv{stage} GROUP BY key, g),
        hits{stage} AS MATERIALIZED (
          SELECT a.key, a.g, u.x, width_bucket(u.x, a.arr) AS w
          FROM gm a
          CROSS JOIN LATERAL (SELECT p.xs FROM pivs{stage} p WHERE p.key = a.key AND p.g = a.g) p
          CROSS JOIN LATERAL unnest(p.xs) u(x)),
        le{stage} AS MATERIALIZED (
          SELECT key, g, x, SUM(w) AS le FROM hits{stage} GROUP BY key, g, x)"""

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
    # period's: those of every month) is found without sorting their values again. About
    # PIVOTS values at even steps of rank (every step-th value of each array, the step the
    # arrays' total count / PIVOTS) are pivots, and how many of the values are ≤ each pivot is
    # added up from binary searches in the sorted arrays (width_bucket). The middle ranks r1
    # and r2 (equal for an odd count) lie between the greatest pivot with fewer than r1
    # values ≤ it (lo) and the least with at least r2 (hi). A second stage takes about
    # PIVOTS pivots again from the values in (lo, hi] only, and narrows (lo, hi] the same
    # way: about total / PIVOTS² values are left between the bounds (more only where values
    # tie), sorted, and the values of ranks r1 and r2 are the (r - below)-th of them, below
    # being how many values are ≤ lo. The median is then what percentile_cont(0.5) gives.
    # The searches cost about arrays * PIVOTS binary searches each, whatever the count.
    # (Where no array holds total / PIVOTS values, more arrays than PIVOTS, a stage finds no
    # pivot and keeps its bounds: correct, only slower.) Every step reads the multi-array
    # groups' arrays (gm) once, its small tables joined to each row laterally: a nested
    # loop that scanned gm once per group would copy its arrays as many times.
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
        mn AS MATERIALIZED (
          SELECT m, st, metric, n, arr[(n + 1) / 2] AS v1, arr[(n + 2) / 2] AS v2 FROM ma),
        gn AS NOT MATERIALIZED (
          SELECT x.key, g.g, x.n, x.v1, x.v2
          FROM (SELECT mem.key, mem.metric, a.m, a.n, a.v1, a.v2
                FROM mn a JOIN mem ON mem.st = a.st AND mem.metric = a.metric) x
          CROSS JOIN LATERAL {groups("x")}),
        total AS MATERIALIZED (
          SELECT key, g, SUM(n) AS n, COUNT(*) FILTER (WHERE n > 0) AS arrays
          FROM gn GROUP BY key, g HAVING SUM(n) > 0),
        gm AS MATERIALIZED (
          SELECT x.key, x.g, a.m, a.st, a.arr, a.n, t.n AS tn
          FROM ma a
          CROSS JOIN LATERAL (
            SELECT mem.key, g.g FROM mem CROSS JOIN LATERAL {groups("a")}
              AND mem.st = a.st AND mem.metric = a.metric) x
          CROSS JOIN LATERAL (
            SELECT t.n FROM total t WHERE t.key = x.key AND t.g = x.g AND t.arrays > 1) t
          WHERE a.n > 0),
        rk AS (SELECT key, g, n, (n + 1) / 2 AS r1, (n + 2) / 2 AS r2
               FROM total WHERE arrays > 1),
        piv1 AS MATERIALIZED (
          SELECT DISTINCT a.key, a.g, a.arr[i] AS x
          FROM gm a CROSS JOIN LATERAL
            (SELECT GREATEST(CAST(a.tn AS integer) / {PIVOTS}, 1) AS step) w CROSS JOIN LATERAL
            generate_series(w.step, a.n, w.step) i),
        {counted(1)},
        b1 AS MATERIALIZED (
          SELECT t.key, t.g, t.r1, t.r2, MAX(le.x) FILTER (WHERE le.le < t.r1) AS lo,
            MIN(le.x) FILTER (WHERE le.le >= t.r2) AS hi
          FROM rk t LEFT JOIN le1 le ON le.key = t.key AND le.g = t.g
          GROUP BY t.key, t.g, t.r1, t.r2),
        sl AS MATERIALIZED (
          SELECT a.key, a.g, a.m, a.st, COALESCE(width_bucket(b.lo, a.arr), 0) AS s,
            COALESCE(width_bucket(b.hi, a.arr), a.n) AS e
          FROM gm a
          CROSS JOIN LATERAL (SELECT b.lo, b.hi FROM b1 b WHERE b.key = a.key AND b.g = a.g) b),
        sw AS MATERIALIZED (
          SELECT key, g, SUM(s) AS below, GREATEST(CAST(SUM(e - s) AS integer) / {PIVOTS}, 1) AS step
          FROM sl GROUP BY key, g),
        piv2 AS MATERIALIZED (
          SELECT DISTINCT a.key, a.g, a.arr[i] AS x
          FROM gm a
          CROSS JOIN LATERAL (
            SELECT sl.s, sl.e, sw.step
            FROM sl JOIN sw ON sw.key = sl.key AND sw.g = sl.g
            WHERE sl.key = a.key AND sl.g = a.g AND sl.m = a.m AND sl.st = a.st) w
          CROSS JOIN LATERAL generate_series(w.s + w.step, w.e, w.step) i),
        {counted(2)},
        b2 AS MATERIALIZED (
          SELECT b.key, b.g, b.r1, b.r2,
            COALESCE(MAX(le.x) FILTER (WHERE le.le < b.r1), MIN(b.lo)) AS lo,
            COALESCE(MAX(le.le) FILTER (WHERE le.le < b.r1), MIN(sw.below)) AS below,
            COALESCE(MIN(le.x) FILTER (WHERE le.le >= b.r2), MIN(b.hi)) AS hi
          FROM b1 b
          JOIN sw ON sw.key = b.key AND sw.g = b.g
          LEFT JOIN le2 le ON le.key = b.key AND le.g = b.g
          GROUP BY b.key, b.g, b.r1, b.r2),
        found AS (
          SELECT b.key, b.g, b.r1 - b.below AS i1, b.r2 - b.below AS i2,
            array_agg(c.v ORDER BY c.v) AS vs
          FROM gm a
          CROSS JOIN LATERAL (SELECT b.* FROM b2 b WHERE b.key = a.key AND b.g = a.g) b
          CROSS JOIN LATERAL unnest(a.arr[COALESCE(width_bucket(b.lo, a.arr), 0) + 1
                                          : COALESCE(width_bucket(b.hi, a.arr), a.n)]) c(v)
          GROUP BY b.key, b.g, b.r1, b.r2, b.below)
        SELECT t.g, t.key, {lerp("f.vs[f.i1]", "f.vs[f.i2]", "t.n")}, CAST(NULL AS numeric[])
        FROM total t JOIN found f ON f.key = t.key AND f.g = t.g
        UNION ALL
        -- A median of one array is read from it.
        SELECT t.g, t.key, {lerp("a.v1", "a.v2", "a.n")}, NULL
        FROM total t JOIN gn a ON a.key = t.key AND a.g = t.g AND a.n > 0
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
