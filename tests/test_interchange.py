"""interchange.md, rule by rule: one line through ``parse_line``, and lines through `import`."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations.interchange import InterchangeError, parse_line
from sellerdesk.conversations.models import Conversation, Message, StatusChange, Tag
from tests.builders import at, conversation, line, message, status, ts, write_jsonl

Path_ = tuple[Any, ...]


def with_value(path: Path_, value: Any) -> dict[str, Any]:
    obj = conversation(
        messages=[message("1", author="merchant"), message("2", created_at=ts(minutes=5))],
        status_changes=[status("open", ts(minutes=5), by="a-3")],
        tags=["order_cancel"],
    )
    target: Any = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def without(path: Path_) -> dict[str, Any]:
    obj = with_value(path, None)
    target: Any = obj
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return obj


def field_name(path: Path_) -> str:
    """``("messages", 1, "author", "id")`` -> ``messages[1].author.id``, as reasons name it."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else f"{'.' if name else ''}{part}"
    return name


def rejected(obj: Any) -> str:
    text = obj if isinstance(obj, str | bytes) else line(obj)
    with pytest.raises(InterchangeError) as info:
        parse_line(text)
    return str(info.value)


def run_import(path, *extra: str) -> tuple[str, str, int]:
    """Run `import`; returns stdout, stderr and the exit code it would give."""
    out, err = StringIO(), StringIO()
    code = 0
    try:
        call_command("import", str(path), "--no-progress", *extra, stdout=out, stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return out.getvalue(), err.getvalue(), code


# --- valid lines ------------------------------------------------------------------------------


def test_the_spec_example_line_is_accepted():
    record = parse_line(
        '{"id": "c-1", "merchant": {"id": "m-7", "name": "Anka Tekstil", "country": "TR"},'
        ' "channel": "chat", "kind": "request", "created_at": "2022-03-01T09:00:00+03:00",'
        ' "tags": ["order_cancel", "EU_Joom_Logistics"],'
        ' "messages": [{"id": "1", "author": {"type": "merchant", "id": "m-7"},'
        ' "body": "Sipariş iptali lütfen", "created_at": "2022-03-01T09:00:00+03:00"},'
        ' {"id": "2", "author": {"type": "agent", "id": "a-3"}, "body": "Done.",'
        ' "created_at": "2022-03-01T06:40:12Z"}],'
        ' "status_changes": [{"status": "open", "at": "2022-03-01T06:40:12Z"},'
        ' {"status": "solved", "at": "2022-03-01T07:02:00Z"}]}'
    )
    assert record.id == "c-1"
    assert record.created_at == at(hours=-3)
    assert record.merchant.country == "TR"
    assert list(record.tags) == ["order_cancel", "eu_joom_logistics"]
    assert [m.body for m in record.messages] == ["Sipariş iptali lütfen", "Done."]
    assert [(c.status, c.seq) for c in record.status_changes] == [("open", 1), ("solved", 2)]


def test_bytes_lines_are_decoded_as_utf8():
    record = parse_line(line(conversation(subject="中文 Türkçe 한국어 русский")).encode())
    assert record.subject == "中文 Türkçe 한국어 русский"


def test_timestamps_with_any_offset_are_stored_in_utc():
    record = parse_line(line(conversation(created_at="2022-03-01T12:00:00+03:00")))
    assert record.created_at == at()
    assert record.created_at.utcoffset().total_seconds() == 0


# --- not JSON, not UTF-8 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ['{"id": "c-1",', "not json", "{'id': 'c-1'}", '{"id": "c-1"} trailing', "[" * 100_000],
)
def test_a_line_that_is_not_json_is_rejected(text):
    assert "not valid JSON" in rejected(text)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_python_only_constants_are_not_json_even_in_an_unknown_field(constant):
    text = line(conversation(priority=1)).replace('"priority": 1', f'"priority": {constant}')
    assert constant in text
    assert rejected(text) == f"not valid JSON: {constant} is not a JSON value"


def test_a_huge_integer_is_valid_json_ignored_in_an_unknown_field_and_refused_in_a_known_one():
    digits = "9" * 5000  # more than Python converts to int by default
    text = line(conversation(priority=1)).replace('"priority": 1', f'"priority": {digits}')
    assert parse_line(text).id == "c-1"
    assert rejected(text.replace('"c-1"', digits, 1)) == "id: expected a string, got a number"


