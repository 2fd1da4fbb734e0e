"""Reading mail: every charset merchants use (lying labels too), RFC 2047 headers, QP and
base64, HTML-only mail, attachments, quoted history, machines' mail; and the standard
library's own e-mail corpus ingested with nothing lost."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from sellerdesk.connectors.email import charsets, parsing, quotes
from sellerdesk.connectors.email.parsing import Auto
from tests.emails import expected, fixture

EXPECTED = expected()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_reads_as_its_merchant_wrote_it(name):
    subject, passage = EXPECTED[name]
    mail = parsing.parse(fixture(name))
    assert mail.subject == subject
    assert passage in mail.text
    assert "\ufffd" not in mail.text + mail.subject
    assert mail.policy == "default"


def test_every_charset_the_brief_names_has_a_fixture():
    names = " ".join(EXPECTED)
    for label in (
        "utf-8", "gb2312", "gbk", "gb18030", "big5", "iso-8859-9", "windows-1254", "euc-kr",
        "koi8-r", "windows-1251", "shift_jis",
    ):  # fmt: skip
        assert f"charset-{label}" in names, label


def test_a_gb2312_label_over_gb18030_text_is_read_with_the_superset():
    raw = fixture("charset-gb2312-lying.eml")
    assert "𠮷" in parsing.parse(raw).text
    # What the label alone would do: the standard codec refuses these bytes.
    body = "𠮷".encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")


def test_undecodable_bytes_are_replaced_never_raised():
    assert charsets.decode_bytes(b"\xff\xfe\x80abc", "utf-8") == "\ufffd\ufffd\ufffdabc"
    assert charsets.decode_bytes(b"abc\x81", "no-such-charset") == "abc\ufffd"
    assert "abc" in charsets.decode_bytes(b"abc\x81\x8d", None)


def test_rfc2047_words_split_inside_a_character_are_joined_before_decoding():
    mail = parsing.parse(fixture("rfc2047.eml"))
    assert mail.subject == "您好付款延迟 [order 42]"
    assert mail.from_name == "Ayşe Çelik"
    assert mail.from_address == "ayse@acme.test"


def test_headers_with_broken_encoded_words_keep_the_literal_text():
    assert charsets.decode_header("=?utf-8?B?###?= tail") == "=?utf-8?B?###?= tail"
    assert charsets.decode_header("=?no-such?Q?abc?=") == "abc"


def test_html_only_mail_is_sanitized_into_text():
    mail = parsing.parse(fixture("html-only.eml"))
    assert mail.from_html
    for gone in ("alert", "evil.test", "document.cookie", "Mail title", "color:red", "steal",
                 "tracker.test", "<"):  # fmt: skip
        assert gone not in mail.text.replace("<support@", "")
    assert "- Sipariş 1" in mail.text
    assert "order page (https://acme.test/orders/1)" in mail.text
    assert "> Could you send the order number?" in mail.text
    assert mail.text[mail.quoted_from :].startswith("On Mon, 28 Feb 2022")


def test_attachments_and_inline_images_are_found_with_their_names():
    mail = parsing.parse(fixture("attachments.eml"))
    assert mail.text == "Faturalar ekte. See the attached invoices."
    found = {a.filename: a for a in mail.attachments}
    assert found["fatura.pdf"].data.startswith(b"%PDF")
    assert found["ürünler listesi.csv"].content_type == "text/csv"
    assert found["big.zip"].data == bytes(range(256)) * 300
    images = [a for a in mail.attachments if a.content_type == "image/png"]
    assert len(images) == 1
    assert images[0].inline


@pytest.mark.parametrize(
    ("name", "starts"),
    [
        ("quoted-gmail.eml", "On Mon, 28 Feb 2022 at 10:00, Support"),
        ("quoted-outlook.eml", "________________________________\nFrom: Support"),
    ],
)
def test_quoted_history_is_marked_where_it_starts(name, starts):
    mail = parsing.parse(fixture(name))
    assert mail.quoted_from is not None
    assert mail.text[mail.quoted_from :].startswith(starts)
    assert mail.text[: mail.quoted_from].strip()


def test_quote_finder_folds_trailing_quotes_and_never_everything():
    assert quotes.quote_start("ok\n\n> a\n> b\n") == 4
    assert quotes.quote_start("> a\n> b\n") is None  # nothing of its own: shown whole
    assert quotes.quote_start("> a\nmy answer\n> b\nmore") is None  # inline answers
    text = "Teşekkürler\n\n12 Mar 2022 tarihinde Destek şunu yazdı:\n> soru"
    assert text[quotes.quote_start(text) :].startswith("12 Mar")
    text = "好的\n\n在 2022年3月1日，客服 写道：\n> 请提供订单号"
    assert text[quotes.quote_start(text) :].startswith("在 2022")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("auto-submitted.eml", Auto.AUTO_REPLY),
        ("x-autoreply.eml", Auto.AUTO_REPLY),
        ("precedence-bulk.eml", Auto.BULK),
        ("empty-return-path.eml", Auto.BOUNCE),
        ("bounce-dsn.eml", Auto.BOUNCE),
        ("charset-utf-8.eml", Auto.NONE),
    ],
)
def test_machines_mail_is_recognised(name, kind):
    assert parsing.parse(fixture(name)).auto == kind


def test_a_delivery_report_names_the_returned_message():
    raw = fixture("bounce-dsn.eml").replace(b"{{OUTBOUND_ID}}", b"<abc@sellerdesk.test>")
    assert parsing.parse(raw).reported_ids == ["abc@sellerdesk.test"]


def test_long_message_ids_are_hashed_to_fit():
    key = parsing.id_key("<" + "x" * 400 + "@a>")
    assert key.startswith("sha256:")
    assert len(key) <= parsing.MESSAGE_ID_MAX


# --- The standard library's own e-mail corpus ---------------------------------------------------

CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


@pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"this Python installation has no e-mail test corpus ({CORPUS} is missing: "
    "Debian and some other builds leave the test package out)",
)
def test_the_stdlib_email_corpus_is_ingested_with_no_crash_and_no_loss(db, settings, media_root):
    from sellerdesk.connectors.email.models import InboundEmail, InboundState
    from sellerdesk.connectors.email.services import inbound_deliver

    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "TR"
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    assert len(files) > 20
    for path in files:
        # As a mail server hands them over: with an envelope sender.
        inbound_deliver(raw=path.read_bytes(), source="file", mail_from="corpus@python.test")
    rows = list(InboundEmail.objects.order_by("id"))
    assert len(rows) == len(files)
    for path, row in zip(files, rows, strict=True):
        assert bytes(row.raw) == path.read_bytes(), path.name
        assert row.state in {InboundState.PROCESSED, InboundState.QUARANTINED}, path.name
        if row.state == InboundState.QUARANTINED:
            assert row.error, path.name
        elif row.note == "":
            assert row.message_id is not None, path.name
    quarantined = {r.error for r in rows if r.state == InboundState.QUARANTINED}
    assert not quarantined


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_a_content_type_is_parsed_once_per_value_and_a_long_one_each_time():
    raw = fixture("attachments.eml")
    first = parsing.parse(raw)
    before = parsing._kept_header.cache_info()
    again = parsing.parse(raw)
    after = parsing._kept_header.cache_info()
    assert (again.text, again.subject) == (first.text, first.subject)
    assert [(a.filename, a.content_type, a.data) for a in again.attachments] == [
        (a.filename, a.content_type, a.data) for a in first.attachments
    ]
    assert after.misses == before.misses  # every header object of the second reading kept
    assert after.hits > before.hits

    name = "x" * 1200 + ".txt"
    long_type = (
        b"From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
        b'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n'
        b'--b\r\nContent-Type: application/octet-stream; name="' + name.encode() + b'"\r\n'
        b"Content-Disposition: attachment\r\n\r\ndata\r\n--b--\r\n"
    )
    size = parsing._kept_header.cache_info().currsize
    mail = parsing.parse(long_type)
    assert [(a.content_type, a.data) for a in mail.attachments] == [
        ("application/octet-stream", b"data")
    ]
    assert mail.attachments[0].filename.startswith("xxxx")
    assert mail.text == "hi"
    kept = parsing._kept_header.cache_info().currsize - size
    assert kept <= 2  # the short headers only (multipart/mixed, text/plain)
