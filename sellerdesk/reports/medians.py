"""Medians per segment, in SQL.

Medians do not add up across countries the way counts and sums do: each segment's values
are ranked whole. PostgreSQL has ``percentile_cont``. Elsewhere (SQLite) ranking a whole
segment with window functions sorts every value of every segment, seconds at a million
conversations; instead two short statements find the exact median:

1. a histogram: how many values fall in each (country, bucket), buckets being ranges of
   durations (minutes under an hour, ten minutes under a day, hours under 30 days, days
   beyond); added up per segment it tells which bucket holds the middle rank(s) and how
   many values lie below it;
2. only the values in those few buckets are ranked, and the one or two middle values
   averaged.

Both statements run over the same population in one transaction, so the ranks agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sellerdesk.reports.engine import SegmentFigures, _Query

#: (metric number, the population column, an extra condition): first response, resolution,
#: and resolution of complaints.
METRICS = ((0, "fr", ""), (1, "res", ""), (2, "res", " AND p.kind = 'complaint'"))


def _bucket(column: str) -> str:
    """A bucket number that never decreases as the duration grows (the same expression in
    both statements, so a value always lands in the same bucket)."""
    return f"""(CASE WHEN {column} < 3600 THEN CAST({column} / 60 AS INTEGER)
        WHEN {column} < 86400 THEN 60 + CAST({column} / 600 AS INTEGER)
        WHEN {column} < 2592000 THEN 1000 + CAST({column} / 3600 AS INTEGER)
        ELSE 10000 + CAST({column} / 86400 AS INTEGER) END)"""


#: ``month_sorted_medians``: every this-many-th value of a month's sorted values is a pivot
#: (at 1M conversations about 2,000 pivots in all; at most this many values a month between
#: two pivots to sort again).
PIVOT_STEP = 1024

#: A median found: (group, segment number, metric number) → the value (None: no values).
Found = dict[tuple[int, int, int], float | None]

#: The population's columns whose medians are taken, by metric number ("cres": complaints'
#: resolution).
COLUMNS = ("fr", "res", "cres")


def medians_by_percentile(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """The period's medians; with month cuts, each month's too (into ``query.months``), both
    from one sort of each month's values (``month_sorted_medians``)."""
    if query.month_cuts is None:
        found = percentile_medians(cursor, query, metrics=(0, 1, 2))
        _assign(found, figures)
        return
    found = month_sorted_medians(cursor, query, metrics=(0, 1, 2))
    _assign({key: value for key, value in found.items() if key[0] == -1}, figures)
    months = query.months or {}
    for (group, seg, metric), value in found.items():
        # Complaints' times are not charted (``monthly.METRICS``).
        if group >= 0 and metric in (0, 1):
            figure = months[group][seg]
            (figure.first_response, figure.resolution)[metric].median = value


def medians_by_histogram(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    _assign(histogram_medians(cursor, query, metrics=(0, 1, 2)), figures)


def _assign(found: Found, figures: list[SegmentFigures]) -> None:
    for (_group, seg, metric), value in found.items():
        figure = figures[seg]
        timing = (figure.first_response, figure.resolution, figure.complaint_resolution)[metric]
        timing.median = value


def segment_flags(query: _Query) -> tuple[str, list[Any]]:
    """segflags(country, s0, s1, ...): each country of the configuration with, per segment,
    whether the segment holds it."""
    segments = query.params.config.segments
    countries = sorted({country for segment in segments for country in segment.countries})
    flags = [f"s{index}" for index in range(len(segments))]
    rows = ", ".join([f"({', '.join(['%s'] * (len(flags) + 1))})"] * len(countries))
    flag_args = [
        value
        for country in countries
        for value in (country, *(country in segment.countries for segment in segments))
    ]
    return f"segflags(country, {', '.join(flags)}) AS (VALUES {rows})", flag_args


def percentile_medians(cursor: Any, query: _Query, *, metrics: tuple[int, ...]) -> Found:
    """``percentile_cont`` of each segment, in one pass over the population (group 0).

    Each segment's values are picked by a FILTER on a flag the country carries, rather than
    by joining every conversation to each of its segments and sorting those rows by segment
    before each segment's values are sorted again. (With month cuts, an edition's charts:
    ``month_sorted_medians``.)
    """
    segments = query.params.config.segments
    flags = [f"s{index}" for index in range(len(segments))]
    with_sql, args = query.with_clause(segment_flags(query), query.population_cte())
    aggregates = [
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY p.{COLUMNS[metric]}) FILTER (WHERE p.{flag})"
        for flag in flags
        for metric in metrics
    ]
    # Every segment's values are sorted whole (1.2 million values at 1M conversations):
    # enough memory that the sorts stay out of temporary files.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(
        f"""{with_sql}
        SELECT 0, {", ".join(aggregates)}
        FROM (SELECT f.*, pop.fr, pop.res,
                CASE WHEN pop.kind = 'complaint' THEN pop.res END AS cres
              FROM pop JOIN segflags f ON f.country = pop.country) p""",
        args,
    )
    found: Found = {}
    for group, *values in cursor.fetchall():
        for seg in range(len(segments)):
            for index, metric in enumerate(metrics):
                found[int(group), seg, metric] = _num(values[seg * len(metrics) + index])
    return found