@pytest.mark.parametrize("value", [[1, 2], "c-1", 42, None, True])
def test_a_line_that_is_not_an_object_is_rejected(value):
    assert "expected a JSON object" in rejected(json.dumps(value))


def test_invalid_utf8_is_rejected():
    raw = line(conversation(subject="xx")).encode().replace(b"xx", b"\xff\xfe")
    assert "not valid UTF-8" in rejected(raw)


# --- required fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ("id",),
        ("merchant",),
        ("merchant", "id"),
        ("merchant", "country"),
        ("channel",),
        ("created_at",),
        ("messages", 1, "id"),
        ("messages", 1, "author"),
        ("messages", 1, "author", "type"),
        ("messages", 1, "body"),
        ("messages", 1, "created_at"),
        ("status_changes", 0, "status"),
        ("status_changes", 0, "at"),
    ],
    ids=field_name,
)
def test_a_missing_required_field_is_rejected_and_named(path):
    named = field_name(path)
    reason = rejected(without(path))
    assert reason.startswith(f"{named}:"), reason
    assert "required" in reason
    # null is no better than missing for a required field
    assert rejected(with_value(path, None)).startswith(f"{named}:")


def test_an_empty_conversation_id_is_rejected():
    assert rejected(conversation("  ")).startswith("id:")


# --- wrong types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), 7),
        (("merchant",), "m-1"),
        (("merchant",), ["m-1"]),
        (("merchant", "id"), 7),
        (("merchant", "name"), 7),
        (("merchant", "country"), 90),
        (("merchant", "status"), True),
        (("merchant", "language"), ["tr"]),
        (("channel",), 1),
        (("kind",), ["question"]),
        (("initiated_by",), False),
        (("subject",), {"text": "x"}),
        (("created_at",), 1646125200),
        (("tags",), "order_cancel"),
        (("tags",), {"order_cancel": True}),
        (("tags", 0), 5),
        (("tags", 0), None),
        (("messages",), {"id": "1"}),
        (("messages", 0), "hello"),
        (("messages", 1, "id"), 2),
        (("messages", 1, "author"), "agent"),
        (("messages", 1, "author", "type"), 1),
        (("messages", 1, "author", "id"), 3),
        # Values that are false in Python but no string: refused, never read as "".
        (("messages", 1, "author", "id"), 0),
        (("messages", 1, "author", "id"), False),
        (("messages", 1, "author", "id"), []),
        (("messages", 1, "author", "name"), {}),
        (("status_changes", 0, "by"), False),
        (("status_changes", 0, "by"), 0),
        (("messages", 1, "author", "name"), ["Ayşe"]),
        (("messages", 1, "public"), "false"),
        (("messages", 1, "public"), 0),
        (("messages", 1, "body"), ["Done."]),
        (("messages", 1, "created_at"), 1646125500),
        (("status_changes",), "open"),
        (("status_changes", 0), ["open"]),
        (("status_changes", 0, "status"), 2),
        (("status_changes", 0, "at"), False),
        (("status_changes", 0, "by"), 3),
        (("outcome",), 1),
        (("outcome",), True),
        (("spam",), "true"),
        (("spam",), 1),
    ],
)
def test_a_value_of_the_wrong_type_is_rejected_and_named(path, value):
    named = field_name(path)
    reason = rejected(with_value(path, value))
    assert reason.startswith(f"{named}:"), reason
    assert "expected" in reason


# --- enums --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("channel",), "fax"),
        (("channel",), "Chat"),
        (("kind",), "suggestion"),
        (("initiated_by",), "agent"),
        (("outcome",), "undecided"),
        (("outcome",), ""),
        (("status_changes", 0, "status"), "reopened"),
        (("status_changes", 0, "status"), "SOLVED"),
        (("messages", 1, "author", "type"), "bot"),
        (("merchant", "status"), "banned"),
    ],
)
def test_an_enum_value_not_listed_is_rejected_and_named(path, value):
    named = field_name(path)
    reason = rejected(with_value(path, value))
    assert reason.startswith(f"{named}:"), reason
    assert repr(value) in reason


