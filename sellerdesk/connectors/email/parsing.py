"""Reading one e-mail: who sent it, how it threads, its text, its attachments, and whether a
machine wrote it.

Parsed with the standard library's ``email`` package under ``policy.default``; when that
raises, the same reading is tried again under ``compat32``; only when both fail is
``ParseError`` raised (and the caller quarantines the mail with its bytes). Header values are
read raw and decoded here (``charsets.decode_header``) rather than through the policy's header
objects: the policy would keep undecodable bytes as surrogates, which no database stores.
The header objects the policy does make (Content-Type, Content-Disposition: the parser itself
asks for them several times per part) are kept per value (``_header``).
"""

from __future__ import annotations

import email
import functools
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.utils import getaddresses, parseaddr

from sellerdesk.connectors.email import charsets, htmltext, quotes


class ParseError(Exception):
    """Neither policy could read the message."""


class Auto:
    """Mail a machine wrote: stored and shown to agents, never counted or answered."""

    NONE = ""
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"


#: Message-IDs are keys of this length at most; longer ones are stored as their hash.
MESSAGE_ID_MAX = 250
#: The longest text kept as a message body; the raw mail keeps the rest.
TEXT_MAX = 1_000_000

_ANGLE_IDS = re.compile(r"<([^<>\s]{1,998})>")
_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster)@", re.IGNORECASE)


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False


@dataclass
class ParsedMail:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    text: str = ""
    #: Where quoted history starts in ``text`` (None: no quote found).
    quoted_from: int | None = None
    from_html: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    auto: str = Auto.NONE
    #: For delivery reports: the Message-IDs of the returned original (threading only).
    reported_ids: list[str] = field(default_factory=list)
    #: "default" or "compat32": which policy read it.
    policy: str = "default"

    @property
    def thread_ids(self) -> list[str]:
        """Every id that may point at this mail's conversation, the most telling first."""
        seen: dict[str, None] = {}
        for mid in [*self.in_reply_to, *reversed(self.references), *self.reported_ids]:
            seen.setdefault(mid, None)
        return list(seen)


def id_key(message_id: str) -> str:
    """A Message-ID (without angle brackets) as the key stored for threading."""
    value = message_id.strip().strip("<>").strip()
    if len(value) > MESSAGE_ID_MAX:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def _ids(value: str) -> list[str]:
    found = _ANGLE_IDS.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]  # a bare id without brackets, as some mailers write
    return [id_key(charsets.clean_text(v)) for v in found if v.strip("<> ")]


_REGISTRY = HeaderRegistry()
#: A header value longer than a line may be (RFC 5322: 998 characters) is parsed each time
#: rather than kept.
_KEPT_HEADER_LENGTH = 998


@functools.lru_cache(maxsize=1024)
def _kept_header(name: str, value: str) -> BaseHeader:
    header: BaseHeader = _REGISTRY(name, value)
    return header


def _header(name: str, value: str) -> BaseHeader:
    """``policy.default``'s header objects, one per (name, value). The policy makes a new
    one, parsing the value again, at every look-up: the parser asks for a part's
    Content-Type at least three times, and the parse is most of a mail's reading. The
    objects are not changed after they are made (a changed header is a new object)."""
    if len(value) > _KEPT_HEADER_LENGTH:
        header: BaseHeader = _REGISTRY(name, value)
        return header
    return _kept_header(name, value)


_DEFAULT = policy.default.clone(header_factory=_header)


def parse(raw: bytes) -> ParsedMail:
    """Read a message; ``ParseError`` when neither policy can."""
    try:
        return _read(email.message_from_bytes(raw, policy=_DEFAULT), "default")
    except Exception as first:  # the policy's parser has raised on malformed input
        try:
            return _read(email.message_from_bytes(raw, policy=policy.compat32), "compat32")
        except Exception as second:
            raise ParseError(
                f"policy.default: {type(first).__name__}: {first}; "
                f"compat32: {type(second).__name__}: {second}"
            ) from second


def _raw_headers(message: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), []).append(str(value))
    return headers


def _content_type(part: Message) -> tuple[str, dict[str, str]]:
    """The part's type and parameters, read once: the policy parses the header anew at every
    ``get_content_type()``, ``get_param()`` or ``get_content_charset()``."""
    cached: tuple[str, dict[str, str]] | None = getattr(part, "_sellerdesk_type", None)
    if cached is not None:
        return cached
    header = part.get("content-type")
    if header is not None and hasattr(header, "content_type") and hasattr(header, "params"):
        content_type = str(header.content_type).lower()
        params = {str(k).lower(): str(v) for k, v in header.params.items()}
    else:  # compat32: plain strings
        content_type = part.get_content_type()
        params = {
            str(k).lower(): str(v) for k, v in (part.get_params() or [])[1:] if isinstance(v, str)
        }
    if header is None or "/" not in content_type:
        content_type = part.get_default_type() if header is None else "text/plain"
    setattr(part, "_sellerdesk_type", (content_type, params))  # noqa: B010 - a cache on the part
    return content_type, params


def _charset_hint(message: Message) -> str | None:
    for part in message.walk():
        charset = _content_type(part)[1].get("charset", "").lower()
        if charset and charset not in {"us-ascii", "ascii"}:
            return charset
    return None


