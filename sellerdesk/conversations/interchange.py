"""The conversation interchange format, v1 (docs/interchange.md): parsing and writing one line.

``parse_line`` validates one JSON line into a ``ConversationRecord`` or raises
``InterchangeError`` naming the first rule it breaks. It touches no database: the importer
writes what it returns.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sellerdesk.accounts.models import Merchant, MerchantStatus
from sellerdesk.conversations.models import (
    AuthorType,
    Channel,
    Conversation,
    InitiatedBy,
    Kind,
    Message,
    Outcome,
    Status,
    StatusChange,
    Tag,
)
from sellerdesk.core.countries import COUNTRY_NAMES
from sellerdesk.core.text import display_tag, normalize_tag, text_problem
from sellerdesk.core.timeutil import TimestampError, parse_rfc3339

SCHEMA = "sellerdesk.conversations/v1"

_CHANNELS = frozenset(Channel.values)
_KINDS = frozenset(Kind.values)
_INITIATORS = frozenset(InitiatedBy.values)
_OUTCOMES = frozenset(Outcome.values)
_STATUSES = frozenset(Status.values)
_AUTHOR_TYPES = frozenset(AuthorType.values)
_MERCHANT_STATUSES = frozenset(MerchantStatus.values)
_BCP47 = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")


class InterchangeError(ValueError):
    """A line that breaks a rule of the format; the message says which."""


@dataclass(slots=True)
class MerchantRecord:
    id: str
    country: str
    name: str = ""
    status: str = MerchantStatus.ACTIVE
    language: str = ""


@dataclass(slots=True)
class MessageRecord:
    id: str
    author_type: str
    author_id: str
    author_name: str
    public: bool
    body: str
    created_at: datetime


@dataclass(slots=True)
class StatusChangeRecord:
    status: str
    at: datetime
    by: str
    seq: int


@dataclass(slots=True)
class ConversationRecord:
    id: str
    merchant: MerchantRecord
    channel: str
    created_at: datetime
    kind: str = Kind.QUESTION
    initiated_by: str = InitiatedBy.MERCHANT
    subject: str = ""
    #: normalized name -> display name, in first-seen order; repeats count once.
    tags: dict[str, str] = field(default_factory=dict)
    messages: list[MessageRecord] = field(default_factory=list)
    status_changes: list[StatusChangeRecord] = field(default_factory=list)
    outcome: str | None = None
    spam: bool = False


_MISSING = object()


def column_length(model: type[Any], name: str) -> int:
    """The most characters a text column holds (PostgreSQL enforces it, SQLite does not)."""
    max_length = model._meta.get_field(name).max_length
    assert max_length is not None
    return int(max_length)


# The stored columns' limits, checked here so that a line is refused alike on every database
# (PostgreSQL enforces them, SQLite does not).
_ID_MAX = column_length(Conversation, "external_id")
_MERCHANT_ID_MAX = column_length(Merchant, "external_id")
_MERCHANT_NAME_MAX = column_length(Merchant, "name")
_LANGUAGE_MAX = column_length(Merchant, "language")
_MESSAGE_ID_MAX = column_length(Message, "external_id")
_AUTHOR_ID_MAX = column_length(Message, "author_id")
_AUTHOR_NAME_MAX = column_length(Message, "author_name")
_BY_MAX = column_length(StatusChange, "by")
_TAG_MAX = min(column_length(Tag, "name"), column_length(Tag, "display_name"))


#: Whether the line being parsed may hold a NUL or a lone surrogate. In JSON both can only be
#: written as \u escapes (a raw NUL is refused by the decoder, a raw surrogate is no UTF-8),
#: so a line without such an escape needs no per-field search for them: the hot path of an
#: import of millions of lines.
_TEXT_NEEDS_CHECK: ContextVar[bool] = ContextVar("text_needs_check", default=True)
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _check_text(value: str, label: str, max_length: int | None = None) -> str:
    """Refuse what no column can hold: NUL, lone surrogates, more characters than it takes."""
    problem = text_problem(value) if _TEXT_NEEDS_CHECK.get() else None
    if problem:
        raise InterchangeError(f"{label}: {problem}")
    if max_length is not None and len(value) > max_length:
        raise InterchangeError(f"{label}: longer than {max_length} characters")
    return value


def _text(
    obj: dict[str, Any],
    key: str,
    where: str,
    *,
    required: bool = False,
    max_length: int | None = None,
) -> str | None:
    value = obj.get(key)
    if isinstance(value, str):
        # The common case first, without building the label a refusal would need.
        if (max_length is None or len(value) <= max_length) and not _TEXT_NEEDS_CHECK.get():
            return value
        return _check_text(value, f"{where}{key}", max_length)
    if value is None:
        if required:
            raise InterchangeError(f"{where}{key}: required field is missing")
        return None
    raise InterchangeError(f"{where}{key}: expected a string, got {_type_name(value)}")


def _required_text(
    obj: dict[str, Any], key: str, where: str = "", *, max_length: int | None = None
) -> str:
    value = _text(obj, key, where, required=True, max_length=max_length)
    assert value is not None
    return value


def _enum(obj: dict[str, Any], key: str, allowed: frozenset[str], where: str, default: Any) -> Any:
    value = obj.get(key)
    if value.__class__ is str and value in allowed:  # the common case, checked at once
        return value
    value = _text(obj, key, where, required=default is _MISSING)
    if value is None:
        return default
    if value not in allowed:
        raise InterchangeError(
            f"{where}{key}: {value!r} is not one of {', '.join(sorted(allowed))}"
        )
    return value


def _bool(obj: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InterchangeError(f"{where}{key}: expected true or false, got {_type_name(value)}")
    return value


def _timestamp(obj: dict[str, Any], key: str, where: str) -> datetime:
    value = _required_text(obj, key, where)
    try:
        return parse_rfc3339(value)
    except TimestampError as exc:
        raise InterchangeError(f"{where}{key}: {exc}") from None


def _object(obj: dict[str, Any], key: str, where: str, *, required: bool) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise InterchangeError(f"{where}{key}: required field is missing")
        return None
    if not isinstance(value, dict):
        raise InterchangeError(f"{where}{key}: expected an object, got {_type_name(value)}")
    return value


def _array(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InterchangeError(f"{key}: expected an array, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def parse_country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRY_NAMES:
        raise InterchangeError(
            f"merchant.country: {value!r} is not an assigned ISO 3166-1 alpha-2 code"
        )
    return code


def _merchant(obj: dict[str, Any]) -> MerchantRecord:
    merchant = _object(obj, "merchant", "", required=True)
    assert merchant is not None
    where = "merchant."
    language = _text(merchant, "language", where, max_length=_LANGUAGE_MAX) or ""
    if language and not _BCP47.fullmatch(language):
        raise InterchangeError(f"merchant.language: {language!r} is not a BCP 47 language tag")
    return MerchantRecord(
        id=_required_text(merchant, "id", where, max_length=_MERCHANT_ID_MAX),
        country=parse_country(_required_text(merchant, "country", where)),
        name=_text(merchant, "name", where, max_length=_MERCHANT_NAME_MAX) or "",
        status=_enum(merchant, "status", _MERCHANT_STATUSES, where, MerchantStatus.ACTIVE),
        language=language,
    )


def _messages(obj: dict[str, Any], created_at: datetime) -> list[MessageRecord]:
    items = obj.get("messages")
    if isinstance(items, list) and not _TEXT_NEEDS_CHECK.get():
        fast = _plain_messages(items, created_at)
        if fast is not None:
            return fast
    return _checked_messages(obj, created_at)


def _plain_messages(items: list[Any], created_at: datetime) -> list[MessageRecord] | None:
    """The messages of a line whose every message is plainly valid, or None to check them one
    rule at a time (``_checked_messages``, which names the rule a message breaks).

    The hot loop of an import (about five messages a line): the same rules as the checked
    path, tested without building a refusal's label or calling a helper per field.
    """
    records: list[MessageRecord] = []
    seen: set[str] = set()
    for item in items:
        if item.__class__ is not dict:
            return None
        message_id = item.get("id")
        author = item.get("author")
        body = item.get("body")
        moment_text = item.get("created_at")
        public = item.get("public", True)
        if (
            message_id.__class__ is not str
            or len(message_id) > _MESSAGE_ID_MAX
            or message_id in seen
            or author.__class__ is not dict
            or body.__class__ is not str
            or moment_text.__class__ is not str
            or public.__class__ is not bool
        ):
            return None
        author_type = author.get("type")
        author_id = author.get("id")
        if author_id is None:
            author_id = ""
        author_name = author.get("name")
        if author_name is None:
            author_name = ""
        if (
            author_type.__class__ is not str
            or author_type not in _AUTHOR_TYPES
            or author_id.__class__ is not str
            or len(author_id) > _AUTHOR_ID_MAX
            or author_name.__class__ is not str
            or len(author_name) > _AUTHOR_NAME_MAX
        ):
            return None
        moment = _plain_moment(moment_text, created_at)
        if moment is None:
            return None
        seen.add(message_id)
        records.append(
            MessageRecord(message_id, author_type, author_id, author_name, public, body, moment)
        )
    return records


def _plain_moment(text: str, created_at: datetime) -> datetime | None:
    """An event's valid timestamp, not before its conversation's, or None (the checked path
    then says what is wrong with it)."""
    try:
        moment = parse_rfc3339(text)
    except TimestampError:
        return None
    return None if moment < created_at else moment


def _checked_messages(obj: dict[str, Any], created_at: datetime) -> list[MessageRecord]:
    records: list[MessageRecord] = []
    seen: set[str] = set()
    for index, item in enumerate(_array(obj, "messages")):
        where = f"messages[{index}]."
        if not isinstance(item, dict):
            raise InterchangeError(f"messages[{index}]: expected an object, got {_type_name(item)}")
        message_id = _required_text(item, "id", where, max_length=_MESSAGE_ID_MAX)
        if message_id in seen:
            raise InterchangeError(f"{where}id: {message_id!r} is repeated in this conversation")
        seen.add(message_id)
        author = _object(item, "author", where, required=True)
        assert author is not None
        author_where = f"{where}author."
        moment = _timestamp(item, "created_at", where)
        if moment < created_at:
            raise InterchangeError(
                f"{where}created_at: {item['created_at']} is before the conversation's created_at"
            )
        records.append(
            MessageRecord(
                id=message_id,
                author_type=_enum(author, "type", _AUTHOR_TYPES, author_where, _MISSING),
                author_id=_text(author, "id", author_where, max_length=_AUTHOR_ID_MAX) or "",
                author_name=_text(author, "name", author_where, max_length=_AUTHOR_NAME_MAX) or "",
                public=_bool(item, "public", where, True),
                body=_required_text(item, "body", where),
                created_at=moment,
            )
        )
    return records


def _status_changes(obj: dict[str, Any], created_at: datetime) -> list[StatusChangeRecord]:
    items = obj.get("status_changes")
    if isinstance(items, list) and not _TEXT_NEEDS_CHECK.get():
        fast = _plain_status_changes(items, created_at)
        if fast is not None:
            return fast
    return _checked_status_changes(obj, created_at)


def _plain_status_changes(
    items: list[Any], created_at: datetime
) -> list[StatusChangeRecord] | None:
    """As ``_plain_messages``, for the status changes: None sends them to the checked path."""
    records: list[StatusChangeRecord] = []
    for seq, item in enumerate(items, 1):
        if item.__class__ is not dict:
            return None
        status = item.get("status")
        moment_text = item.get("at")
        by = item.get("by")
        if by is None:
            by = ""
        if (
            status.__class__ is not str
            or status not in _STATUSES
            or moment_text.__class__ is not str
            or by.__class__ is not str
            or len(by) > _BY_MAX
        ):
            return None
        moment = _plain_moment(moment_text, created_at)
        if moment is None:
            return None
        records.append(StatusChangeRecord(status, moment, by, seq))
    return records


def _checked_status_changes(obj: dict[str, Any], created_at: datetime) -> list[StatusChangeRecord]:
    records: list[StatusChangeRecord] = []
    for index, item in enumerate(_array(obj, "status_changes")):
        where = f"status_changes[{index}]."
        if not isinstance(item, dict):
            raise InterchangeError(
                f"status_changes[{index}]: expected an object, got {_type_name(item)}"
            )
        moment = _timestamp(item, "at", where)
        if moment < created_at:
            raise InterchangeError(
                f"{where}at: {item['at']} is before the conversation's created_at"
            )
        records.append(
            StatusChangeRecord(
                status=_enum(item, "status", _STATUSES, where, _MISSING),
                at=moment,
                by=_text(item, "by", where, max_length=_BY_MAX) or "",
                seq=index + 1,
            )
        )
    return records


#: Tags as written -> (normalized name, display name), for tags already found valid: a file
#: repeats a few hundred tags millions of times, and normalizing one (NFKC, case folding)
#: costs more than the rest of its line's fields. Bounded; only valid tags enter it.
_TAG_NAMES: dict[str, tuple[str, str]] = {}
_TAG_NAMES_MAX = 10_000


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for index, item in enumerate(_array(obj, "tags")):
        if not isinstance(item, str):
            raise InterchangeError(f"tags[{index}]: expected a string, got {_type_name(item)}")
        known = _TAG_NAMES.get(item)
        if known is None:
            _check_text(item, f"tags[{index}]")
            name = normalize_tag(item)
            display = display_tag(item) if name else ""
            # Both the normalized name and the display name kept for it must fit their columns.
            _check_text(max(name, display, key=len), f"tags[{index}]", _TAG_MAX)
            known = (name, display)
            if len(_TAG_NAMES) < _TAG_NAMES_MAX:
                _TAG_NAMES[item] = known
        name, display = known
        if name:
            tags.setdefault(name, display)
    return tags


def parse_object(obj: Any) -> ConversationRecord:
    if not isinstance(obj, dict):
        raise InterchangeError(f"expected a JSON object, got {_type_name(obj)}")
    conversation_id = _required_text(obj, "id", "", max_length=_ID_MAX)
    if not conversation_id.strip():
        raise InterchangeError("id: must not be empty")
    created_at = _timestamp(obj, "created_at", "")
    return ConversationRecord(
        id=conversation_id,
        merchant=_merchant(obj),
        channel=_enum(obj, "channel", _CHANNELS, "", _MISSING),
        created_at=created_at,
        kind=_enum(obj, "kind", _KINDS, "", Kind.QUESTION.value),
        initiated_by=_enum(obj, "initiated_by", _INITIATORS, "", InitiatedBy.MERCHANT.value),
        subject=_text(obj, "subject", "") or "",
        tags=_tags(obj),
        messages=_messages(obj, created_at),
        status_changes=_status_changes(obj, created_at),
        outcome=_enum(obj, "outcome", _OUTCOMES, "", None),
        spam=_bool(obj, "spam", "", False),
    )


def _json_int(text: str) -> int | float:
    # Python refuses integers of more than 4300 digits (a guard against slow conversions). They
    # are valid JSON, and no field of the format is a number: keep such a value a number.
    try:
        return int(text)
    except ValueError:
        return float(text)


def _not_json(name: str) -> Any:
    # Python's json module reads NaN, Infinity and -Infinity, which JSON (RFC 8259) does not have.
    raise ValueError(f"{name} is not a JSON value")


#: A line that opens with its id, as sellerdesk's export and most producers write it.
_LEADING_ID = re.compile(rb'\s*\{\s*"id"\s*:\s*"([^"\\]*)"')
_LEADING_ID_TEXT = re.compile(r'\s*\{\s*"id"\s*:\s*"([^"\\]*)"')


def leading_id(raw: bytes) -> str | None:
    """The conversation id of a line that opens with it (``{"id": "c-1", ...``, no escapes in
    the id), read without parsing the line; None for any other line.

    An import spread over processes routes each line by its id (``import_files``); this is
    what makes that routing cheap. ``parse_line`` refuses a line whose object names another
    id later on, so the id read here is the line's id whenever the line is accepted.
    """
    match = _LEADING_ID.match(raw)
    if match is None:
        return None
    try:
        return match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_line(line: str | bytes) -> ConversationRecord:
    """One conversation from one line of the file, or InterchangeError saying why not."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InterchangeError(f"not valid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(line, parse_constant=_not_json, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise InterchangeError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise InterchangeError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InterchangeError("not valid JSON: nested too deeply") from None
    leading = _LEADING_ID_TEXT.match(line)
    if leading is not None and isinstance(obj, dict) and obj.get("id") != leading.group(1):
        # JSON keeps the last of a repeated name; an import routes the line by the first.
        raise InterchangeError("id: given more than once in the object")
    token = _TEXT_NEEDS_CHECK.set(_RISKY_ESCAPE.search(line) is not None)
    try:
        return parse_object(obj)
    finally:
        _TEXT_NEEDS_CHECK.reset(token)


def format_timestamp(moment: datetime) -> str:
    """UTC with a ``Z``, microseconds only when there are any."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")
