"""CSV downloads cannot carry a formula into a spreadsheet: every CSV sellerdesk writes goes
through core.spreadsheet, which puts an apostrophe before a cell that starts like a formula
and leaves numbers, negative ones included, as they are."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from sellerdesk.core.spreadsheet import csv_writer, safe_cell
from sellerdesk.reports import services
from sellerdesk.reports.config import build_params
from sellerdesk.reports.editions import parse_config_text
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.render import render
from tests.builders import import_ok, responded

PACKAGE = Path(__file__).resolve().parent.parent / "sellerdesk"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.test","x")', '\'=HYPERLINK("http://evil.test","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("- refund", "'- refund"),
        ("-1e5x", "'-1e5x"),
        # Numbers stay numbers, as numbers or as their text.
        (-4860, -4860),
        (-4860.5, -4860.5),
        (0, 0),
        ("-4860", "-4860"),
        ("-4860.0", "-4860.0"),
        ("+12", "+12"),
        ("-1.5e3", "-1.5e3"),
        ("-.5", "-.5"),
        # Anything else is left alone: a formula character later in the text is harmless.
        ("order_cancel", "order_cancel"),
        ("refund = yes", "refund = yes"),
        ("a@b.test", "a@b.test"),
        ("", ""),
        (None, None),
    ],
)
def test_a_cell_that_starts_like_a_formula_gets_an_apostrophe(value, written):
    assert safe_cell(value) == written


def test_the_writer_guards_every_cell_and_keeps_csv_quoting():
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(["=1+1", -3, "-3", 'say "hi", =no'])
    writer.writerows([["@x", 1.5]])
    assert out.getvalue() == '\'=1+1,-3,-3,"say ""hi"", =no"\n\'@x,1.5\n'
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["'=1+1", "-3", "-3", 'say "hi", =no'], ["'@x", "1.5"]]


CONFIG = """timezone = "UTC"
top = 5
[[segment]]
name = "=HYPERLINK(\\"http://evil.test\\")"
countries = ["TR"]
[[segment]]
name = "-All merchants"
countries = ["*"]
[[topic]]
name = "@cancel"
any = [["=cmd|' /c calc'!a0"]]
"""


def _dangerous():
    import_ok(
        responded("c-1", after=60, tags=["=cmd|' /c calc'!a0", "+refund"], kind="complaint"),
        responded("c-2", after=120, tags=["-payout"], country="CN", merchant_id="m-2"),
    )


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def _assert_no_formula(rows):
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert re.fullmatch(r"[+-]?\d+(\.\d*)?(e[+-]?\d+)?", cell), cell


def test_the_report_csv_names_are_text_in_a_spreadsheet(db):
    _dangerous()
    config, _ = parse_config_text(CONFIG)
    rows = _rows(render(compute_report(build_params(config, "2022-01-01", "2023-01-01")), "csv"))
    _assert_no_formula(rows)
    segments = {row[0] for row in rows[1:]}
    assert segments == {'\'=HYPERLINK("http://evil.test")', "'-All merchants"}
    items = {(row[1], row[2]) for row in rows[1:]}
    assert ("tags", "'=cmd|' /c calc'!a0") in items
    assert ("tags", "'+refund") in items
    assert ("tags", "'-payout") in items
    assert ("topics", "'@cancel") in items
    # A pair is one cell: only its start matters.
    assert ("tag_pairs", "'+refund + =cmd|' /c calc'!a0") in items


def test_the_editions_csv_download_is_guarded(db, lead, client):
    _dangerous()
    edition = services.edition_create(
        actor=lead, series="guarded", title="Guarded", start="2022-01-01", end="2023-01-01",
        as_of="2025-01-01T00:00:00+00:00", config_text=CONFIG,
    )  # fmt: skip
    services.edition_publish(actor=lead, edition=edition)
    response = client.get(reverse("help:report_csv", kwargs={"series": "guarded", "version": 1}))
    rows = _rows(response.content.decode())
    _assert_no_formula(rows)
    assert ["'-All merchants", "conversations", "", "2"] in rows
    assert ["'-All merchants", "tags", "'-payout", "1"] in rows
    # The JSON download keeps the names as they are (it is not for spreadsheets).
    data = client.get(reverse("help:report_json", kwargs={"series": "guarded", "version": 1}))
    assert data.json()["segments"][1]["name"] == "-All merchants"


def test_every_csv_writer_is_the_guarded_one():
    """No module writes CSV but through core.spreadsheet (a new export must use it too)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "spreadsheet.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bcsv\.(writer|DictWriter)\(|^\s*import csv\b|from csv import", text, re.M):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