SPEC_ENUMS = {
    ("channel",): ["chat", "email", "web", "api", "phone"],
    ("kind",): ["question", "request", "proposal", "complaint"],
    ("initiated_by",): ["merchant", "support"],
    ("outcome",): ["upheld", "partially_upheld", "rejected", "withdrawn", "no_action"],
    ("status_changes", 0, "status"): ["new", "open", "pending", "on_hold", "solved", "closed"],
    ("messages", 1, "author", "type"): ["merchant", "agent", "system"],
    ("merchant", "status"): ["potential", "active", "suspended", "closed"],
}
READ = {
    ("channel",): lambda r: r.channel,
    ("kind",): lambda r: r.kind,
    ("initiated_by",): lambda r: r.initiated_by,
    ("outcome",): lambda r: r.outcome,
    ("status_changes", 0, "status"): lambda r: r.status_changes[0].status,
    ("messages", 1, "author", "type"): lambda r: r.messages[1].author_type,
    ("merchant", "status"): lambda r: r.merchant.status,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [(path, value) for path, values in SPEC_ENUMS.items() for value in values],
)
def test_every_listed_enum_value_is_accepted_and_kept(path, value):
    assert READ[path](parse_line(line(with_value(path, value)))) == value


# --- timestamps -------------------------------------------------------------------------------

TIMESTAMP_PATHS = [("created_at",), ("messages", 1, "created_at"), ("status_changes", 0, "at")]


@pytest.mark.parametrize("path", TIMESTAMP_PATHS)
@pytest.mark.parametrize(
    "value", ["2022-03-01T09:05:00", "2022-03-01T09:05:00.250", "2022-03-01 09:05:00"]
)
def test_a_timestamp_without_an_offset_is_rejected(path, value):
    reason = rejected(with_value(path, value))
    assert "no offset" in reason
    assert reason.startswith(f"{field_name(path)}:")


@pytest.mark.parametrize("path", TIMESTAMP_PATHS)
@pytest.mark.parametrize(
    "value",
    [
        "2022-03-01",
        "",
        "01/03/2022 09:05:00 +00:00",
        "2022-03-01T09:05Z",
        "2022-03-01T09:05:00+0300",
        "20220301T090500Z",
        "2022-02-30T09:05:00Z",
        "2022-03-01T25:05:00Z",
        "2022-03-01T09:05:00+24:00",
        "2022-03-01T09:05:00Z\n",
        "Tue, 01 Mar 2022 09:05:00 +0000",
        "\u0662\u0660\u0662\u0662-\u0660\u0663-\u0660\u0661T09:05:00Z",  # Arabic-Indic digits
    ],
)
def test_a_timestamp_that_is_not_rfc3339_is_rejected(path, value):
    assert "timestamp" in rejected(with_value(path, value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-03-01T09:00:00Z", at()),
        ("2022-03-01t09:00:00z", at()),
        ("2022-03-01T09:00:00-00:00", at()),
        ("2022-03-01T14:30:00+05:30", at()),
        ("2022-03-01T09:00:00.5Z", at(0.5)),
    ],
)
def test_rfc3339_timestamps_in_every_allowed_form_are_accepted(value, expected):
    assert parse_line(line(conversation(created_at=value))).created_at == expected


@pytest.mark.parametrize("path", [("messages", 1, "created_at"), ("status_changes", 0, "at")])
def test_an_event_dated_before_the_conversation_is_rejected(path):
    # 11:59:59+03:00 is one second before 09:00:00Z
    reason = rejected(with_value(path, "2022-03-01T11:59:59+03:00"))
    assert "before the conversation's created_at" in reason


@pytest.mark.parametrize("path", [("messages", 1, "created_at"), ("status_changes", 0, "at")])
def test_an_event_at_the_same_instant_in_another_offset_is_accepted(path):
    record = parse_line(line(with_value(path, "2022-03-01T12:00:00+03:00")))
    assert record.created_at == at()


# --- countries --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["XX", "EU", "UK", "XK", "T", "TUR", "", "  ", "T R", "*"])
def test_a_country_that_is_not_an_assigned_code_is_rejected(value):
    reason = rejected(conversation(country=value))
    assert reason.startswith("merchant.country:")
    assert "ISO 3166-1" in reason


@pytest.mark.parametrize(
    ("value", "stored"), [("tr", "TR"), (" de ", "DE"), ("Cn\t", "CN"), ("\nua", "UA")]
)
def test_a_country_in_any_case_with_white_space_is_stored_upper_case(value, stored):
    assert parse_line(line(conversation(country=value))).merchant.country == stored


