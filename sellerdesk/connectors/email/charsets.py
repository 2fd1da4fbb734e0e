"""Turning the bytes of mail into text, whatever charset a mailer claims.

Merchants' mailers label text with the charset they think they used, and are often wrong: a
part labelled ``gb2312`` holds characters only GB18030 has, ``iso-8859-1`` holds Windows-1252
quotes, ``iso-8859-9`` Windows-1254 ones. Each label is therefore read with its superset
where one exists; a single-byte label over bytes that are valid UTF-8 is read as UTF-8 (the
commonest lie of all); and the last resort replaces what cannot be decoded. Nothing here
raises on any input.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

#: A label's canonical codec (``codecs.lookup(label).name``) → the codec to read it with.
SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "iso8859-9": "cp1254",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
}

#: Labels Python does not know, in the spelling mailers use.
ALIASES = {
    "x-gbk": "gb18030",
    "x-gb18030": "gb18030",
    "x-sjis": "cp932",
    "x-euc-kr": "cp949",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-unicode-2-0-utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "utf8mb4": "utf-8",
}

#: Codecs in which valid UTF-8 bytes may well be the codec's own text: no UTF-8 guess first.
_MULTIBYTE = frozenset(
    {
        "utf-8", "gb18030", "big5hkscs", "cp949", "cp932", "euc_jp", "euc_jis_2004",
        "iso2022_jp", "iso2022_kr", "hz", "utf-7", "utf-16", "utf-16-le", "utf-16-be",
        "utf-32", "utf-32-le", "utf-32-be",
    }
)  # fmt: skip

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Control characters that are not line breaks or tabs (C0 and DEL): never part of text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def codec_for(label: str | None) -> str | None:
    """The codec to read a charset label with (its superset where one exists), or None."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    # RFC 2231 language suffix ("utf-8*en") and stray quotes.
    name = name.split("*", 1)[0]
    if name in ALIASES:
        return ALIASES[name]
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    return SUPERSETS.get(canonical, canonical)


def decode_bytes(data: bytes, label: str | None, *, hint: str | None = None) -> str:
    """Decode text bytes labelled ``label``; ``hint`` is another charset seen in the same mail
    (used when the label is missing or unknown). Never raises."""
    if not data:
        return ""
    codec = codec_for(label)
    fallback = codec_for(hint)
    candidates: list[str] = []
    if codec is not None:
        if codec not in _MULTIBYTE and not data.isascii():
            candidates.append("utf-8")
        candidates.append(codec)
    else:
        candidates.append("utf-8")
        if fallback is not None:
            candidates.append(fallback)
        candidates.append("cp1252")
    for name in candidates:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(codec or fallback or "utf-8", errors="replace")


def clean_text(text: str) -> str:
    """Text any database stores: no NUL or other control characters, no lone surrogates,
    ``\\n`` line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


# --- Headers (RFC 2047 encoded words, and raw 8-bit bytes) ------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t\r\n]+(?==\?)")
_FOLD = re.compile(r"\r?\n[ \t]*")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            compact = re.sub(r"\s+", "", text)
            return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        return quopri.decodestring(text.replace("_", " ").encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _literal(text: str, hint: str | None) -> str:
    """Header text outside encoded words; 8-bit bytes arrive surrogate-escaped."""
    if not _SURROGATE.search(text):
        return text
    raw = text.encode("ascii", "surrogateescape")
    return decode_bytes(raw, None, hint=hint)


def decode_header(value: str | None, *, hint: str | None = None) -> str:
    """A header's raw value as text: unfolded, encoded words decoded (adjacent words of one
    charset joined before decoding, so a character split across two words survives), raw
    8-bit bytes read as UTF-8 or the mail's other charset. Never raises."""
    if not value:
        return ""
    value = _FOLD.sub(" ", value)
    value = _BETWEEN_WORDS.sub("", value)
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(bytes(pending), pending_charset, hint=hint))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        charset, encoding, text = match.groups()
        data = _word_bytes(encoding, text)
        if match.start() > position:
            flush()
            out.append(_literal(value[position : match.start()], hint))
        position = match.end()
        if data is None:
            flush()
            out.append(match.group(0))
            continue
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        pending_charset = charset
        pending.extend(data)
    flush()
    out.append(_literal(value[position:], hint))
    return clean_text("".join(out)).replace("\n", " ").replace("\t", " ").strip()
