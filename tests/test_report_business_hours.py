"""The report in business hours: the SQL over the window table agrees with the Python
calendar (``sla.calendar``) across DST changes and holidays; calendar time is untouched."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from sellerdesk.accounts.models import Team
from sellerdesk.conversations.models import Conversation
from sellerdesk.reports.config import ReportConfigError, build_params, parse_config
from sellerdesk.reports.engine import compute_report
from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import BusinessHours, CalendarWindow
from sellerdesk.sla.windows import windows_ensure
from tests.builders import conversation, import_ok, message, status

pytestmark = pytest.mark.django_db

WEEKDAYS = {day: ["09:00-12:30", "13:30-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
#: Berlin moves its clocks on 28 March and 31 October 2027; Good Friday and Easter Monday.
BERLIN = {"zone": "Europe/Berlin", "week": WEEKDAYS, "holidays": ["2027-03-26", "2027-03-29"]}
#: Shanghai has no DST; a Saturday shift; 1 April a holiday.
SHANGHAI = {
    "zone": "Asia/Shanghai",
    "week": {**WEEKDAYS, "sat": ["10:00-14:00"]},
    "holidays": ["2027-04-01"],
}
PERIOD = ("2027-03-01", "2027-12-01")
AS_OF = "2028-01-01T00:00:00+00:00"
START = datetime(2027, 3, 15, tzinfo=UTC)


def _history(rng: random.Random, n: int) -> dict:
    """A conversation filed at a random minute around the DST changes, answered and solved
    (some reopened and solved again) at random later moments."""
    base = START if n % 2 else datetime(2027, 10, 22, tzinfo=UTC)
    created = base + timedelta(minutes=rng.randrange(0, 20 * 24 * 60), seconds=rng.random())
    answered = created + timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
    messages = [message("1", author="merchant", created_at=created.isoformat())]
    if n % 5:
        messages.append(message("2", author="agent", created_at=answered.isoformat()))
    changes = []
    if n % 3:
        solved = answered + timedelta(minutes=rng.randrange(1, 9 * 24 * 60))
        changes.append(status("solved", solved.isoformat()))
        if n % 4 == 0:
            reopened = solved + timedelta(hours=rng.randrange(1, 50))
            changes += [
                status("open", reopened.isoformat()),
                status(
                    "solved", (reopened + timedelta(minutes=rng.randrange(1, 3000))).isoformat()
                ),
            ]
    return conversation(
        f"c-{n}",
        created_at=created.isoformat(),
        messages=messages,
        status_changes=changes,
        kind="complaint" if n % 2 else "question",
    )


@pytest.fixture
def stored():
    rng = random.Random(5)
    import_ok(*[_history(rng, n) for n in range(80)])
    return list(Conversation.objects.order_by("id"))


def _figures(calendar_of, rows, *, as_of=None):
    """The reference: each duration measured by BusinessCalendar.between in Python."""
    fr, res, cres = [], [], []
    for row in rows:
        calendar = calendar_of(row)
        if row.first_response_at is not None:
            fr.append(calendar.between(row.created_at, row.first_response_at))
        resolved = row.resolved_at if as_of is None else as_of.get(row.pk, row.resolved_at)
        if resolved is not None:
            res.append(calendar.between(row.created_at, resolved))
            if row.kind == "complaint":
                cres.append(calendar.between(row.created_at, resolved))
    return [
        (statistics.fmean(values), statistics.median(values)) if values else (None, None)
        for values in (fr, res, cres)
    ]


def _measured(data):
    figures = data["segments"][0]
    return [
        (figures["first_response_seconds"]["mean"], figures["first_response_seconds"]["median"]),
        (figures["resolution_seconds"]["mean"], figures["resolution_seconds"]["median"]),
        (
            figures["complaints"]["resolution_seconds"]["mean"],
            figures["complaints"]["resolution_seconds"]["median"],
        ),
    ]


def _close(measured, expected):
    for (mean, median), (want_mean, want_median) in zip(measured, expected, strict=True):
        assert mean == pytest.approx(want_mean, abs=0.01)
        assert median == pytest.approx(want_median, abs=0.01)


def _report(business_hours=None, as_of=AS_OF):
    params = build_params(parse_config({}), *PERIOD, as_of, business_hours=business_hours)
    return compute_report(params).as_dict()


def test_a_named_calendar_measures_as_the_python_calendar_does(stored):
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    BusinessHours.objects.create(name="Shanghai", **SHANGHAI)
    for name, definition in (("Berlin", BERLIN), ("Shanghai", SHANGHAI)):
        calendar = BusinessCalendar.from_config(**definition)
        data = _report(name)
        assert data["business_hours"] == name
        _close(_measured(data), _figures(lambda row, c=calendar: c, stored))


def test_team_calendars_measure_each_conversation_in_its_teams_hours(stored, eu_team, cn_team):
    BusinessHours.objects.create(name="Default", **BERLIN)
    BusinessHours.objects.create(name="China", team=cn_team, **SHANGHAI)
    plain = Team.objects.create(name="No hours of its own")
    for index, row in enumerate(stored):  # set-up: spread the conversations over the teams
        team = (cn_team, eu_team, plain, None)[index % 4]
        Conversation.objects.filter(pk=row.pk).update(team=team)
        row.team = team
    berlin = BusinessCalendar.from_config(**BERLIN)
    shanghai = BusinessCalendar.from_config(**SHANGHAI)
    expected = _figures(lambda row: shanghai if row.team == cn_team else berlin, stored)
    data = _report("team")
    assert data["business_hours"] == "team"
    _close(_measured(data), expected)


def test_as_of_before_a_reopening_measures_the_solve_then(stored):
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    calendar = BusinessCalendar.from_config(**BERLIN)
    reopened = [row for row in stored if row.status_changes.count() == 3]
    assert reopened
    row = reopened[0]
    first_solve, reopening = list(row.status_changes.order_by("seq").values_list("at", flat=True))[
        :2
    ]
    as_of = reopening + timedelta(seconds=1)
    population = [r for r in stored if r.created_at <= as_of]
    moments = {}
    for r in population:  # the resolution moment as of then, from the status log
        log = list(r.status_changes.filter(at__lte=as_of).order_by("at", "seq"))
        moments[r.pk] = None
        for change in log:
            if change.status in {"solved", "closed"} and moments[r.pk] is None:
                moments[r.pk] = change.at
            elif change.status not in {"solved", "closed"}:
                moments[r.pk] = None
        if r.first_response_at is not None and r.first_response_at > as_of:
            r.first_response_at = None
    assert moments[row.pk] is None
    assert first_solve < reopening
    data = _report("Berlin", as_of=as_of.isoformat())
    _close(_measured(data), _figures(lambda r: calendar, population, as_of=moments))


def test_without_any_calendar_team_hours_are_calendar_time(stored):
    calendar_time = _measured(_report())
    assert calendar_time[0][0] is not None
    _close(_measured(_report("team")), calendar_time)


def test_the_default_report_is_unchanged_and_says_nothing_of_business_hours(stored):
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    data = _report()
    assert "business_hours" not in data
    always = BusinessCalendar.always()
    _close(_measured(data), _figures(lambda row: always, stored))

    def counts(figures):
        kept = {k: v for k, v in figures.items() if not k.endswith("seconds")}
        kept["complaints"] = {
            k: v for k, v in figures["complaints"].items() if k != "resolution_seconds"
        }
        return kept

    assert counts(data["segments"][0]) == counts(_report("Berlin")["segments"][0])


def test_an_unknown_calendar_is_refused_naming_the_known_ones(stored):
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    with pytest.raises(ReportConfigError, match=r"no business calendar named 'Paris'.*Berlin"):
        _report("Paris")
    with pytest.raises(ReportConfigError, match="business_hours"):
        _report("  ")


def test_the_window_table_grows_and_follows_an_edited_calendar(db):
    calendar = BusinessCalendar.from_config(**BERLIN)
    key = windows_ensure(calendar=calendar, start=START, end=START + timedelta(days=10))
    first = CalendarWindow.objects.filter(calendar_key=key).count()
    assert first > 0
    assert windows_ensure(calendar=calendar, start=START, end=START + timedelta(days=5)) == key
    assert CalendarWindow.objects.filter(calendar_key=key).count() == first
    windows_ensure(calendar=calendar, start=START - timedelta(days=30), end=START)
    assert CalendarWindow.objects.filter(calendar_key=key).count() > first
    edited = BusinessCalendar.from_config(**{**BERLIN, "holidays": []})
    assert windows_ensure(calendar=edited, start=START, end=START) != key


def test_the_command_and_the_api_take_the_option(stored, tmp_path, client):
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    out = tmp_path / "report.json"
    call_command(
        "report", "--from", PERIOD[0], "--to", PERIOD[1], "--as-of", AS_OF,
        "--business-hours", "Berlin", "--output", str(out),
    )  # fmt: skip
    assert '"business_hours": "Berlin"' in out.read_text()
    with pytest.raises(CommandError, match="no business calendar named 'Nowhere'"):
        call_command(
            "report", "--from", PERIOD[0], "--to", PERIOD[1], "--business-hours", "Nowhere"
        )


def test_the_api_takes_the_option_and_names_a_missing_calendar(stored, acme, globex):
    import json

    from django.core.cache import cache

    from tests.api_support import assert_problem, make_world

    cache.clear()
    BusinessHours.objects.create(name="Berlin", **BERLIN)
    reports = make_world(acme, globex).client("reports")
    body = {"from": PERIOD[0], "to": PERIOD[1], "as_of": AS_OF}
    plain = reports.post("/api/v1/reports", body)
    assert plain.status_code == 200, plain.content
    assert "business_hours" not in json.loads(plain.content)
    response = reports.post("/api/v1/reports", {**body, "business_hours": "Berlin"})
    assert response.status_code == 200, response.content
    data = json.loads(response.content)
    assert data["business_hours"] == "Berlin"
    assert _measured(data) == _measured(_report("Berlin"))
    missing = reports.post("/api/v1/reports", {**body, "business_hours": "Mars"})
    assert "no business calendar named 'Mars'" in assert_problem(missing, 422)["detail"]
