"""report.md, "Inputs": every configuration error refused with a message naming the problem,
through ``reports/config.py`` and through the `report` command; and the four formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from sellerdesk.reports.config import (
    ReportConfigError,
    build_params,
    load_config,
    parse_config,
)
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.render import render
from tests.builders import PERIOD, conversation, import_ok, message, params, responded, ts

GOOD_SEGMENT = {"name": "TR", "countries": ["TR"]}
GOOD_TOPIC = {"name": "Cancel", "any": [["order_cancel"]]}


def refused(config: dict) -> str:
    with pytest.raises(ReportConfigError) as info:
        parse_config(config)
    return str(info.value)


# --- parse_config -------------------------------------------------------------------------------


def test_the_documented_example_is_accepted():
    config = parse_config(
        {
            "timezone": "UTC",
            "top": 10,
            "segment": [
                {"name": "EU+UA+TR+US", "countries": ["EU", "UA", "TR", "US"]},
                {"name": "CN merchants", "countries": ["CN"]},
                {"name": "All merchants", "countries": ["*"]},
            ],
            "topic": [
                {
                    "name": "Cancel an order",
                    "any": [["order_cancel"], ["europe order management", "refund_request"]],
                }
            ],
        }
    )
    assert [s.name for s in config.segments] == ["EU+UA+TR+US", "CN merchants", "All merchants"]
    assert len(config.segments[0].countries) == 30
    assert config.topics[0].any == (
        ("order_cancel",),
        ("europe order management", "refund_request"),
    )


def test_defaults_are_utc_top_ten_and_one_segment_of_every_country():
    config = parse_config({})
    assert (config.timezone, config.top, config.topics) == ("UTC", 10, ())
    assert [(s.name, s.entries) for s in config.segments] == [("All merchants", ("*",))]


def test_topic_tag_names_are_normalized():
    config = parse_config({"topic": [{"name": "T", "any": [["  Europe   ORDER management "]]}]})
    assert config.topics[0].any == (("europe order management",),)


@pytest.mark.parametrize(
    "value",
    ["Mars/Olympus", "", "utc+3", 3, "../../etc/passwd", "Europe/", "Europe", "/etc/localtime"],
)
def test_a_bad_timezone_is_refused(value):
    assert "timezone" in refused({"timezone": value})


@pytest.mark.parametrize("value", [0, -1, "10", 2.5, True, False, [5]])
def test_top_must_be_a_whole_number_of_at_least_one(value):
    assert "top must be a whole number of at least 1" in refused({"top": value})


@pytest.mark.parametrize(
    "item",
    [
        {"countries": ["TR"]},
        {"name": "", "countries": ["TR"]},
        {"name": "  ", "countries": ["TR"]},
        {"name": 5, "countries": ["TR"]},
    ],
)
def test_a_segment_without_a_name_is_refused(item):
    assert "segment 1 needs a non-empty name" in refused({"segment": [item]})


def test_duplicate_segment_names_are_refused():
    reason = refused({"segment": [GOOD_SEGMENT, {"name": "TR", "countries": ["DE"]}]})
    assert "'TR' is used twice" in reason


@pytest.mark.parametrize("countries", [[], None, "TR", {"a": "TR"}])
def test_a_segment_needs_a_non_empty_list_of_countries(countries):
    item = {"name": "S"} if countries is None else {"name": "S", "countries": countries}
    assert "segment 'S' needs a non-empty list of countries" in refused({"segment": [item]})


@pytest.mark.parametrize("code", ["XX", "UK", "EL", "XK", "TUR", "", "**", 90])
def test_an_invalid_country_code_is_refused_and_named(code):
    reason = refused({"segment": [{"name": "S", "countries": ["TR", code]}]})
    assert "segment 'S'" in reason
    assert repr(code) in reason


def test_no_segments_at_all_is_refused():
    assert "[[segment]]" in refused({"segment": []})


@pytest.mark.parametrize("value", ["TR", {"name": "x"}, [1, 2]])
def test_segments_must_be_tables(value):
    assert "[[segment]]" in refused({"segment": value})


@pytest.mark.parametrize("sets", [[], None, "order_cancel", [["a"], "b"]])
def test_a_topic_needs_a_non_empty_any_of_tag_sets(sets):
    item = {"name": "T"} if sets is None else {"name": "T", "any": sets}
    assert "topic 'T'" in refused({"topic": [item]})


def test_an_empty_tag_set_is_refused():
    assert "non-empty list of tag names" in refused({"topic": [{"name": "T", "any": [["a"], []]}]})


@pytest.mark.parametrize("tag", ["", "   ", "\u3000", 5])
def test_an_empty_tag_name_is_refused(tag):
    reason = refused({"topic": [{"name": "T", "any": [["a", tag]]}]})
    assert f"{tag!r} is not a tag name" in reason


def test_a_topic_without_a_name_is_refused():
    assert "topic 1 needs a non-empty name" in refused({"topic": [{"any": [["a"]]}]})


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"segments": [GOOD_SEGMENT]}, "'segments'"),
        ({"time_zone": "UTC"}, "'time_zone'"),
        ({"segment": [{**GOOD_SEGMENT, "country": ["DE"]}]}, "'country'"),
        ({"topic": [{**GOOD_TOPIC, "all": [["x"]]}]}, "'all'"),
    ],
)
def test_unknown_keys_are_refused_and_named(config, named):
    reason = refused(config)
    assert "unknown setting" in reason
    assert named in reason


# --- files and the period -----------------------------------------------------------------------


def test_invalid_toml_is_refused(tmp_path):
    path = tmp_path / "report.toml"
    path.write_text('timezone = "UTC"\n[[segment]\nname = "x"\n')
    with pytest.raises(ReportConfigError, match="not valid TOML"):
        load_config(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('timezone = "Europe/\xdcsk\xfcdar"\n'.encode("latin-1"), "it is not UTF-8"),
        (b"top = 1" + b"0" * 5000 + b"\n", "it holds a number too long to read"),
    ],
)
def test_a_config_file_that_tomllib_cannot_read_says_why(tmp_path, content, reason):
    path = tmp_path / "report.toml"
    path.write_bytes(content)
    with pytest.raises(ReportConfigError, match=f"not valid TOML: {reason}"):
        load_config(path)


def test_a_missing_config_file_is_refused(tmp_path):
    with pytest.raises(ReportConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_the_shared_report_config_loads():
    from tests.conftest import FIXTURES

    config = load_config(FIXTURES / "report.toml")
    assert config.top == 5
    assert config.topics[0].name == "Request to cancel an order"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2022-03-01", "2022-03-01"),
        ("2022-03-02", "2022-03-01"),
        ("2022-03-01T00:00:00Z", "2022-03-01T03:00:00+03:00"),
    ],
)
def test_an_end_not_after_the_start_is_refused(start, end):
    with pytest.raises(ReportConfigError, match="end must be after its start"):
        build_params(parse_config({}), start, end)


@pytest.mark.parametrize(
    ("start", "end", "as_of", "named"),
    [
        ("2022-02-30", "2022-04-01", None, "period start"),
        ("2022-13-01", "2023-01-01", None, "period start"),
        ("yesterday", "2023-01-01", None, "period start"),
        ("2022-01-01", "2022-03-01T00:00:00", None, "period end"),
        ("2022-01-01", "01.03.2022", None, "period end"),
        ("2022-01-01", "2023-01-01", "now", "as_of"),
        ("2022-01-01", "2023-01-01", "2026-11-26T12:00", "as_of"),
    ],
)
def test_bad_dates_are_refused_and_named(start, end, as_of, named):
    with pytest.raises(ReportConfigError) as info:
        build_params(parse_config({}), start, end, as_of)
    assert str(info.value).startswith(f"{named}:")


def test_as_of_defaults_to_now_to_the_second():
    with time_machine.travel(datetime(2026, 11, 26, 12, 0, 5, 750000, tzinfo=UTC), tick=False):
        built = build_params(parse_config({"timezone": "Europe/Istanbul"}), *PERIOD)
    assert built.as_of == datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


# --- the report command refuses and computes nothing --------------------------------------------


@pytest.mark.parametrize(
    ("toml", "args", "named"),
    [
        ('timezone = "Nowhere/City"\n', [], "timezone"),
        ("top = 0\n", [], "top"),
        ('[[segment]]\nname = "A"\ncountries = []\n', [], "countries"),
        ('[[segment]]\nname = "A"\ncountries = ["XX"]\n', [], "'XX'"),
        ('[[topic]]\nname = "T"\nany = [[""]]\n', [], "tag name"),
        ("not = [valid\n", [], "TOML"),
        ("", ["--from", "2022-02-30"], "period start"),
        ("", ["--to", "2021-01-01"], "end must be after"),
        ("", ["--as-of", "tomorrow"], "as_of"),
    ],
)
def test_the_report_command_refuses_a_bad_configuration_and_computes_nothing(
    db, tmp_path, toml, args, named
):
    config = tmp_path / "report.toml"
    config.write_text(toml)
    output = tmp_path / "out.json"
    options = {"--from": "2022-01-01", "--to": "2023-01-01", "--as-of": "2026-01-01"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value
    argv = [item for pair in options.items() for item in pair]
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("report", *argv, "--config", str(config), "--output", str(output), stdout=out)
    assert str(info.value).startswith("report configuration refused:")
    assert named in str(info.value)
    assert not output.exists()
    assert out.getvalue() == ""


# --- formats ------------------------------------------------------------------------------------


@pytest.fixture
def rendered_report(db):
    import_ok(
        responded("c-1", after=4860, tags=["<script>alert(1)</script>", "order_cancel"]),
        responded("c-2", after=2841, country="CN", kind="complaint", outcome="rejected"),
        conversation(
            "c-3",
            country="DE",
            messages=[message("1", author="merchant")],
            status_changes=[{"status": "solved", "at": ts(90061)}],
        ),
    )
    return compute_report(
        params(
            segment=[
                {"name": "Türkiye & <friends>", "countries": ["TR", "EU"]},
                {"name": "CN", "countries": ["CN"]},
                {"name": "All merchants", "countries": ["*"]},
            ],
            topic=[{"name": "Cancel | refund", "any": [["order_cancel"]]}],
        )
    )


SEGMENT_KEYS = {
    "name", "conversations", "by_kind", "responded", "first_response_seconds", "resolved",
    "resolution_seconds", "tags", "tag_pairs", "topics", "complaints",
}  # fmt: skip


def test_json_has_exactly_the_schema_keys(rendered_report):
    data = json.loads(render(rendered_report, "json"))
    assert set(data) == {"schema", "period", "as_of", "segments"}
    assert data["schema"] == "sellerdesk.report/v1"
    assert set(data["period"]) == {"start", "end"}
    for item in data["segments"]:
        assert set(item) == SEGMENT_KEYS
        assert set(item["by_kind"]) == {"question", "request", "proposal", "complaint"}
        assert set(item["first_response_seconds"]) == {"mean", "median"}
        assert set(item["resolution_seconds"]) == {"mean", "median"}
        assert set(item["complaints"]) == {"count", "outcomes", "resolution_seconds"}
        assert set(item["complaints"]["outcomes"]) == {
            "upheld", "partially_upheld", "rejected", "withdrawn", "no_action", "undecided",
        }  # fmt: skip
        for tag in item["tags"]:
            assert set(tag) == {"tag", "conversations"}
        for pair in item["tag_pairs"]:
            assert set(pair) == {"tags", "conversations"}
        for topic in item["topics"]:
            assert set(topic) == {"name", "conversations"}
    first = data["segments"][0]
    assert first["tags"][0] == {"tag": "<script>alert(1)</script>", "conversations": 1}
    assert data == rendered_report.as_dict()


def test_csv_has_one_figure_per_row(rendered_report):
    rows = list(csv.reader(io.StringIO(render(rendered_report, "csv"))))
    assert rows[0] == ["segment", "figure", "item", "value"]
    tr = [row[1:] for row in rows[1:] if row[0] == "Türkiye & <friends>"]
    assert ["conversations", "", "2"] in tr
    assert ["by_kind", "question", "2"] in tr
    assert ["first_response_seconds", "mean", "4860.0"] in tr
    assert ["resolution_seconds", "mean", "90061.0"] in tr
    assert ["tags", "<script>alert(1)</script>", "1"] in tr
    assert ["tag_pairs", "<script>alert(1)</script> + order_cancel", "1"] in tr
    assert ["topics", "Cancel | refund", "1"] in tr
    assert ["complaints.resolution_seconds", "mean", ""] in tr
    cn = [row[1:] for row in rows[1:] if row[0] == "CN"]
    assert ["complaints.outcomes", "rejected", "1"] in cn
    assert {row[0] for row in rows[1:]} == {"Türkiye & <friends>", "CN", "All merchants"}


def test_markdown_shows_durations_for_people_and_names_countries(rendered_report):
    text = render(rendered_report, "md")
    assert "| to first response | 1 h 21 m | 1 h 21 m | 1 responded |" in text
    assert "| to resolution | 1 d 1 h | 1 d 1 h | 1 resolved |" in text
    assert "Merchants established in Türkiye, the EU's 27 member states." in text
    assert "Merchants established in China." in text
    assert "Merchants established in every country." in text
    assert "47 m 21 s" in text
    assert "| Cancel \\| refund | 1 |" in text


def test_html_escapes_tags_and_names_and_shows_durations(rendered_report):
    page = render(rendered_report, "html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Türkiye &amp; &lt;friends&gt;" in page
    assert "1 h 21 m" in page
    assert "1 d 1 h" in page
    assert "Merchants established in Türkiye, the EU&#x27;s 27 member states." in page
    assert "every country" in page


def test_the_report_command_writes_each_format(db, tmp_path):
    import_ok(responded("c-1", after=4860))
    for fmt in ("json", "csv", "md", "html"):
        output = tmp_path / f"report.{fmt}"
        call_command(
            "report", "--from", "2022-01-01", "--to", "2023-01-01", "--as-of", "2026-01-01",
            "--format", fmt, "--output", str(output),
        )  # fmt: skip
        text = output.read_text(encoding="utf-8")
        assert ("1 h 21 m" in text) == (fmt in {"md", "html"})
        assert ("4860.0" in text) == (fmt in {"json", "csv"})
    out = StringIO()
    call_command(
        "report", "--from", "2022-01-01", "--to", "2023-01-01", "--as-of", "2026-01-01", stdout=out
    )
    assert json.loads(out.getvalue())["segments"][0]["responded"] == 1
