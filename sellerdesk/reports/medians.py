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


def medians_by_percentile(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """``percentile_cont`` of each segment, in one pass over the population.

    Each segment's values are picked by a FILTER on a flag the country carries, rather than
    by joining every conversation to each of its segments and sorting those rows by segment
    before each segment's values are sorted again.
    """
    segments = query.params.config.segments
    countries = sorted({country for segment in segments for country in segment.countries})
    flags = [f"s{index}" for index in range(len(segments))]
    rows = ", ".join([f"({', '.join(['%s'] * (len(flags) + 1))})"] * len(countries))
    flag_args = [
        value
        for country in countries
        for value in (country, *(country in segment.countries for segment in segments))
    ]
    with_sql, args = query.with_clause(
        (f"segflags(country, {', '.join(flags)}) AS (VALUES {rows})", flag_args),
        query.population_cte(),
    )
    aggregates = [
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY p.{column}) FILTER (WHERE p.{flag})"
        for flag in flags
        for column in ("fr", "res", "cres")
    ]
    # Every segment's values are sorted whole (1.2 million values at 1M conversations):
    # enough memory that the sorts stay out of temporary files.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(
        f"""{with_sql}
        SELECT {", ".join(aggregates)}
        FROM (SELECT f.*, pop.fr, pop.res,
                CASE WHEN pop.kind = 'complaint' THEN pop.res END AS cres
              FROM pop JOIN segflags f ON f.country = pop.country) p""",
        args,
    )
    row = cursor.fetchone()
    for seg, figure in enumerate(figures):
        fr, res, complaint_res = row[3 * seg : 3 * seg + 3]
        figure.first_response.median = _num(fr)
        figure.resolution.median = _num(res)
        figure.complaint_resolution.median = _num(complaint_res)


def medians_by_histogram(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    # 1. The histogram per country and bucket.
    with_sql, args = query.with_clause(query.population_cte())
    branches = [
        f"""SELECT {metric}, p.country, {_bucket("p." + column)}, COUNT(*)
        FROM pop p WHERE p.{column} IS NOT NULL{condition}
        GROUP BY p.country, {_bucket("p." + column)}"""
        for metric, column, condition in METRICS
    ]
    cursor.execute(f"{with_sql}\n" + "\nUNION ALL\n".join(branches), args)
    by_country: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for metric, country, bucket, count in cursor.fetchall():
        by_country[metric, country].append((int(bucket), int(count)))

    # Per segment: the bucket of each middle rank and how many values lie below it.
    targets: list[tuple[int, int, int, int, int, int]] = []
    for seg, segment in enumerate(query.params.config.segments):
        for metric, _, _ in METRICS:
            histogram: dict[int, int] = defaultdict(int)
            for country in segment.countries:
                for bucket, count in by_country.get((metric, country), ()):
                    histogram[bucket] += count
            total = sum(histogram.values())
            if not total:
                continue
            low, high = (total + 1) // 2, (total + 2) // 2  # 1-based middle ranks
            below = 0
            for bucket in sorted(histogram):
                count = histogram[bucket]
                if below < high and below + count >= low:
                    targets.append((seg, metric, bucket, below, low, high))
                below += count
                if below >= high:
                    break
    if not targets:
        return

    # 2. Rank only the values in those buckets.
    wanted: dict[int, set[int]] = defaultdict(set)
    for _, metric, bucket, *_ in targets:
        wanted[metric].add(bucket)
    branches = []
    branch_args: list[Any] = []
    for metric, column, condition in METRICS:
        if metric in wanted:
            buckets = sorted(wanted[metric])
            branches.append(
                f"""SELECT p.country, {metric} AS metric, p.{column} AS v,
                  {_bucket("p." + column)} AS b
                FROM pop p WHERE p.{column} IS NOT NULL{condition}
                  AND {_bucket("p." + column)} IN ({", ".join(["%s"] * len(buckets))})"""
            )
            branch_args += buckets
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(targets))
    with_sql, args = query.with_clause(
        query.segments_cte(),
        query.population_cte(),
        (f"tgt(seg, metric, b, below, low, high) AS (VALUES {values})",
         [value for target in targets for value in target]),
        (f"cand AS ({' UNION ALL '.join(branches)})", branch_args),
    )  # fmt: skip
    cursor.execute(
        f"""{with_sql},
        ranked AS (
          SELECT t.seg, t.metric, c.v, t.low, t.high,
            t.below + ROW_NUMBER() OVER (PARTITION BY t.seg, t.metric, t.b ORDER BY c.v) AS rnk
          FROM cand c
          JOIN seg s ON s.country = c.country
          JOIN tgt t ON t.seg = s.seg AND t.metric = c.metric AND t.b = c.b)
        SELECT seg, metric, AVG(v) FROM ranked
        WHERE rnk = low OR rnk = high
        GROUP BY seg, metric""",
        args,
    )
    for seg, metric, value in cursor.fetchall():
        figure = figures[seg]
        timing = (figure.first_response, figure.resolution, figure.complaint_resolution)[metric]
        timing.median = _num(value)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