# --- NUL and other text rules --------------------------------------------------------------------

TEXT_PATHS = [
    ("id",),
    ("merchant", "id"),
    ("merchant", "name"),
    ("merchant", "language"),
    ("subject",),
    ("tags", 0),
    ("messages", 1, "id"),
    ("messages", 1, "author", "id"),
    ("messages", 1, "author", "name"),
    ("messages", 1, "body"),
    ("status_changes", 0, "by"),
]


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_a_nul_character_in_any_text_field_is_rejected(path):
    reason = rejected(with_value(path, "before\x00after"))
    assert "NUL" in reason


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_a_lone_surrogate_in_any_text_field_is_rejected(path):
    # "\ud800" is valid JSON but no Unicode text: it cannot even be written as UTF-8.
    raw = line(with_value(path, "before\\ud800after")).replace("\\\\ud800", "\\ud800")
    assert "\\ud800" in raw
    assert "surrogate" in rejected(raw)


def test_text_in_any_script_is_accepted():
    record = parse_line(
        line(with_value(("messages", 1, "body"), "订单 — Türkçe ğüşıöç — 한국어 — русский — 🙂"))
    )
    assert record.messages[1].body == "订单 — Türkçe ğüşıöç — 한국어 — русский — 🙂"


def test_a_bcp47_language_is_kept_and_a_malformed_one_rejected():
    assert parse_line(
        line(with_value(("merchant", "language"), "zh-Hant-TW"))
    ).merchant.language == ("zh-Hant-TW")
    assert rejected(with_value(("merchant", "language"), "not a language")).startswith(
        "merchant.language:"
    )


# --- defaults, unknown fields -----------------------------------------------------------------


def test_optional_fields_given_as_null_take_their_defaults():
    obj = conversation(
        kind=None,
        initiated_by=None,
        subject=None,
        tags=None,
        messages=None,
        status_changes=None,
        outcome=None,
        spam=None,
    )
    obj["merchant"].update(name=None, status=None, language=None)
    record = parse_line(line(obj))
    assert (record.kind, record.initiated_by, record.subject) == ("question", "merchant", "")
    assert (record.tags, record.messages, record.status_changes) == ({}, [], [])
    assert (record.outcome, record.spam) == (None, False)
    assert (record.merchant.name, record.merchant.status, record.merchant.language) == (
        "",
        "active",
        "",
    )


def test_optional_fields_left_out_take_their_defaults():
    obj = {
        "id": "c-1",
        "merchant": {"id": "m-1", "country": "TR"},
        "channel": "email",
        "created_at": ts(),
    }
    record = parse_line(line(obj))
    assert (record.kind, record.initiated_by, record.spam, record.outcome) == (
        "question",
        "merchant",
        False,
        None,
    )
    assert record.merchant.status == "active"


def test_optional_message_and_status_fields_given_as_null_take_their_defaults():
    obj = conversation(
        messages=[message("1", public=None)],
        status_changes=[status("open", ts(), by=None)],
    )
    obj["messages"][0]["public"] = None
    obj["messages"][0]["author"].update(id=None, name=None)
    record = parse_line(line(obj))
    only = record.messages[0]
    assert (only.public, only.author_id, only.author_name) == (True, "", "")
    assert record.status_changes[0].by == ""


def test_a_message_without_public_is_public():
    assert parse_line(line(conversation(messages=[message("1", public=None)]))).messages[0].public


def test_fields_not_described_are_ignored():
    obj = conversation(priority="urgent", sla={"policy": 3}, assignee=None)
    obj["merchant"]["tier"] = "gold"
    obj["messages"][0]["attachments"] = [{"name": "x.pdf"}]
    obj["messages"][0]["author"]["email"] = "ayse@example.com"
    obj["status_changes"] = [status("open", ts(), reason="triage", weird="\x00")]
    record = parse_line(line(obj))
    assert record.id == "c-1"
    assert record.status_changes[0].status == "open"
    assert not hasattr(record, "priority")


# --- tags -------------------------------------------------------------------------------------


def test_tags_are_normalized_nfkc_trimmed_collapsed_and_casefolded():
    record = parse_line(
        line(
            conversation(
                tags=[
                    "  Order \t  Cancel ",
                    "\uff25\uff35\u3000Logistics",  # full-width "EU" and an ideographic space
                    "Straße",
                    "ﬁle",  # the fi ligature
                    "İstanbul",
                ]
            )
        )
    )
    assert list(record.tags) == [
        "order cancel",
        "eu logistics",
        "strasse",
        "file",
        "i̇stanbul",
    ]


