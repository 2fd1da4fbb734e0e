"""Both median methods give the exact median, on every database: PostgreSQL's (the sorted
values of each country set, ``population``, equal to percentile_cont) and the two-step
histogram search SQLite uses, including values on and
around the histogram's bucket edges, ties, and segments of one or two values."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

import pytest
from django.db import connection

from sellerdesk.conversations.importer import conversations_import
from sellerdesk.reports import engine, medians, population
from sellerdesk.reports.config import build_params, parse_config
from tests.builders import at, conversation, line, message, status

EDGES = [0, 0.4, 59.5, 60, 3599.999, 3600, 3600.001, 86399.9, 86400, 2591999.5, 2592000, 9e6]

CONFIG = parse_config(
    {
        "segment": [
            {"name": "TR", "countries": ["TR"]},
            {"name": "CN", "countries": ["CN"]},
            {"name": "KR (one value)", "countries": ["KR"]},
            {"name": "IN (two values)", "countries": ["IN"]},
            {"name": "All", "countries": ["*"]},
        ]
    }
)


def _line(number: int, country: str, response: float, resolution: float, kind: str) -> bytes:
    created = at(hours=number)
    obj = conversation(
        f"c-{number}",
        country=country,
        created_at=created.isoformat(),
        kind=kind,
        messages=[message("1", created_at=(created + timedelta(seconds=response)).isoformat())],
        status_changes=[status("solved", (created + timedelta(seconds=resolution)).isoformat())],
    )
    return line(obj).encode()


def _dataset():
    rng = random.Random(7)
    rows = []
    for number in range(400):
        country = rng.choice(["TR", "TR", "CN", "CN", "CN", "DE"])
        response = rng.choice(EDGES) if number % 3 == 0 else rng.lognormvariate(8, 2)
        resolution = rng.choice(EDGES) if number % 4 == 0 else rng.lognormvariate(10, 2)
        kind = rng.choice(["question", "complaint"])
        rows.append((number, country, round(response, 3), round(resolution, 3), kind))
    rows.append((400, "KR", 3600, 86400, "complaint"))
    rows.append((401, "IN", 59.5, 60, "complaint"))
    rows.append((402, "IN", 3600.001, 2592000, "question"))
    return rows


def _expected(rows, countries, kind=None, index=2):
    values = [r[index] for r in rows if (countries is None or r[1] in countries)]
    if kind:
        values = [
            r[index] for r in rows if (countries is None or r[1] in countries) and r[4] == kind
        ]
    return statistics.median(values) if values else None


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["histogram", "sorted"])
def test_both_median_methods_find_the_exact_median(method):
    if method == "sorted" and connection.vendor != "postgresql":
        pytest.skip("the sorted arrays are PostgreSQL's")
    rows = _dataset()
    result = conversations_import((n + 1, _line(*row)) for n, row in enumerate(rows))
    assert result.imported == len(rows)
    assert not result.rejected
    params = build_params(CONFIG, "2000-01-01", "2100-01-01", at(days=3650).isoformat())
    query = engine._Query(params, connection.vendor, connection.ops.adapt_datetimefield_value)
    figures = [engine.SegmentFigures(s.name, s.entries) for s in CONFIG.segments]
    with connection.cursor() as cursor:
        function = (
            medians.medians_by_histogram if method == "histogram" else population.population_figures
        )
        function(cursor, query, figures)
    for figure, countries in zip(figures, [{"TR"}, {"CN"}, {"KR"}, {"IN"}, None], strict=True):
        assert figure.first_response.median == pytest.approx(_expected(rows, countries), abs=1e-3)
        assert figure.resolution.median == pytest.approx(
            _expected(rows, countries, index=3), abs=1e-3
        )
        expected = _expected(rows, countries, kind="complaint", index=3)
        assert figure.complaint_resolution.median == pytest.approx(expected, abs=1e-3)


@pytest.mark.django_db
def test_postgresqls_medians_are_percentile_conts_to_the_last_bit():
    """Read from the country sets' sorted arrays (``population``), each median is the double
    ``percentile_cont(0.5)`` gives over the segment's values, not merely close to it."""
    if connection.vendor != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's")
    rows = _dataset()
    result = conversations_import((n + 1, _line(*row)) for n, row in enumerate(rows))
    assert result.imported == len(rows)
    params = build_params(CONFIG, "2000-01-01", "2100-01-01", at(days=3650).isoformat())
    query = engine._Query(params, connection.vendor, connection.ops.adapt_datetimefield_value)
    figures = [engine.SegmentFigures(s.name, s.entries) for s in CONFIG.segments]
    with connection.cursor() as cursor:
        population.population_figures(cursor, query, figures)
        for figure, segment in zip(figures, CONFIG.segments, strict=True):
            cursor.execute(
                """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds)
                    FILTER (WHERE kind = 'complaint')
                FROM conversations_conversation WHERE country = ANY(%s)""",
                [sorted(segment.countries)],
            )
            expected = cursor.fetchone()
            got = (
                figure.first_response.median,
                figure.resolution.median,
                figure.complaint_resolution.median,
            )
            assert got == expected