def month_sorted_medians(cursor: Any, query: _Query, *, metrics: tuple[int, ...]) -> Found:
    """Each month's medians and the period's, from one sort of each month's values (group
    -1: the period; group ``m``: month ``m``; ``query.month_cuts`` must be set).

    Each segment's values of each month are gathered sorted (``array_agg(… ORDER BY …)``,
    grouped by month); a month's median is read from its array. The period's middle rank r
    is found without sorting the period's values again: every ``PIVOT_STEP``-th value of
    each month's array is a pivot, and how many of all the months' values are ≤ each pivot
    is added up from binary searches in the sorted arrays (``width_bucket``). The value of
    rank r lies between the greatest pivot with fewer than r values ≤ it (lo, ``below``
    values ≤ it) and the least with at least r (hi): the months' values in (lo, hi] are at
    most ``PIVOT_STEP`` per month (more only where values tie), and the value of rank r is
    the (r - below)-th of them. Each median is then what ``percentile_cont(0.5)`` gives:
    the middle value, or lo + 0.5 * (hi - lo) in doubles (``float8_lerp``).
    """
    segments = query.params.config.segments
    keys = [(seg, metric) for seg in range(len(segments)) for metric in metrics]
    # Each segment's flag by its list of countries (hashed by PostgreSQL), not joined from
    # segflags: no hash join in the parallel workers' part of the plan (below), and each
    # flag computed once a row, where the row is read, not in each aggregate's FILTER.
    flags = "".join(
        f", c.country IN ({', '.join(['%s'] * len(segment.countries))}) AS s{seg}"
        for seg, segment in enumerate(segments)
    )
    flag_args = [country for segment in segments for country in sorted(segment.countries)]
    with_sql, args = query.with_clause(
        query.population_cte(lookup_join=True, columns=(flags, flag_args))
    )
    arrays = [
        f"array_agg(p.{COLUMNS[metric]} ORDER BY p.{COLUMNS[metric]})"
        f" FILTER (WHERE p.s{seg} AND p.{COLUMNS[metric]} IS NOT NULL) AS a{key}"
        for key, (seg, metric) in enumerate(keys)
    ]
    unpivot = ", ".join(f"({key}, mo.a{key})" for key in range(len(keys)))
    half = "CAST(0.5 AS double precision)"

    def lerp(lo: str, hi: str, count: str) -> str:
        # percentile_cont's interpolation (float8_lerp): lo + 0.5 * (hi - lo) for an even
        # count, the middle value itself for an odd one.
        return f"CASE WHEN MOD({count}, 2) = 0 THEN {lo} + {half} * ({hi} - {lo}) ELSE {lo} END"

    # Every segment's values are sorted month by month (1.2 million values at 1M
    # conversations): enough memory that the sorts stay out of temporary files.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # The population read, its month numbered and sorted by month in parallel workers (a
    # Gather Merge beneath the months' aggregates, which only this backend can run); its
    # few rows changed after as_of each find their stretch by an index probe, not a hash
    # of every stretch.
    cursor.execute("SET LOCAL parallel_setup_cost = 0")
    cursor.execute("SET LOCAL parallel_tuple_cost = 0")
    cursor.execute("SET LOCAL enable_hashjoin = off")
    cursor.execute(
        f"""{with_sql},
        ma AS MATERIALIZED (
          SELECT k.key, mo.m, k.arr, COALESCE(cardinality(k.arr), 0) AS n
          FROM (SELECT p.m, {", ".join(arrays)}
                FROM (SELECT {", ".join(f"pop.s{seg}" for seg in range(len(segments)))},
                        pop.fr, pop.res, pop.m,
                        CASE WHEN pop.kind = 'complaint' THEN pop.res END AS cres
                      FROM pop) p
                GROUP BY p.m) mo
          CROSS JOIN LATERAL (VALUES {unpivot}) k(key, arr)),
        piv AS MATERIALIZED (
          SELECT DISTINCT a.key, a.arr[g] AS x
          FROM ma a CROSS JOIN LATERAL generate_series({PIVOT_STEP}, a.n, {PIVOT_STEP}) g),
        pivs AS MATERIALIZED (SELECT key, array_agg(x) AS xs FROM piv GROUP BY key),
        le AS (
          SELECT a.key, u.x, SUM(width_bucket(u.x, a.arr)) AS le
          FROM ma a
          CROSS JOIN LATERAL (SELECT p.xs FROM pivs p WHERE p.key = a.key) p
          CROSS JOIN LATERAL unnest(p.xs) u(x)
          GROUP BY a.key, u.x),
        total AS (SELECT key, SUM(n) AS n FROM ma GROUP BY key HAVING SUM(n) > 0),
        ranks AS (SELECT key, (n + 1) / 2 AS r FROM total
                  UNION SELECT key, (n + 2) / 2 FROM total),
        bounds AS MATERIALIZED (
          SELECT t.key, t.r, MAX(le.x) FILTER (WHERE le.le < t.r) AS lo,
            COALESCE(MAX(le.le) FILTER (WHERE le.le < t.r), 0) AS below,
            MIN(le.x) FILTER (WHERE le.le >= t.r) AS hi
          FROM ranks t LEFT JOIN le ON le.key = t.key
          GROUP BY t.key, t.r),
        found AS (
          SELECT b.key, b.r, (array_agg(c.v ORDER BY c.v))[b.r - b.below] AS v
          FROM bounds b JOIN ma a ON a.key = b.key
          CROSS JOIN LATERAL unnest(a.arr[COALESCE(width_bucket(b.lo, a.arr), 0) + 1
                                          : COALESCE(width_bucket(b.hi, a.arr), a.n)]) c(v)
          GROUP BY b.key, b.r, b.below)
        SELECT -1, t.key, {lerp("lo.v", "hi.v", "t.n")}
        FROM total t
        JOIN found lo ON lo.key = t.key AND lo.r = (t.n + 1) / 2
        JOIN found hi ON hi.key = t.key AND hi.r = (t.n + 2) / 2
        UNION ALL
        SELECT a.m, a.key, {lerp("a.arr[(a.n + 1) / 2]", "a.arr[(a.n + 2) / 2]", "a.n")}
        FROM ma a WHERE a.n > 0""",
        args,
    )
    rows = cursor.fetchall()
    for setting in ("parallel_setup_cost", "parallel_tuple_cost", "enable_hashjoin"):
        # For whatever else this transaction runs (one connection: inside a transaction).
        cursor.execute(f"SET LOCAL {setting} = DEFAULT")
    found: Found = dict.fromkeys(((-1, seg, metric) for seg, metric in keys), None)
    for group, key, value in rows:
        seg, metric = keys[key]
        found[int(group), seg, metric] = _num(value)
    return found