def test_a_tag_repeated_after_normalization_counts_once_with_its_first_display_name():
    record = parse_line(
        line(
            conversation(
                tags=["Order Cancel", "order   cancel", "ORDER CANCEL", "STRASSE", "straße"]
            )
        )
    )
    assert record.tags == {"order cancel": "Order Cancel", "strasse": "STRASSE"}


def test_a_tag_empty_after_normalization_is_dropped():
    record = parse_line(line(conversation(tags=["", "   ", "\u3000", "\t\n", "kept"])))
    assert record.tags == {"kept": "kept"}


# --- messages ---------------------------------------------------------------------------------


def test_a_message_id_repeated_within_a_conversation_is_rejected():
    obj = conversation(
        messages=[message("7", author="merchant"), message("7", created_at=ts(minutes=1))]
    )
    reason = rejected(obj)
    assert reason.startswith("messages[1].id:")
    assert "'7'" in reason


def test_the_same_message_id_in_two_conversations_is_fine(db, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [conversation("c-1"), conversation("c-2")])
    run_import(path)
    assert Message.objects.filter(external_id="1").count() == 2


def test_messages_and_status_changes_may_come_in_any_order():
    obj = conversation(
        messages=[message("2", created_at=ts(minutes=9)), message("1", created_at=ts(minutes=1))],
        status_changes=[status("solved", ts(minutes=9)), status("open", ts(minutes=1))],
    )
    record = parse_line(line(obj))
    assert [m.id for m in record.messages] == ["2", "1"]
    assert [(c.status, c.seq) for c in record.status_changes] == [("solved", 1), ("open", 2)]


# --- the same rules through the import command ------------------------------------------------


@pytest.fixture
def one_of_each_broken(tmp_path):
    """A file with a good line between each kind of broken one; returns path and bad lines."""
    good = [conversation(f"ok-{n}") for n in range(3)]
    bad: dict[int, str] = {}
    items: list[Any] = [good[0]]
    broken = {
        "not valid JSON": '{"id": "x-1",',
        "not valid UTF-8": line(conversation("x-2", subject="xx")).encode().replace(b"xx", b"\xff"),
        "merchant.country": conversation("x-3", country="XX"),
        "channel": conversation("x-4", channel="fax"),
        "no offset": conversation("x-5", created_at="2022-03-01T09:00:00"),
        "before the conversation": conversation(
            "x-6", status_changes=[status("open", "2022-03-01T08:59:59Z")]
        ),
        "NUL": conversation("x-7", subject="a\x00b"),
        "required field is missing": {"id": "x-8", "merchant": {"id": "m", "country": "TR"}},
        "expected true or false": conversation("x-9", spam="no"),
        "repeated in this conversation": conversation(
            "x-10", messages=[message("1"), message("1")]
        ),
    }
    for reason, item in broken.items():
        items.append(item)
        bad[len(items)] = reason
    items += good[1:]
    return write_jsonl(tmp_path / "mixed.jsonl", items), bad


def test_import_rejects_each_broken_line_with_its_number_and_reason(db, one_of_each_broken):
    path, bad = one_of_each_broken
    out, err, code = run_import(path)
    assert code == 1
    for number, reason in bad.items():
        matching = [
            row for row in err.splitlines() if row.startswith(f"{path}:{number}: rejected:")
        ]
        assert len(matching) == 1, (number, err)
        assert reason in matching[0]
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == [
        "ok-0",
        "ok-1",
        "ok-2",
    ]
    assert "imported 3 conversations" in out
    assert f"rejected {len(bad)} lines" in out


def test_import_ignores_blank_lines_but_counts_them_in_line_numbers(db, tmp_path):
    path = write_jsonl(
        tmp_path / "blank.jsonl",
        ["", conversation("c-1"), "   ", "\t", "", "{broken", conversation("c-2")],
    )
    _, err, code = run_import(path)
    assert code == 1
    assert f"{path}:6: rejected: not valid JSON" in err
    assert err.count("rejected:") == 1
    assert Conversation.objects.count() == 2