def _read(message: Message, policy_name: str) -> ParsedMail:
    headers = _raw_headers(message)
    hint = _charset_hint(message)

    def header(name: str) -> str:
        values = headers.get(name)
        return charsets.decode_header(values[0], hint=hint) if values else ""

    def raw(name: str) -> str:
        return " ".join(headers.get(name, []))

    mail = ParsedMail(policy=policy_name)
    ids = _ids(raw("message-id"))
    mail.message_id = ids[0] if ids else ""
    mail.in_reply_to = _ids(raw("in-reply-to"))
    mail.references = _ids(raw("references"))
    mail.subject = header("subject")[:500]
    # Addresses are split on the raw value, so that a decoded display name holding a comma
    # cannot split one address in two; each name is decoded afterwards.
    name, address = parseaddr(raw("from").replace("\n", " "))
    if not address and raw("sender"):
        name, address = parseaddr(raw("sender"))
    mail.from_name = charsets.decode_header(name, hint=hint)[:200]
    mail.from_address = charsets.clean_text(address).strip().lower()[:254]
    mail.to = _addresses(raw("to"))
    mail.cc = _addresses(raw("cc"))
    mail.auto = _auto_kind(message, headers, mail.from_address)
    _read_parts(message, mail, hint)
    return mail


def _addresses(value: str) -> list[str]:
    if not value:
        return []
    return [
        charsets.clean_text(address).strip().lower()[:254]
        for _, address in getaddresses([value.replace("\n", " ")])
        if address
    ]


def _auto_kind(message: Message, headers: dict[str, list[str]], sender: str) -> str:
    def first(name: str) -> str:
        values = headers.get(name)
        return values[0].strip().lower() if values else ""

    content_type = _content_type(message)[0]
    if content_type in {"multipart/report", "message/delivery-status"}:
        return Auto.BOUNCE
    if "return-path" in headers and first("return-path").strip("<> ") == "":
        return Auto.BOUNCE
    if _BOUNCE_SENDERS.match(sender):
        return Auto.BOUNCE
    auto_submitted = first("auto-submitted")
    if auto_submitted and auto_submitted != "no":
        return Auto.AUTO_REPLY
    if any(h in headers for h in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return Auto.AUTO_REPLY
    if first("precedence") in {"bulk", "list", "junk", "auto_reply"}:
        return Auto.BULK
    if "list-id" in headers:
        return Auto.BULK
    return Auto.NONE


def _leaves(part: Message) -> list[Message]:
    """The parts that carry content, in order; a forwarded message is one leaf, not opened."""
    if not part.is_multipart() or _content_type(part)[0].startswith("message/"):
        return [part]
    found: list[Message] = []
    payload = part.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            found.extend(_leaves(sub))
    return found


def _message_bytes(part: Message) -> bytes:
    """The content of a message/* part (a forwarded mail, a delivery report's fields)."""
    payload = part.get_payload()
    try:
        if isinstance(payload, list):
            return b"".join(sub.as_bytes() for sub in payload if isinstance(sub, Message))
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""
    except Exception:  # generating the copy can fail on malformed input; the raw mail has it
        return b""


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next."""
    out: list[str] = []
    buffer = ""
    for line in text.split("\n"):
        if line != "-- " and line.endswith(" "):
            buffer += line[:-1] if delsp else line
            continue
        out.append(buffer + line)
        buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def _filename(part: Message, hint: str | None) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # a malformed parameter: fall back to the raw header
        name = ""
    name = charsets.decode_header(str(name), hint=hint) if name else ""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]


def _read_parts(message: Message, mail: ParsedMail, hint: str | None) -> None:
    plain: list[str] = []
    html: list[str] = []
    for index, part in enumerate(_leaves(message), start=1):
        content_type, params = _content_type(part)
        maintype = content_type.split("/", 1)[0]
        charset = params.get("charset") or None
        disposition = part.get_content_disposition()
        filename = _filename(part, hint)
        if maintype == "message":
            data = _message_bytes(part)
            if content_type in {"message/rfc822", "message/global"} or content_type.endswith(
                "headers"
            ):
                mail.reported_ids += _returned_ids(data) if mail.auto == Auto.BOUNCE else []
            ext = ".eml" if content_type in {"message/rfc822", "message/global"} else ".txt"
            mail.attachments.append(
                ParsedAttachment(filename or f"message-{index}{ext}", content_type, data)
            )
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        is_body = disposition != "attachment" and not filename
        if content_type == "text/rfc822-headers" and mail.auto == Auto.BOUNCE:
            mail.reported_ids += _returned_ids(data)
        if is_body and content_type == "text/plain":
            text = charsets.decode_bytes(data, charset, hint=hint)
            text = charsets.clean_text(text)
            if params.get("format", "").lower() == "flowed":
                text = _unflow(text, params.get("delsp", "").lower() == "yes")
            plain.append(text)
        elif is_body and content_type == "text/html":
            html.append(charsets.decode_bytes(data, charset, hint=hint))
        else:
            ext = mimetypes.guess_extension(content_type) or ".bin"
            mail.attachments.append(
                ParsedAttachment(
                    filename or f"attachment-{index}{ext}",
                    content_type[:100],
                    data,
                    inline=disposition == "inline" or bool(part.get("content-id")),
                )
            )
    texts = [t.strip("\n") for t in plain if t.strip()]
    if texts:
        text = "\n\n".join(texts)
    elif html:
        text = charsets.clean_text(htmltext.html_to_text("\n".join(html)))
        mail.from_html = True
    else:
        text = ""
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    mail.text = text[:TEXT_MAX]
    mail.quoted_from = quotes.quote_start(mail.text)


def _returned_ids(data: bytes) -> list[str]:
    """The Message-ID of the original a delivery report returns (its headers, or all of it)."""
    head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    match = re.search(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", head, re.I | re.M)
    if not match:
        return []
    return _ids(match.group(1).decode("ascii", "replace"))
