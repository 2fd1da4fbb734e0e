"""Medians per segment, in SQL.

Medians do not add up across countries the way counts and sums do: each segment's values
are ranked whole. On PostgreSQL the statement that reads the population for every figure
finds them (``reports.population``). Elsewhere (SQLite) ranking a whole segment with window functions sorts every value of every segment, seconds at a million
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


#: A median found: (group, segment number, metric number) → the value (None: no values).
Found = dict[tuple[int, int, int], float | None]


def medians_by_histogram(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    _assign(histogram_medians(cursor, query, metrics=(0, 1, 2)), figures)


def _assign(found: Found, figures: list[SegmentFigures]) -> None:
    for (_group, seg, metric), value in found.items():
        figure = figures[seg]
        timing = (figure.first_response, figure.resolution, figure.complaint_resolution)[metric]
        timing.median = value


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