def test_import_survives_a_huge_integer_and_imports_every_line(db, tmp_path):
    huge = line(conversation("c-2", priority=1)).replace(
        '"priority": 1', '"priority": ' + "1" * 5000
    )
    path = write_jsonl(tmp_path / "huge.jsonl", [conversation("c-1"), huge, conversation("c-3")])
    _, err, code = run_import(path)
    assert (code, err) == (0, "")
    assert Conversation.objects.count() == 3


def test_import_reads_windows_line_endings(db, tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(
        b"\r\n".join([line(conversation("c-1")).encode(), b"", line(conversation("c-2")).encode()])
        + b"\r\n"
    )
    _, err, code = run_import(path)
    assert (code, err) == (0, "")
    assert Conversation.objects.count() == 2


def test_import_of_only_blank_lines_imports_nothing_and_succeeds(db, tmp_path):
    path = write_jsonl(tmp_path / "empty.jsonl", ["", "  ", ""])
    out, err, code = run_import(path)
    assert code == 0
    assert "imported 0 conversations" in out
    assert err == ""


def test_import_stores_null_and_missing_optional_fields_as_defaults(db, tmp_path):
    obj = conversation("c-1", kind=None, initiated_by=None, subject=None, spam=None, outcome=None)
    obj["merchant"].update(status=None, name=None, language=None)
    obj["messages"][0]["public"] = None
    path = write_jsonl(tmp_path / "defaults.jsonl", [obj])
    _, _, code = run_import(path)
    assert code == 0
    row = Conversation.objects.get()
    assert (row.kind, row.initiated_by, row.subject, row.spam, row.outcome, row.status) == (
        "question",
        "merchant",
        "",
        False,
        None,
        "new",
    )
    assert row.messages.get().public is True
    seller = Merchant.objects.get()
    assert (seller.status, seller.name, seller.language) == ("active", "", "")


def test_import_stores_a_valid_country_upper_case_on_conversation_and_merchant(db, tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [conversation("c-1", country=" de ")])
    run_import(path)
    assert Conversation.objects.get().country == "DE"
    assert Merchant.objects.get().country == "DE"


def test_import_ignores_unknown_fields(db, tmp_path):
    obj = conversation("c-1", priority="urgent", custom={"x": [1, 2]})
    obj["merchant"]["tier"] = "gold"
    path = write_jsonl(tmp_path / "u.jsonl", [obj])
    _, _, code = run_import(path)
    assert code == 0
    assert Conversation.objects.get().external_id == "c-1"


def test_import_accepts_a_ten_megabyte_message_body(db, tmp_path):
    body = ("Sipariş iptali 订单 " * 700_000)[: 10 * 1024 * 1024]
    obj = conversation("big", messages=[message("1", author="merchant", body=body)])
    path = write_jsonl(tmp_path / "big.jsonl", [obj, conversation("small")])
    _, err, code = run_import(path)
    assert code == 0, err
    stored = Message.objects.get(conversation__external_id="big").body
    assert len(stored) == len(body)
    assert stored == body


def test_import_stores_normalized_tags_with_the_first_display_name_seen(db, tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            conversation("c-1", tags=["  Order   Cancel ", "order cancel", "", "  "]),
            conversation("c-2", tags=["ORDER CANCEL", "Straße"]),
            conversation("c-3", tags=["STRASSE"]),
        ],
    )
    run_import(path)
    assert dict(Tag.objects.values_list("name", "display_name")) == {
        "order cancel": "Order Cancel",
        "strasse": "Straße",
    }
    assert Conversation.objects.get(external_id="c-1").tags.count() == 1
    # A later import keeps the display name the desk saw first.
    later = write_jsonl(tmp_path / "later.jsonl", [conversation("c-4", tags=["ORDER  CANCEL"])])
    run_import(later)
    assert Tag.objects.get(name="order cancel").display_name == "Order Cancel"


def test_import_rejects_a_conversation_with_repeated_message_ids_whole(db, tmp_path):
    obj = conversation(
        "dup",
        messages=[message("1", author="merchant"), message("1", created_at=ts(minutes=2))],
        status_changes=[status("solved", ts(minutes=3))],
        tags=["x"],
    )
    path = write_jsonl(tmp_path / "dup.jsonl", [obj])
    _, err, code = run_import(path)
    assert code == 1
    assert f"{path}:1: rejected: messages[1].id:" in err
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert not StatusChange.objects.exists()


