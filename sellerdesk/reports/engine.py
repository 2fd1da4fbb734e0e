"""The report engine: report.md's figures computed in SQL over the stored facts.

Every segment is computed in the same pass (a join of the period's population with a small
table of (segment, country) rows), never by adding segments up and never by a Python loop over
conversations. Four statements: the figures with their means (and medians on PostgreSQL with
``percentile_cont``), the medians on SQLite (window functions), the top tags, the top tag pairs
(stored as rows by the services) and the topics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagPair,
    Kind,
    Outcome,
    ResolutionStretch,
    Tag,
)
from sellerdesk.reports.config import ReportParams

SCHEMA = "sellerdesk.report/v1"
KINDS = [k.value for k in Kind]
OUTCOMES = [o.value for o in Outcome]


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

    def as_dict(self) -> dict[str, Any]:
        zone = self.params.config.zone
        return {
            "schema": SCHEMA,
            "period": {
                "start": self.params.start.astimezone(zone).isoformat(),
                "end": self.params.end.astimezone(zone).isoformat(),
            },
            "as_of": self.params.as_of.astimezone(zone).isoformat(),
            "segments": [s.as_dict() for s in self.segments],
        }


def _t(model: Any) -> str:
    return str(model._meta.db_table)


class _Query:
    """The shared pieces of the report's statements, with their parameters in order."""

    def __init__(self, params: ReportParams, vendor: str, adapt: Any) -> None:
        self.params = params
        self.vendor = vendor
        self.adapt = adapt
        self.collate = ' COLLATE "C"' if vendor == "postgresql" else ""

    def segments_cte(self) -> tuple[str, list[Any]]:
        rows: list[Any] = []
        for index, segment in enumerate(self.params.config.segments):
            for country in sorted(segment.countries):
                rows.extend([index, country])
        values = ", ".join(["(%s, %s)"] * (len(rows) // 2))
        return f"seg(seg, country) AS (VALUES {values})", rows

    def population_cte(self, *, timings: bool) -> tuple[str, list[Any]]:
        """The conversations the report counts (report.md, "Population")."""
        p = self.params
        as_of = self.adapt(p.as_of)
        columns = "c.id, c.country"
        args: list[Any] = []
        if timings:
            # Facts stored for "now" hold at as_of unless a status change came after it; only
            # then the stretch that covered as_of is looked up (one indexed probe).
            columns += f""",
              c.kind, c.outcome,
              CASE WHEN c.first_response_at <= %s THEN c.first_response_seconds END AS fr,
              CASE WHEN c.status_changed_at IS NULL OR c.status_changed_at <= %s
                   THEN c.resolution_seconds
                   ELSE (SELECT rs.started_seconds FROM {_t(ResolutionStretch)} rs
                         WHERE rs.conversation_id = c.id AND rs.started_at <= %s
                           AND (rs.ended_at IS NULL OR rs.ended_at > %s))
              END AS res"""
            args += [as_of, as_of, as_of, as_of]
        sql = f"""pop AS (
            SELECT {columns}
            FROM {_t(Conversation)} c
            WHERE c.initiated_by = 'merchant' AND c.spam = %s
              AND c.created_at >= %s AND c.created_at < %s AND c.created_at <= %s)"""
        args += [False, self.adapt(p.start), self.adapt(p.end), as_of]
        return sql, args

    def with_clause(
        self, *, timings: bool, extra: str = "", extra_args: list[Any] | None = None
    ) -> tuple[str, list[Any]]:
        seg_sql, seg_args = self.segments_cte()
        pop_sql, pop_args = self.population_cte(timings=timings)
        parts = [seg_sql, pop_sql]
        args = [*seg_args, *pop_args]
        if extra:
            parts.append(extra)
            args += extra_args or []
        return "WITH " + ",\n".join(parts), args


def compute_report(params: ReportParams, *, using: str = "default") -> Report:
    connection = connections[using]
    query = _Query(params, connection.vendor, connection.ops.adapt_datetimefield_value)
    figures = [SegmentFigures(s.name, s.entries) for s in params.config.segments]
    with connection.cursor() as cursor:
        _main_figures(cursor, query, figures)
        if query.vendor != "postgresql":
            _medians_by_window(cursor, query, figures)
        _top_tags(cursor, query, figures)
        _top_pairs(cursor, query, figures)
        _topics(cursor, query, figures)
    return Report(params=params, segments=figures)


def _main_figures(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    kinds = ",\n".join(f"SUM(CASE WHEN kind = '{k}' THEN 1 ELSE 0 END)" for k in KINDS)
    outcomes = ",\n".join(
        f"SUM(CASE WHEN kind = 'complaint' AND outcome = '{o}' THEN 1 ELSE 0 END)" for o in OUTCOMES
    )
    medians = ""
    if query.vendor == "postgresql":
        medians = """,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY fr),
          percentile_cont(0.5) WITHIN GROUP (ORDER BY res),
          percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN kind = 'complaint' THEN res END)"""
    with_sql, args = query.with_clause(timings=True)
    cursor.execute(
        f"""{with_sql}
        SELECT s.seg, COUNT(*), {kinds},
          COUNT(fr), AVG(fr), COUNT(res), AVG(res),
          {outcomes},
          SUM(CASE WHEN kind = 'complaint' AND outcome IS NULL THEN 1 ELSE 0 END),
          AVG(CASE WHEN kind = 'complaint' THEN res END){medians}
        FROM pop p JOIN seg s ON s.country = p.country
        GROUP BY s.seg""",
        args,
    )
    for row in cursor.fetchall():
        figure = figures[row[0]]
        figure.conversations = row[1]
        figure.by_kind = {k: int(v or 0) for k, v in zip(KINDS, row[2:6], strict=True)}
        figure.complaints = figure.by_kind[Kind.COMPLAINT]
        figure.responded = row[6]
        figure.first_response.mean = _num(row[7])
        figure.resolved = row[8]
        figure.resolution.mean = _num(row[9])
        counts = row[10 : 10 + len(OUTCOMES) + 1]
        figure.outcomes = {
            k: int(v or 0) for k, v in zip([*OUTCOMES, "undecided"], counts, strict=True)
        }
        at = 11 + len(OUTCOMES)
        figure.complaint_resolution.mean = _num(row[at])
        if query.vendor == "postgresql":
            figure.first_response.median = _num(row[at + 1])
            figure.resolution.median = _num(row[at + 2])
            figure.complaint_resolution.median = _num(row[at + 3])


def _medians_by_window(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    """Medians where the database has no percentile function: rank within each segment and
    average the one or two middle values."""
    with_sql, args = query.with_clause(timings=True)
    cursor.execute(
        f"""{with_sql},
        sp AS MATERIALIZED (SELECT s.seg, p.kind, p.fr, p.res FROM pop p JOIN seg s ON s.country = p.country),
        vals AS (
          SELECT seg, 0 AS metric, fr AS v FROM sp WHERE fr IS NOT NULL
          UNION ALL SELECT seg, 1, res FROM sp WHERE res IS NOT NULL
          UNION ALL SELECT seg, 2, res FROM sp WHERE kind = 'complaint' AND res IS NOT NULL),
        ranked AS (
          SELECT seg, metric, v,
            ROW_NUMBER() OVER (PARTITION BY seg, metric ORDER BY v) AS rn,
            COUNT(*) OVER (PARTITION BY seg, metric) AS n
          FROM vals)
        SELECT seg, metric, AVG(v) FROM ranked
        WHERE rn = (n + 1) / 2 OR rn = (n + 2) / 2
        GROUP BY seg, metric""",
        args,
    )
    for seg, metric, value in cursor.fetchall():
        figure = figures[seg]
        timing = (figure.first_response, figure.resolution, figure.complaint_resolution)[metric]
        timing.median = _num(value)


def _top_tags(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    with_sql, args = query.with_clause(timings=False)
    cursor.execute(
        f"""{with_sql},
        counts AS (
          SELECT s.seg, ct.tag_id, COUNT(*) AS n
          FROM pop p JOIN seg s ON s.country = p.country
          JOIN {_t(ConversationTag)} ct ON ct.conversation_id = p.id
          GROUP BY s.seg, ct.tag_id),
        ranked AS (
          SELECT c.seg, t.name, c.n,
            ROW_NUMBER() OVER (PARTITION BY c.seg ORDER BY c.n DESC, t.name{query.collate}) AS rn
          FROM counts c JOIN {_t(Tag)} t ON t.id = c.tag_id)
        SELECT seg, name, n FROM ranked WHERE rn <= %s ORDER BY seg, rn""",
        [*args, query.params.config.top],
    )
    for seg, name, count in cursor.fetchall():
        figures[seg].tags.append((name, count))


def _top_pairs(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    with_sql, args = query.with_clause(timings=False)
    cursor.execute(
        f"""{with_sql},
        counts AS (
          SELECT s.seg, tp.tag_a_id, tp.tag_b_id, COUNT(*) AS n
          FROM pop p JOIN seg s ON s.country = p.country
          JOIN {_t(ConversationTagPair)} tp ON tp.conversation_id = p.id
          GROUP BY s.seg, tp.tag_a_id, tp.tag_b_id),
        ranked AS (
          SELECT c.seg, ta.name AS a, tb.name AS b, c.n,
            ROW_NUMBER() OVER (PARTITION BY c.seg
              ORDER BY c.n DESC, ta.name{query.collate}, tb.name{query.collate}) AS rn
          FROM counts c
          JOIN {_t(Tag)} ta ON ta.id = c.tag_a_id
          JOIN {_t(Tag)} tb ON tb.id = c.tag_b_id)
        SELECT seg, a, b, n FROM ranked WHERE rn <= %s ORDER BY seg, rn""",
        [*args, query.params.config.top],
    )
    for seg, a, b, count in cursor.fetchall():
        figures[seg].tag_pairs.append((a, b, count))


def _topics(cursor: Any, query: _Query, figures: list[SegmentFigures]) -> None:
    topics = query.params.config.topics
    counts: dict[tuple[int, int], int] = {}
    names = sorted({name for topic in topics for tag_set in topic.any for name in tag_set})
    if names:
        cursor.execute(
            f"SELECT name, id FROM {_t(Tag)} WHERE name IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        ids = dict(cursor.fetchall())
        rows: list[Any] = []
        for t_index, topic in enumerate(topics):
            for s_index, tag_set in enumerate(topic.any):
                if all(name in ids for name in tag_set):  # a set with an unknown tag matches none
                    for name in tag_set:
                        rows.extend([t_index, s_index, ids[name], len(tag_set)])
        if rows:
            values = ", ".join(["(%s, %s, %s, %s)"] * (len(rows) // 4))
            with_sql, args = query.with_clause(
                timings=False,
                extra=f"ts(topic, setno, tag_id, size) AS (VALUES {values})",
                extra_args=rows,
            )
            cursor.execute(
                f"""{with_sql},
                hits AS (
                  SELECT DISTINCT ct.conversation_id AS cid, ts.topic
                  FROM pop p
                  JOIN {_t(ConversationTag)} ct ON ct.conversation_id = p.id
                  JOIN ts ON ts.tag_id = ct.tag_id
                  GROUP BY ct.conversation_id, ts.topic, ts.setno, ts.size
                  HAVING COUNT(*) = ts.size)
                SELECT s.seg, h.topic, COUNT(*)
                FROM hits h JOIN pop p ON p.id = h.cid JOIN seg s ON s.country = p.country
                GROUP BY s.seg, h.topic""",
                args,
            )
            counts = {(seg, topic): n for seg, topic, n in cursor.fetchall()}
    for s_index, figure in enumerate(figures):
        figure.topics = [(t.name, counts.get((s_index, i), 0)) for i, t in enumerate(topics)]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
