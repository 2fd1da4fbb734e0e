"""Inputs at the edges of the calendar (years 1 and 9999) on the desk's pages: the triage
page's period, an improvement's day it was done and its measured effect, a report edition's
period and its configuration's ``top``. Each is computed or refused with a message naming the problem,
never answered with a 500, and nothing is stored."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.core.errors import ValidationError
from sellerdesk.reports import engine, services
from sellerdesk.reports.config import ReportConfigError, build_params, parse_config
from sellerdesk.reports.editions import month_starts, parse_config_text
from sellerdesk.reports.models import Edition, Improvement

AS_OF = "2025-01-01T00:00:00+00:00"


@pytest.fixture
def lead_client(lead, client_for):
    return client_for(lead)


# --- the triage page --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "9999-12-31"}, "To"),
        ({"from": "9999-12-31"}, "From"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "From"),
        ({"from": "2024-01-01", "to": "9999-12-31"}, "To"),
    ],
)
def test_triage_refuses_the_calendars_last_day_with_a_message(lead_client, query, field):
    response = lead_client.get(reverse("desk:triage"), query)
    assert response.status_code == 400
    page = response.content.decode()
    assert f"{field}: 9999-12-31" in page
    assert "the last day a period can cover (9999-12-30)" in page


def test_triage_takes_a_period_up_to_the_last_day_it_can_end_on(lead_client):
    response = lead_client.get(reverse("desk:triage"), {"from": "0001-01-01", "to": "9999-12-30"})
    assert response.status_code == 200
    assert 'value="9999-12-30"' in response.content.decode()


# --- an improvement's day it was done ---------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-02", "9999-10-03", "0001-03-31"])
def test_an_improvement_done_too_near_the_calendars_edge_is_refused(lead_client, day):
    response = lead_client.post(
        reverse("reports:improvement_new"), {"title": "t", "status": "done", "done_on": day}
    )
    assert response.status_code == 200  # the form again, with the reason
    page = response.content.decode()
    assert f"(Done on, {day})" in page
    assert "0001-04-01 to 9999-10-02" in page
    assert not Improvement.objects.exists()
    assert not AuditEvent.objects.filter(action="improvement_changed").exists()


def test_an_improvement_done_at_the_edges_it_may_use_is_saved(db, lead):
    for day in (date(1, 4, 1), date(9999, 10, 2)):
        services.improvement_save(
            actor=lead, title=f"t {day}", description="", status="done", done_on=day
        )
    assert Improvement.objects.count() == 2


def test_the_earliest_improvement_is_measured(db, lead, lead_client):
    row = services.improvement_save(
        actor=lead, title="t", description="", status="done", done_on=date(1, 4, 1)
    )
    response = lead_client.post(
        reverse("reports:improvement_measure", kwargs={"pk": row.pk}), follow=True
    )
    assert response.status_code == 200
    assert "Effect measured." in response.content.decode()
    row.refresh_from_db()
    assert row.effect["before"]["period"]["start"].startswith("0001-01-01")


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(9999, 12, 31), "nothing to compare yet"),
        (date(9999, 10, 3), "nothing to compare yet"),
        (date(1, 1, 2), "outside the calendar"),
        (date(1, 1, 1), "outside the calendar"),
    ],
)
def test_measuring_an_improvement_stored_near_the_calendars_edge_says_why_not(
    db, lead, lead_client, day, reason
):
    """Rows stored before the day it was done was checked: a message, not a 500."""
    row = Improvement.objects.create(title="old", status="done", done_on=day)
    response = lead_client.post(
        reverse("reports:improvement_measure", kwargs={"pk": row.pk}), follow=True
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    row.refresh_from_db()
    assert row.effect_measured_at is None
    with pytest.raises(ValidationError, match=reason):
        services.improvement_measure(actor=lead, improvement=row)


# --- a report edition -------------------------------------------------------------------------


def _edition_post(client, **fields):
    data = {
        "series": "far",
        "title": "Far",
        "start": "9999-12-01",
        "end": "9999-12-31",
        "as_of": AS_OF,
        "config_text": 'timezone = "UTC"\ntop = 5\n',
        **fields,
    }
    return client.post(reverse("reports:edition_new"), data)


@pytest.mark.parametrize(
    ("start", "end", "zone"),
    [
        ("9999-12-01", "9999-12-31", "UTC"),
        ("9999-11-15", "9999-12-31T23:59:59Z", "UTC"),
        ("9999-12-01", "9999-12-31", "America/New_York"),
        ("9999-12-01", "9999-12-31", "Pacific/Kiritimati"),
    ],
)
def test_an_edition_in_the_calendars_last_month_is_computed(lead_client, start, end, zone):
    response = _edition_post(
        lead_client,
        start=start,
        end=end,
        as_of="9999-12-31T00:00:00Z",  # the month's figures are there up to as_of
        config_text=f'timezone = "{zone}"\ntop = 5\n',
    )
    assert response.status_code == 302, response.content.decode()
    edition = Edition.objects.get()
    assert edition.monthly[-1]["month"] == "9999-12"
    page = lead_client.get(response["Location"])
    assert page.status_code == 200


def test_the_month_cuts_stop_at_the_calendars_last_month():
    config = parse_config({})
    params = build_params(config, "9999-11-15", "9999-12-31", AS_OF)
    cuts = month_starts(params)
    assert [c.date().isoformat() for c in cuts] == ["9999-11-15", "9999-12-01", "9999-12-31"]


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_an_edition_in_year_one_is_recomputed_and_published(lead_client, zone):
    """In year 1 the zone keeps local mean time, an offset to the second (+09:18:59) that
    RFC 3339 does not write: the stored period is read again all the same."""
    response = _edition_post(
        lead_client,
        start="0001-01-02",
        end="0001-12-01",
        config_text=f'timezone = "{zone}"\ntop = 5\n',
    )
    assert response.status_code == 302, response.content.decode()
    edition = Edition.objects.get()
    for name in ("reports:edition_recompute", "reports:edition_publish"):
        page = lead_client.post(reverse(name, kwargs={"pk": edition.pk}), follow=True)
        assert page.status_code == 200
        assert 'role="alert"' not in page.content.decode()
    edition.refresh_from_db()
    assert edition.is_published
    public = lead_client.get(reverse("help:report", kwargs={"series": "far"}))
    assert public.status_code == 200


@pytest.mark.parametrize("top", ["99999999999999999999", "5000"])
def test_an_edition_with_a_top_past_any_database_integer_is_computed(lead_client, top):
    """report.md bounds ``top`` only below: one past a 64-bit integer lists every tag."""
    response = _edition_post(
        lead_client, start="2022-01-01", end="2023-01-01", config_text=f"top = {top}\n"
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Edition.objects.get().config["top"] == int(top)


def test_a_report_with_a_huge_top_lists_every_tag(acme_conversation, agent):
    from sellerdesk.conversations import workflow

    for name in ("payout", "refund"):
        workflow.conversation_add_tag(conversation=acme_conversation, name=name, actor=agent)
    for top in (99999999999999999999, 10):
        config = parse_config({"top": top})
        params = build_params(config, "2000-01-01", "2100-01-01", as_of="2099-01-01")
        tags = engine.compute_report(params).as_dict()["segments"][0]["tags"]
        assert sorted(t["tag"] for t in tags) == ["payout", "refund"]


def test_an_edition_with_a_top_of_5000_digits_is_refused(lead_client):
    response = _edition_post(
        lead_client, start="2022-01-01", end="2023-01-01", config_text="top = 1" + "0" * 5000
    )
    assert response.status_code == 200  # the form again, with the reason
    assert "not valid TOML" in response.content.decode()
    assert not Edition.objects.exists()


def test_a_configuration_with_an_integer_too_long_to_read_is_refused():
    with pytest.raises(ReportConfigError, match="not valid TOML"):
        parse_config_text("top = 1" + "0" * 5000)
