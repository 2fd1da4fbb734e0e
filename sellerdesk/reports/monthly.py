"""The report's counts and times month by month (an edition's charts), in one grouped pass.

The figures a run of the engine over each month alone would give (conversations, the mean
and median time to a first response and to resolution, per segment), computed over the
period's population at once: each conversation carries the number of the month it was filed
in (``_Query.month_cuts``), and the statements group by it as well as by segment.

On PostgreSQL the period's own statement does it (``reports.population``): the population is
read once, grouped by month and country set, for the period's figures and each month's, so the
months cost an edition no further read of the population. Elsewhere (SQLite) the counts and
sums per (month, country) then per (month, segment), and the histogram search grouped by
month (three statements, below). They read the engine's snapshot, whatever the number of
months.

Every figure equals a run over each month alone exactly: the medians rank the same values,
and the means divide the same sums, which the engine takes in whole microseconds as integers
(``engine.sum_micros``), exact in whatever order they are added up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sellerdesk.reports import medians

if TYPE_CHECKING:
    from sellerdesk.reports.config import ReportParams
    from sellerdesk.reports.engine import SegmentFigures, _Query

#: By month number: that month's figures, one per segment in the configuration's order.
ByMonth = dict[int, list["SegmentFigures"]]

#: First response and resolution (``medians.METRICS``); complaints' times are not charted.
METRICS = (0, 1)


def monthly_sums(cursor: Any, query: _Query, months: ByMonth) -> None:
    """Conversations and the means, per month and segment: counted per (month, country) in
    one pass over the population, then added up per segment as the engine does."""
    from sellerdesk.reports.engine import mean_of_micros, sum_micros  # the engine imports us

    per_part = [
        f"""SELECT p.m, p.country, COUNT(*) AS n, COUNT(p.fr) AS fr_n,
              {sum_micros("p.fr")} AS fr_sum, COUNT(p.res) AS res_n,
              {sum_micros("p.res")} AS res_sum
            FROM {part} p GROUP BY p.m, p.country"""
        for part in query.population_parts()
    ]
    with_sql, args = query.with_clause(query.segments_cte(), query.population_cte())
    cursor.execute(
        f"""{with_sql},
        bc AS ({" UNION ALL ".join(per_part)})
        SELECT bc.m, s.seg, SUM(bc.n), SUM(bc.fr_n), SUM(bc.fr_sum), SUM(bc.res_n),
          SUM(bc.res_sum)
        FROM bc JOIN seg s ON s.country = bc.country
        GROUP BY bc.m, s.seg""",
        args,
    )
    for month, seg, n, fr_n, fr_sum, res_n, res_sum in cursor.fetchall():
        figure = months[int(month)][seg]
        figure.conversations = int(n)
        figure.responded = int(fr_n)
        figure.first_response.mean = mean_of_micros(fr_sum, fr_n)
        figure.resolved = int(res_n)
        figure.resolution.mean = mean_of_micros(res_sum, res_n)


def monthly_medians(cursor: Any, query: _Query, months: ByMonth) -> None:
    """Elsewhere than on PostgreSQL: the medians per month and segment by the histogram
    search, each month's values ranked whole."""
    found = medians.histogram_medians(cursor, query, metrics=METRICS, grouped=True)
    for (month, seg, metric), value in found.items():
        figure = months[month][seg]
        (figure.first_response, figure.resolution)[metric].median = value


def months_by_engine_runs(params: ReportParams) -> list[dict[str, Any]]:
    """The months as editions computed them before the grouped pass: the engine run over
    each month alone (counts and times only). Slow; it is the definition the grouped pass
    is checked against (``tests/test_edition_months.py``) and timed against (``make
    bench-help``)."""
    import itertools
    from dataclasses import replace

    from sellerdesk.reports.editions import month_starts
    from sellerdesk.reports.engine import compute_report

    monthly_config = replace(params.config, top=1, topics=())
    zone = params.config.zone
    months = []
    for start, end in itertools.pairwise(month_starts(params)):
        if start > params.as_of:
            break
        month = compute_report(
            replace(params, config=monthly_config, start=start, end=end), lists=False
        )
        months.append(
            {
                "month": start.astimezone(zone).strftime("%Y-%m"),
                "segments": [
                    {
                        "name": s.name,
                        "conversations": s.conversations,
                        "first_response_seconds": s.first_response.as_dict(),
                        "resolution_seconds": s.resolution.as_dict(),
                    }
                    for s in month.segments
                ],
            }
        )
    return months