def test_import_rejects_a_lone_surrogate_instead_of_failing(db, tmp_path):
    bad = line(conversation("bad", tags=["x\\udc00"])).replace("\\\\udc00", "\\udc00")
    path = write_jsonl(tmp_path / "s.jsonl", [conversation("c-1"), bad, conversation("c-2")])
    _, err, code = run_import(path)
    assert code == 1
    assert f"{path}:2: rejected:" in err
    assert "surrogate" in err
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == ["c-1", "c-2"]


@pytest.mark.parametrize(
    ("path", "size"),
    [
        (("id",), 201),
        (("merchant", "id"), 201),
        (("merchant", "name"), 501),
        (("messages", 1, "id"), 201),
        (("messages", 1, "author", "id"), 201),
        (("messages", 1, "author", "name"), 501),
        (("status_changes", 0, "by"), 201),
        (("tags", 0), 201),
    ],
)
def test_an_over_long_identifier_or_name_is_rejected_alike_on_every_database(
    db, tmp_path, path, size
):
    obj = with_value(path, "ş" * size)
    named = field_name(path)
    assert rejected(obj).startswith(f"{named}:")
    file = write_jsonl(tmp_path / "long.jsonl", [obj, conversation("c-ok")])
    _, err, code = run_import(file)
    assert code == 1
    assert f"{file}:1: rejected: {named}:" in err
    assert list(Conversation.objects.values_list("external_id", flat=True)) == ["c-ok"]


def test_a_name_at_its_length_limit_is_accepted(db, tmp_path):
    obj = with_value(("messages", 1, "author", "name"), "ş" * 500)
    obj["merchant"]["name"] = "ğ" * 500
    obj["tags"] = ["É" * 200]
    file = write_jsonl(tmp_path / "limit.jsonl", [obj])
    _, err, code = run_import(file)
    assert code == 0, err
    assert Message.objects.get(external_id="2").author_name == "ş" * 500
    assert Tag.objects.get().name == "é" * 200


def test_a_tag_typed_longer_than_its_limit_is_rejected_even_if_it_composes_shorter(db, tmp_path):
    # 400 characters as typed (e + combining acute), 200 once NFKC composes them: the display
    # name the desk keeps is the typed one, so the line is refused, and alike on every database.
    obj = conversation("c-1", tags=["e\u0301" * 200])
    assert rejected(obj).startswith("tags[0]:")
    file = write_jsonl(tmp_path / "long-tag.jsonl", [obj])
    _, err, code = run_import(file)
    assert code == 1
    assert "tags[0]:" in err
    assert not Tag.objects.exists()


# --- the id read without parsing (routing an import over processes) ---------------------------


def test_the_id_read_off_a_lines_start_is_the_parsed_id():
    from sellerdesk.conversations.interchange import leading_id

    text = line(conversation("c-7", subject='{"id": "c-8"}')).encode()
    assert leading_id(text) == parse_line(text).id == "c-7"
    assert leading_id(' \t{ "id" :"中文-1", "x": 1}'.encode()) == "中文-1"
    # Not at the start, escaped, or not a string: read by parsing instead.
    assert leading_id(b'{"merchant": {"id": "m-1"}, "id": "c-1"}') is None
    assert leading_id(b'{"id": "c\\u002d1"}') is None
    assert leading_id(b'{"id": 7}') is None


@pytest.mark.parametrize("second", ['"c-2"', "7", "null"])
def test_an_id_given_twice_with_another_value_is_rejected(second):
    text = line(conversation("c-1"))[:-1] + f', "id": {second}}}'
    assert rejected(text) == "id: given more than once in the object"


def test_an_id_given_twice_with_the_same_value_is_accepted():
    text = line(conversation("c-1"))[:-1] + ', "id": "c-1"}'
    assert parse_line(text).id == "c-1"


def test_a_tag_is_checked_every_time_it_is_seen_until_found_valid(db, tmp_path):
    from sellerdesk.conversations.interchange import _TAG_MAX

    long_tag = "x" * (_TAG_MAX + 1)
    for _ in range(2):  # refused both times: only valid tags are remembered
        assert "longer than" in rejected(conversation(tags=[long_tag]))
    first = parse_line(line(conversation(tags=["  Order  Cancel "])))
    again = parse_line(line(conversation("c-2", tags=["  Order  Cancel "])))
    assert first.tags == again.tags == {"order cancel": "Order Cancel"}