def histogram_medians(
    cursor: Any, query: _Query, *, metrics: tuple[int, ...], grouped: bool = False
) -> Found:
    """The exact medians by the two-step histogram search (the module's docstring);
    ``grouped``: per value of the population's ``m`` column as well, else group 0."""
    with _population_once(cursor, query) as pop:
        return _histogram_medians(cursor, query, pop, metrics=metrics, grouped=grouped)


#: The temporary table that holds the population while the medians are searched.
_POPULATION = "sd_median_pop"


@contextmanager
def _population_once(cursor: Any, query: _Query) -> Iterator[tuple[str, list[Any]]]:
    """The ``pop`` CTE both statements of the search read, made once: the population is
    copied into a temporary table of the connection (in memory) that both read, instead of
    each statement reading the conversations (and looking up their stretches) again, which
    at a million conversations was most of the search's time. Within the transaction both
    statements read the same rows either way."""
    with_sql, args = query.with_clause(query.population_cte())
    cursor.execute(f"CREATE TEMP TABLE {_POPULATION} AS {with_sql} SELECT * FROM pop", args)
    try:
        yield f"pop AS (SELECT * FROM {_POPULATION})", []
    finally:
        cursor.execute(f"DROP TABLE {_POPULATION}")


def _histogram_medians(
    cursor: Any, query: _Query, pop: tuple[str, list[Any]], *, metrics: tuple[int, ...],
    grouped: bool,
) -> Found:  # fmt: skip
    group = "p.m" if grouped else "0"
    chosen = [m for m in METRICS if m[0] in metrics]
    # 1. The histogram per group, country and bucket.
    with_sql, args = query.with_clause(pop)
    branches = [
        f"""SELECT {metric}, {group}, p.country, {_bucket("p." + column)}, COUNT(*)
        FROM pop p WHERE p.{column} IS NOT NULL{condition}
        GROUP BY {"p.m, " if grouped else ""}p.country, {_bucket("p." + column)}"""
        for metric, column, condition in chosen
    ]
    cursor.execute(f"{with_sql}\n" + "\nUNION ALL\n".join(branches), args)
    by_country: dict[tuple[int, int, str], list[tuple[int, int]]] = defaultdict(list)
    groups: set[int] = set()
    for metric, group_value, country, bucket, count in cursor.fetchall():
        by_country[int(group_value), metric, country].append((int(bucket), int(count)))
        groups.add(int(group_value))

    # Per group and segment: the bucket of each middle rank and how many values lie below it.
    found: Found = {}
    targets: list[tuple[int, int, int, int, int, int, int]] = []
    for group_value in sorted(groups):
        for seg, segment in enumerate(query.params.config.segments):
            for metric, _, _ in chosen:
                found[group_value, seg, metric] = None
                histogram: dict[int, int] = defaultdict(int)
                for country in segment.countries:
                    for bucket, count in by_country.get((group_value, metric, country), ()):
                        histogram[bucket] += count
                total = sum(histogram.values())
                if not total:
                    continue
                low, high = (total + 1) // 2, (total + 2) // 2  # 1-based middle ranks
                below = 0
                for bucket in sorted(histogram):
                    count = histogram[bucket]
                    if below < high and below + count >= low:
                        targets.append((group_value, seg, metric, bucket, below, low, high))
                    below += count
                    if below >= high:
                        break
    if not targets:
        return found

    # 2. Rank only the values in those buckets.
    wanted: dict[int, set[int]] = defaultdict(set)
    for _, _, metric, bucket, *_ in targets:
        wanted[metric].add(bucket)
    branches = []
    branch_args: list[Any] = []
    for metric, column, condition in chosen:
        if metric in wanted:
            buckets = sorted(wanted[metric])
            branches.append(
                f"""SELECT {group} AS g, p.country, {metric} AS metric, p.{column} AS v,
                  {_bucket("p." + column)} AS b
                FROM pop p WHERE p.{column} IS NOT NULL{condition}
                  AND {_bucket("p." + column)} IN ({", ".join(["%s"] * len(buckets))})"""
            )
            branch_args += buckets
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(targets))
    with_sql, args = query.with_clause(
        query.segments_cte(),
        pop,
        (f"tgt(g, seg, metric, b, below, low, high) AS (VALUES {values})",
         [value for target in targets for value in target]),
        (f"cand AS ({' UNION ALL '.join(branches)})", branch_args),
    )  # fmt: skip
    cursor.execute(
        f"""{with_sql},
        ranked AS (
          SELECT t.g, t.seg, t.metric, c.v, t.low, t.high,
            t.below + ROW_NUMBER() OVER (PARTITION BY t.g, t.seg, t.metric, t.b ORDER BY c.v)
              AS rnk
          FROM cand c
          JOIN seg s ON s.country = c.country
          JOIN tgt t ON t.g = c.g AND t.seg = s.seg AND t.metric = c.metric AND t.b = c.b)
        SELECT g, seg, metric, AVG(v) FROM ranked
        WHERE rnk = low OR rnk = high
        GROUP BY g, seg, metric""",
        args,
    )
    for group_value, seg, metric, value in cursor.fetchall():
        found[int(group_value), int(seg), int(metric)] = _num(value)
    return found


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
