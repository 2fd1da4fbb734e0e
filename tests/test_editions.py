"""Report editions: computed by the report engine, reviewed, published, frozen, versioned;
the public page, its downloads, the P2B and DSA blocks, the charts; the improvements."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.http import http_date, parse_http_date

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.conversations.models import Conversation
from sellerdesk.core.errors import ValidationError
from sellerdesk.reports import services
from sellerdesk.reports.config import build_params
from sellerdesk.reports.editions import parse_config_text
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.models import Edition, EditionStatus
from sellerdesk.reports.public import body_cache_key
from sellerdesk.reports.render import render_csv
from tests.builders import conversation, import_ok, responded, solved
from tests.conftest import FIXTURES
from tests.test_sample_report import assert_report_matches

AS_OF = "2025-01-01T00:00:00+00:00"
CONFIG = """timezone = "UTC"
top = 5
[[segment]]
name = "TR merchants"
countries = ["TR"]
[[segment]]
name = "All merchants"
countries = ["*"]
[[topic]]
name = "Cancel an order"
any = [["order_cancel"]]
"""


def _data():
    """Five conversations in March and April 2022: two complaints, times of 4860 s and more."""
    import_ok(
        responded("c-1", after=4860, tags=["order_cancel", "refund"], kind="complaint",
                  outcome="upheld"),
        solved("c-2", after=7200, tags=["order_cancel"], kind="complaint", outcome="rejected"),
        responded("c-3", after=60, country="CN", merchant_id="m-2", tags=["payout"]),
        conversation("c-4", created_at="2022-04-10T10:00:00+00:00", kind="request"),
        conversation("c-5", created_at="2022-04-11T10:00:00+00:00", kind="proposal"),
    )  # fmt: skip


def _create(lead, series="2022", **kwargs):
    fields = {
        "title": "Complaint-handling system data 2022",
        "start": "2022-01-01",
        "end": "2023-01-01",
        "as_of": AS_OF,
        "config_text": CONFIG,
        **kwargs,
    }
    return services.edition_create(actor=lead, series=series, **fields)


def _engine(config_text=CONFIG, start="2022-01-01", end="2023-01-01", as_of=AS_OF):
    config, _ = parse_config_text(config_text)
    return compute_report(build_params(config, start, end, as_of))


@pytest.fixture
def published(db, lead):
    _data()
    edition = _create(lead)
    return services.edition_publish(actor=lead, edition=edition)


def test_an_editions_figures_are_the_report_engines(db, lead):
    _data()
    edition = _create(lead)
    assert edition.status == EditionStatus.DRAFT
    assert edition.figures == _engine().as_dict()
    published = services.edition_publish(actor=lead, edition=edition)
    assert published.figures == _engine().as_dict()
    assert published.figures["segments"][1]["conversations"] == 5


def test_monthly_figures_are_the_engine_over_each_month(db, lead):
    _data()
    edition = _create(lead)
    months = {m["month"]: m for m in edition.monthly}
    assert len(months) == 12
    april = _engine(start="2022-04-01", end="2022-05-01")
    assert months["2022-04"]["segments"][1]["conversations"] == 2
    assert months["2022-04"]["segments"][1]["conversations"] == april.segments[1].conversations
    march = _engine(start="2022-03-01", end="2022-04-01").segments[0]
    assert months["2022-03"]["segments"][0]["first_response_seconds"] == (
        march.first_response.as_dict()
    )


def test_a_published_edition_does_not_change_when_the_data_do(published, lead, client):
    page = client.get(reverse("help:report", kwargs={"series": "2022"})).content
    frozen = dict(published.figures)
    # A late import inside the period, a conversation turned spam: the engine sees both.
    import_ok(conversation("c-6", created_at="2022-05-01T10:00:00+00:00", kind="complaint"))
    Conversation.objects.filter(external_id="c-3").update(spam=True)
    assert _engine().as_dict() != frozen
    published.refresh_from_db()
    assert published.figures == frozen
    again = client.get(reverse("help:report", kwargs={"series": "2022"})).content
    assert again == page


def test_a_published_edition_refuses_every_change(published, lead):
    with pytest.raises(ValidationError, match="published edition does not change"):
        services.edition_update(
            actor=lead, edition=published, title="New", intro="", descriptions={},
            improvement_ids=[],
        )  # fmt: skip
    with pytest.raises(ValidationError):
        services.edition_recompute(actor=lead, edition=published)
    with pytest.raises(ValidationError):
        services.edition_publish(actor=lead, edition=published)
    published.refresh_from_db()
    assert published.title == "Complaint-handling system data 2022"


def test_a_correction_is_a_new_version_and_the_old_one_stays_readable(published, lead, client):
    old_count = published.figures["segments"][1]["conversations"]
    import_ok(conversation("c-7", created_at="2022-06-01T10:00:00+00:00"))
    draft = services.edition_correct(actor=lead, edition=published)
    assert (draft.series, draft.version, draft.status) == ("2022", 2, EditionStatus.DRAFT)
    with pytest.raises(ValidationError, match="already being drafted"):
        services.edition_correct(actor=lead, edition=published)
    # Until it is published, readers see version 1.
    latest = client.get(reverse("help:report", kwargs={"series": "2022"}))
    assert "Version 1" in latest.content.decode()
    v2 = services.edition_publish(actor=lead, edition=draft)
    assert v2.figures["segments"][1]["conversations"] == old_count + 1
    latest = client.get(reverse("help:report", kwargs={"series": "2022"})).content.decode()
    assert "Version 2" in latest
    assert "corrects version 1" in latest
    v1_url = reverse("help:report_version", kwargs={"series": "2022", "version": 1})
    v1_json = client.get(reverse("help:report_json", kwargs={"series": "2022", "version": 1}))
    assert client.get(v1_url).status_code == 200
    assert json.loads(v1_json.content)["segments"][1]["conversations"] == old_count


def test_downloads_carry_the_stored_figures(published, client):
    kwargs = {"series": "2022", "version": 1}
    response = client.get(reverse("help:report_json", kwargs=kwargs))
    assert response["Content-Type"] == "application/json"
    assert 'filename="2022-v1.json"' in response["Content-Disposition"]
    data = json.loads(response.content)
    edition = data.pop("edition")
    assert data == published.figures == _engine().as_dict()
    # In the engine's order too, whatever order the database keeps JSON keys in.
    engine_json = json.dumps(_engine().as_dict(), ensure_ascii=False, indent=1)
    assert json.dumps(data, ensure_ascii=False, indent=1) == engine_json
    assert edition["version"] == 1
    assert len(edition["monthly"]) == 12
    response = client.get(reverse("help:report_csv", kwargs=kwargs))
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode() == render_csv(_engine())
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["All merchants", "conversations", "", "5"] in rows


def test_the_public_page_reads_like_a_complaint_handling_data_page(published, lead, client):
    page = client.get(reverse("help:report", kwargs={"series": "2022"})).content.decode()
    assert "Complaint-handling system data 2022" in page
    # Mean response of c-1 (4860 s) and c-3 (60 s) = 2460 s; TR segment's is 4860 s.
    assert "1 h 21 m" in page
    assert "41 m" in page
    assert "Summary (P2B Regulation 2019/1150, Art. 11(4))" in page
    assert "Total number of complaints" in page
    assert "Decision reversed" in page
    assert "order_cancel + refund" in page  # tags used together in one chat
    assert page.count("<svg") == 3
    assert 'role="img"' in page
    assert "<title id=" in page
    assert "<script" not in page
    assert page.count("cdn") == 0


def test_the_dsa_table_counts_upheld_reversed_and_omitted(published, client):
    from sellerdesk.reports.present import dsa_row

    row = dsa_row(published.figures["segments"][1]["complaints"])
    # c-1 upheld (the decision reversed), c-2 rejected (the decision upheld).
    assert (row["received"], row["upheld"], row["reversed"], row["omitted"]) == (2, 1, 1, 0)
    assert row["median_days"] == "0.1"  # c-2 solved after 7200 s; c-1 is not resolved


def test_the_public_page_is_cacheable_and_answers_304(published, client, alice, client_for):
    url = reverse("help:report", kwargs={"series": "2022"})
    response = client.get(url)
    assert response["Cache-Control"] == "public, max-age=300"
    assert "Accept-Language" in response["Vary"]
    assert "Set-Cookie" not in response.serialize_headers().decode()
    again = client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    signed_in = client_for(alice).get(url)
    assert signed_in["Cache-Control"] == "private, no-cache"
    assert signed_in["ETag"] != response["ETag"]


def test_the_public_page_reads_two_rows_and_its_cached_figures(
    published, client, django_assert_num_queries
):
    url = reverse("help:report", kwargs={"series": "2022"})
    cache.clear()
    # Cold: the version (without its figures), the series' versions, the stored figures.
    with django_assert_num_queries(3):
        first = client.get(url)
    # Warm: the figures come rendered from the cache; whatever the data, nothing is computed.
    import_ok(
        *[conversation(f"late-{n}", created_at="2022-05-01T10:00:00+00:00") for n in range(5)]
    )
    for _ in range(3):
        with django_assert_num_queries(2):
            again = client.get(url)
        assert again.content == first.content
    with django_assert_num_queries(2):
        assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_the_public_page_has_a_date_and_answers_if_modified_since(
    published, client, alice, client_for
):
    url = reverse("help:report_version", kwargs={"series": "2022", "version": 1})
    response = client.get(url)
    assert parse_http_date(response["Last-Modified"]) == int(published.published_at.timestamp())
    since = response["Last-Modified"]
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=since).status_code == 304
    earlier = http_date(int(published.published_at.timestamp()) - 60)
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200
    # An ETag that is not the page's wins over a date that is.
    stale = client.get(url, HTTP_IF_NONE_MATCH='W/"old"', HTTP_IF_MODIFIED_SINCE=since)
    assert stale.status_code == 200
    # A signed-in reader's page (their name on it) is not dated, and a date never answers it.
    signed_in = client_for(alice)
    assert "Last-Modified" not in signed_in.get(url)
    assert signed_in.get(url, HTTP_IF_MODIFIED_SINCE=since).status_code == 200


def test_a_correction_changes_the_old_versions_page(published, lead, client):
    url = reverse("help:report_version", kwargs={"series": "2022", "version": 1})
    before = client.get(url)
    draft = services.edition_correct(actor=lead, edition=published)
    assert client.get(url, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    # HTTP dates are whole seconds: the correction is published a minute later.
    with time_machine.travel(published.published_at + timedelta(minutes=1)):
        services.edition_publish(actor=lead, edition=draft)
    after = client.get(url, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert "v2" in after.content.decode()
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=before["Last-Modified"]).status_code == 200


@override_settings(LANGUAGES=[("en", "English"), ("tr", "Türkçe")])
def test_the_cached_figures_and_the_etag_follow_the_active_translation(
    published, client, django_assert_num_queries
):
    url = reverse("help:report", kwargs={"series": "2022"})
    cache.clear()
    with django_assert_num_queries(3):
        english = client.get(url + "?lang=en", HTTP_ACCEPT_LANGUAGE="tr")
    # ?lang= names the page's language, translation included (core.i18n): its own figures' text.
    with django_assert_num_queries(3):
        turkish = client.get(url + "?lang=tr", HTTP_ACCEPT_LANGUAGE="en")
    assert english["ETag"] != turkish["ETag"]
    assert "Complaints about our decisions" in english.content.decode()
    assert "Kararlarımıza yönelik şikâyetler" in turkish.content.decode()
    assert client.get(url + "?lang=tr", HTTP_IF_NONE_MATCH=english["ETag"]).status_code == 200
    edition = Edition.objects.get(pk=published.pk)
    with translation.override("tr"):
        turkish_key = body_cache_key(edition, "tr")
        assert body_cache_key(edition, "en") != turkish_key
    with translation.override("en"):
        assert body_cache_key(edition, "en") != turkish_key
        assert body_cache_key(edition, "en") != body_cache_key(edition, "tr")
    assert cache.get(turkish_key) is not None


def test_downloads_are_dated_and_kept_a_day(published, client):
    url = reverse("help:report_csv", kwargs={"series": "2022", "version": 1})
    response = client.get(url)
    assert response["Cache-Control"] == "public, max-age=86400"
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    since = response["Last-Modified"]
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=since).status_code == 304


def test_drafts_are_not_public(db, lead, client):
    _data()
    edition = _create(lead)
    assert client.get(reverse("help:report", kwargs={"series": edition.series})).status_code == 404
    url = reverse("help:report_json", kwargs={"series": edition.series, "version": 1})
    assert client.get(url).status_code == 404


def test_a_bad_configuration_is_refused_with_its_reason_and_nothing_stored(db, lead):
    for config, reason in (
        ("top = 0", "top must be"),
        ("[[segment]]\nname = 'X'\ncountries = ['XX']", "'XX' is not an ISO"),
        ("this is = = not toml", "not valid TOML"),
    ):
        with pytest.raises(ValidationError, match=reason):
            _create(lead, config_text=config)
    with pytest.raises(ValidationError, match="end must be after"):
        _create(lead, start="2023-01-01", end="2022-01-01")
    with pytest.raises(ValidationError, match="not a usable address"):
        _create(lead, series="Not a slug!")
    assert not Edition.objects.exists()


def test_an_as_of_in_the_future_cannot_be_published(db, lead):
    edition = _create(lead, as_of="2999-01-01T00:00:00+00:00")
    with pytest.raises(ValidationError, match="in the future"):
        services.edition_publish(actor=lead, edition=edition)


def test_only_leads_and_admins_manage_editions(db, agent, lead):
    with pytest.raises(PermissionDenied):
        _create(agent)
    edition = _create(lead)
    with pytest.raises(PermissionDenied):
        services.edition_publish(actor=agent, edition=edition)


def test_review_shows_the_previous_edition_and_saves_descriptions(db, lead, client_for):
    _data()
    old = services.edition_publish(
        actor=lead, edition=_create(lead, series="2021", start="2021-01-01", end="2022-01-01")
    )
    edition = _create(lead)
    client = client_for(lead)
    url = reverse("reports:edition", kwargs={"pk": edition.pk})
    page = client.get(url).content.decode()
    assert "Beside the previous edition" in page
    assert old.title in page
    improvement = services.improvement_save(
        actor=lead, title="Cancel button in the app", description="", status="planned"
    )
    response = client.post(
        url,
        {
            "title": "Data 2022",
            "intro": "Hello",
            "topic-0": "Merchants asked <b>how</b> to cancel.",
            "improvements": [str(improvement.pk)],
        },
    )
    assert response.status_code == 302
    edition.refresh_from_db()
    assert edition.descriptions == {"Cancel an order": "Merchants asked <b>how</b> to cancel."}
    assert list(edition.improvements.all()) == [improvement]
    client.post(reverse("reports:edition_publish", kwargs={"pk": edition.pk}))
    public = client_for(None).get(reverse("help:report", kwargs={"series": "2022"}))
    text = public.content.decode()
    assert "Merchants asked &lt;b&gt;how&lt;/b&gt; to cancel." in text
    assert "Cancel button in the app" in text
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"edition_changed", "edition_published", "improvement_changed"} <= actions


def test_a_published_edition_keeps_its_improvements_as_they_were(published, lead, client):
    improvement = services.improvement_save(
        actor=lead, title="Faster payouts", description="", status="in_progress"
    )
    draft = services.edition_correct(actor=lead, edition=published)
    services.edition_update(
        actor=lead, edition=draft, title=draft.title, intro="", descriptions={},
        improvement_ids=[improvement.pk],
    )  # fmt: skip
    services.edition_publish(actor=lead, edition=draft)
    services.improvement_save(
        actor=lead, title="Faster payouts, done", description="", status="done",
        done_on=date(2024, 1, 1), improvement=improvement,
    )  # fmt: skip
    page = client.get(reverse("help:report", kwargs={"series": "2022"})).content.decode()
    assert "Faster payouts" in page
    assert "Faster payouts, done" not in page
    listing = client.get(reverse("help:improvements")).content.decode()
    assert "Faster payouts, done" in listing


def test_an_improvements_effect_is_measured_by_the_engine(db, lead, client):
    _data()
    _create(lead)
    improvement = services.improvement_save(
        actor=lead, title="Cancel in one click", description="", status="done",
        done_on=date(2022, 3, 15), topics=["Cancel an order"], segments=["TR merchants"],
        tags=["Payout"],
    )  # fmt: skip
    measured = services.improvement_measure(actor=lead, improvement=improvement)
    before = measured.effect["before"]["segments"][0]
    after = measured.effect["after"]["segments"][0]
    assert before["name"] == "TR merchants"
    assert before["conversations"] == 2
    assert after["conversations"] == 2
    assert before["topics"] == [
        {"name": "Cancel an order", "conversations": 2},
        {"name": "#payout", "conversations": 0},
    ]
    assert after["topics"][0] == {"name": "Cancel an order", "conversations": 0}
    page = client.get(reverse("help:improvements")).content.decode()
    assert "Topic: Cancel an order" in page


def test_an_improvement_needs_its_dates_in_order(db, lead):
    with pytest.raises(ValidationError, match="needs the date"):
        services.improvement_save(actor=lead, title="X", description="", status="done")
    with pytest.raises(ValidationError, match="done after it started"):
        services.improvement_save(
            actor=lead, title="X", description="", status="done",
            started_on=date(2024, 2, 1), done_on=date(2024, 1, 1),
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_an_edition_of_the_sample_shows_the_sample_reports_figures(client):
    from sellerdesk.accounts.services import user_create

    lead = user_create(email="l@desk.test", password="x" * 20, role="lead", full_name="L")
    call_command(
        "import", str(FIXTURES / "sample-conversations.jsonl"), "--no-progress", stdout=StringIO()
    )
    edition = services.edition_create(
        actor=lead, series="sample", title="Sample", start="2021-11-01", end="2022-11-01",
        as_of="2026-01-01T00:00:00+00:00", config_text=(FIXTURES / "report.toml").read_text(),
    )  # fmt: skip
    services.edition_publish(actor=lead, edition=edition)
    expected = json.loads((FIXTURES / "sample-report.json").read_text())
    data = json.loads(
        client.get(reverse("help:report_json", kwargs={"series": "sample", "version": 1})).content
    )
    data.pop("edition")
    assert_report_matches(data, expected)
    page = client.get(reverse("help:report", kwargs={"series": "sample"})).content.decode()
    for seg in expected["segments"]:
        assert f">{seg['conversations']}<" in page


def test_the_engine_without_lists_gives_the_same_counts_and_times(db, lead):
    _data()
    config, _ = parse_config_text(CONFIG)
    params = build_params(config, "2022-01-01", "2023-01-01", AS_OF)
    whole = compute_report(params).as_dict()
    bare = compute_report(params, lists=False).as_dict()
    for full, short in zip(whole["segments"], bare["segments"], strict=True):
        assert (short["tags"], short["tag_pairs"]) == ([], [])
        assert full["tags"]
        for key in ("conversations", "by_kind", "responded", "first_response_seconds",
                    "resolved", "resolution_seconds", "complaints"):  # fmt: skip
            assert short[key] == full[key], key


def test_a_series_created_while_the_figures_were_computed_is_refused_cleanly(db, lead, monkeypatch):
    from sellerdesk.reports import editions

    real = editions.compute_figures
    calls = []

    def meanwhile(params):
        result = real(params)
        calls.append(params)
        if len(calls) == 1:
            _create(lead)  # another lead, same series, finished first
        return result

    monkeypatch.setattr(services, "compute_figures", meanwhile)
    with pytest.raises(ValidationError, match="the series '2022' exists"):
        _create(lead)
    assert Edition.objects.filter(series="2022").count() == 1
