"""Mail into conversations. The raw mail is stored (and committed) first; processing it —
parsing, threading, writing the message — is a second transaction whose failure quarantines the
mail with the error, bytes intact, to be processed again. Nothing is lost.

Messages are written through the conversation services (``conversations.services``) and the
same steps the portal's ``workflow.reply_post`` takes for a merchant: the trail, the merchant's
answer handing the conversation back to support, the SLA due times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from sellerdesk.accounts.models import Merchant, MerchantStatus, User
from sellerdesk.api import webhooks
from sellerdesk.connectors.email import parsing, threads
from sellerdesk.connectors.email.models import (
    EmailMessageInfo,
    EmailThread,
    InboundEmail,
    InboundState,
    MessageIdRef,
)
from sellerdesk.connectors.email.parsing import Auto, ParsedMail
from sellerdesk.connectors.email.threads import UNREAD, Unread
from sellerdesk.conversations import services as conversation_services
from sellerdesk.conversations import workflow
from sellerdesk.conversations.interchange import InterchangeError, parse_country
from sellerdesk.conversations.models import (
    ActivityVerb,
    AuthorType,
    Channel,
    Conversation,
    Kind,
    Message,
)
from sellerdesk.core import rows
from sellerdesk.core.countries import country_from_address
from sellerdesk.core.errors import ValidationError
from sellerdesk.sla import config

logger = logging.getLogger(__name__)

#: Failures of the surroundings, not of the mail: attachment storage full or unwritable, the
#: database away. Such a mail stays *received* and is tried again (the worker's
#: ``email.retry``, and ``smtpd``/``fetchmail`` at start), quarantined only after this many.
TRANSIENT_ERRORS = (OSError, OperationalError, InterfaceError)
TRANSIENT_ATTEMPTS = 10
#: A received mail younger than this is left to the receiver that is processing it.
RETRY_AFTER = timedelta(minutes=1)

AUTO_LABELS = {
    Auto.AUTO_REPLY: "Automatic reply",
    Auto.BOUNCE: "Delivery failure report",
    Auto.BULK: "Bulk or list mail",
}


class UnknownSenderCountryError(ValidationError):
    """An unknown sender's applicant needs a country the format accepts."""


# --- Receiving ---------------------------------------------------------------------------------


def inbound_receive(
    *,
    raw: bytes,
    source: str,
    mail_from: str = "",
    rcpt_to: Sequence[str] = (),
    received_at: datetime | None = None,
) -> InboundEmail:
    """Store a mail as it arrived, before anything else is done with it."""
    inbound, _ = rows.insert_committed(  # built once (core.rows), as the statements below
        _arrived(raw, source, mail_from, rcpt_to, received_at), meanwhile=lambda: None
    )
    return inbound


#: What reading a mail gave: the mail, or the error to quarantine it with.
Parsed = ParsedMail | Exception


def inbound_accept(
    *, raw: bytes, source: str, mail_from: str = "", rcpt_to: Sequence[str] = ()
) -> tuple[InboundEmail, Parsed]:
    """Store a mail as it arrived (``inbound_receive``) and read it: the reading begins only
    once the row and its commit are on their way to the database, and overlaps the commit's
    flush to disk (``rows.insert_committed``). Returns once the mail is committed; raises,
    with nothing stored, when it cannot be. Then ``inbound_process(parsed=...)``."""
    return rows.insert_committed(
        _arrived(raw, source, mail_from, rcpt_to, None), meanwhile=lambda: _parse(raw)
    )


def _arrived(
    raw: bytes,
    source: str,
    mail_from: str,
    rcpt_to: Sequence[str],
    received_at: datetime | None,
) -> InboundEmail:
    return InboundEmail(
        raw=raw,
        size=len(raw),
        source=source,
        mail_from=_clean(mail_from)[:320],
        rcpt_to=[_clean(r)[:320] for r in rcpt_to],
        received_at=received_at or timezone.now(),
    )


def _parse(raw: bytes) -> Parsed:
    try:
        return parsing.parse(raw)
    except Exception as error:  # quarantined by inbound_process, with this error
        return error


def inbound_deliver(
    *, raw: bytes, source: str, mail_from: str = "", rcpt_to: Sequence[str] = ()
) -> InboundEmail:
    """Store, then process: what the SMTP receiver and the IMAP fetcher call per mail."""
    inbound, parsed = inbound_accept(raw=raw, source=source, mail_from=mail_from, rcpt_to=rcpt_to)
    return inbound_process(inbound=inbound, raw=raw, parsed=parsed)


def inbound_waiting(*, older_than: timedelta | None = None) -> QuerySet[InboundEmail]:
    """Mail stored but not processed: a receiver stopped in between, or a failure of the
    surroundings (``TRANSIENT_ERRORS``) left it to be tried again."""
    rows = InboundEmail.objects.filter(state=InboundState.RECEIVED)
    if older_than is not None:
        rows = rows.filter(received_at__lte=timezone.now() - older_than)
    return rows


def inbound_process_waiting(*, limit: int = 500, older_than: timedelta | None = None) -> int:
    """Process mail stored but never processed (``inbound_waiting``)."""
    rows = list(
        inbound_waiting(older_than=older_than)
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in rows:
        inbound_process(inbound=InboundEmail(pk=pk))
    return len(rows)


def _clean(value: str) -> str:
    return parsing.charsets.clean_text(value or "").strip()


# --- Processing --------------------------------------------------------------------------------


def inbound_process(
    *, inbound: InboundEmail, raw: bytes | None = None, parsed: Parsed | None = None
) -> InboundEmail:
    """Parse, thread and store one received (or quarantined) mail. Never raises for the mail's
    sake: a mail that cannot be processed is quarantined with the error. ``raw``: the stored
    bytes when the caller has them (saves reading them back); ``parsed``: what
    ``inbound_accept`` read of them."""
    found: ParsedMail | None = None
    try:
        if isinstance(parsed, Exception):
            raise parsed
        if parsed is not None:
            found = parsed
        else:
            if raw is None:
                raw = bytes(InboundEmail.objects.values_list("raw", flat=True).get(pk=inbound.pk))
            found = parsing.parse(raw)
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            read = _read_first(inbound.pk, found, lazy_commit=outermost)
            row = read.row
            if row.state != InboundState.PROCESSED:
                # The SLA refresh and the webhook events read the configuration once.
                with config.reuse(generation_rows=read.generation):
                    _process(row, found, read)
        return row
    except Exception as error:  # whatever failed, the mail is kept and shown to admins
        text = f"{type(error).__name__}: {error}"[:5000]
        fields: dict[str, object] = {"error": text}
        if found is not None:
            fields.update(_summary(found))
        rows = InboundEmail.objects.filter(pk=inbound.pk).exclude(state=InboundState.PROCESSED)
        if isinstance(error, TRANSIENT_ERRORS) and rows.filter(
            attempts__lt=TRANSIENT_ATTEMPTS - 1
        ).update(attempts=F("attempts") + 1, **fields):
            logger.warning("inbound e-mail %s kept to be tried again: %s", inbound.pk, text)
        else:
            logger.warning("inbound e-mail %s quarantined: %s", inbound.pk, text)
            rows.update(attempts=F("attempts") + 1, state=InboundState.QUARANTINED, **fields)
    return InboundEmail.objects.defer("raw").get(pk=inbound.pk)


_INBOUND = rows.reader(InboundEmail, ("state", "attempts", "mail_from", "rcpt_to", "received_at"))
_locked_sql: dict[tuple[str, bool], str] = {}


def _locked_statement(pk: int, *, lazy_commit: bool) -> tuple[str, list[object]]:
    """The inbound row, locked, with only what processing reads (the other columns are
    written, not read).

    ``lazy_commit`` (PostgreSQL; the first statement of the processing transaction, not
    inside a caller's): that transaction commits without waiting for its flush to disk
    (``synchronous_commit`` off for it alone, set by this same statement). The raw mail was
    committed durably before (``inbound_receive``); should the server stop before the flush,
    the processing is undone whole, the mail is *received* again, and processed again
    (``inbound_process_waiting``: the worker's ``email.retry``, ``smtpd`` at start). The next
    durable commit on the server (the next mail's) flushes it anyway.
    """
    lazy = lazy_commit and connection.vendor == "postgresql"
    key = (connection.vendor, lazy)
    sql = _locked_sql.get(key)
    if sql is None:
        table = connection.ops.quote_name(InboundEmail._meta.db_table)
        extra = ", set_config('synchronous_commit', 'off', true)" if lazy else ""
        sql = _locked_sql[key] = (
            f"SELECT {_INBOUND.columns('i')}{extra} FROM {table} i "  # noqa: S608 - model names
            "WHERE i.id = %s" + rows.for_update()
        )
    return sql, [pk]


@dataclass
class _FirstRead:
    """What processing reads first, in one round trip (``rows.fetch_together``)."""

    row: InboundEmail
    #: The stored Message-IDs among the mail's own and those it points at, of every merchant.
    known: list[MessageIdRef]
    #: The merchant user with the From address (``threads.UNREAD``: not asked).
    user: User | Unread | None
    #: The configuration generation's rows (``config.reuse``).
    generation: list[Any]


def _read_first(pk: int, mail: ParsedMail, *, lazy_commit: bool) -> _FirstRead:
    """The inbound row locked, the Message-IDs the mail names, its sender (by its From: a
    mail without one is matched by its envelope sender, read from the row, after) and the
    configuration generation."""
    # One look-up for the mail's own Message-ID and the ids it points at, of every merchant;
    # the threading keeps only its sender's merchant's.
    wanted = list(
        dict.fromkeys([*([mail.message_id] if mail.message_id else []), *mail.thread_ids])
    )
    refs = threads.refs_statement(wanted)
    address = mail.from_address.strip().lower()
    statements = [
        _locked_statement(pk, lazy_commit=lazy_commit),
        config.generation_statement(),
        *([threads.merchant_user_statement(address)] if address else []),
        *([refs] if refs is not None else []),
    ]
    found = rows.fetch_together(statements)
    if not found[0]:
        raise InboundEmail.DoesNotExist(f"no inbound e-mail {pk}")
    row: InboundEmail = _INBOUND.build(found[0][0][: len(_INBOUND)])
    return _FirstRead(
        row=row,
        generation=found[1],
        user=threads.merchant_user_from(found[2]) if address else UNREAD,
        known=threads.refs_from(found[-1]) if refs is not None else [],
    )


def _summary(mail: ParsedMail) -> dict[str, str]:
    return {
        "mail_id": mail.message_id[:255],
        "from_address": mail.from_address[:254],
        "subject": mail.subject[:500],
        "auto": mail.auto,
    }


@dataclass
class _Outcome:
    conversation: Conversation | None = None
    message: Message | None = None
    note: str = ""


def _process(row: InboundEmail, mail: ParsedMail, read: _FirstRead) -> None:
    """Call inside a transaction with the inbound row locked."""
    outcome = _thread_and_store(row, mail, read)
    for name, value in _summary(mail).items():
        setattr(row, name, value)
    row.state = InboundState.PROCESSED
    row.error = ""
    row.note = outcome.note
    row.attempts += 1
    row.processed_at = timezone.now()
    row.conversation = outcome.conversation
    row.message = outcome.message
    rows.update(
        row,
        [
            *_summary(mail), "state", "error", "note", "attempts", "processed_at",
            "conversation", "message",
        ],
    )  # fmt: skip


def _thread_and_store(row: InboundEmail, mail: ParsedMail, read: _FirstRead) -> _Outcome:
    address = mail.from_address or row.mail_from.lower()
    known = read.known
    # Whoever claimed this Message-ID before: our own reply come back, or an earlier copy.
    same_id = [ref for ref in known if mail.message_id and ref.mail_id == mail.message_id]
    if any(ref.outbound for ref in same_id):
        return _Outcome(note="our own reply, come back: not stored as a message")
    sender = threads.sender_of(address, mail.from_name, user=read.user)
    for ref in same_id:
        if sender.merchant is not None and ref.merchant_id == sender.merchant.pk:
            return _Outcome(ref.conversation, ref.message, "a copy of a mail already stored")
    conversation = (
        threads.conversation_for(mail, sender.merchant, row.rcpt_to, known=known)
        if sender.merchant is not None
        else None
    )
    if mail.auto:
        if conversation is None and mail.auto == Auto.BOUNCE:
            conversation = threads.reported_conversation(mail)
        if conversation is None:
            return _Outcome(
                note="automatic mail outside any conversation of its sender: kept here only"
            )
        message = _system_note(conversation, mail, row, address)
        _record(mail, conversation, message)
        return _Outcome(conversation, message)
    if not address:
        raise ValidationError("the mail names no sender (no From, no envelope sender)")
    merchant = sender.merchant or _applicant(address, mail.from_name)
    if conversation is None:
        conversation, message = _open(merchant, mail, row, sender)
        rows.insert(
            EmailThread(
                conversation=conversation,
                token=threads.new_token(),
                reply_address=address,
                reply_name=sender.name[:200],
            )
        )
    else:
        message = _merchant_message(conversation, mail, row, sender)
        # Replies go to whoever of the merchant wrote last.
        thread = EmailThread(
            conversation_id=conversation.pk, reply_address=address, reply_name=sender.name[:200]
        )
        if not rows.update(thread, ["reply_address", "reply_name"]):
            EmailThread.objects.create(
                conversation=conversation,
                token=threads.new_token(),
                reply_address=address,
                reply_name=sender.name[:200],
            )
    _record(mail, conversation, message)
    return _Outcome(conversation, message)


def _applicant(address: str, name: str) -> Merchant:
    """The applicant (potential merchant) an unknown sender writes as: in the country their
    address's domain names (``.com.tr``, ``.cn``), else in SELLERDESK_UNKNOWN_SENDER_COUNTRY."""
    code = country_from_address(address)
    if code is None:
        country = settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY
        try:
            code = parse_country(country)
        except InterchangeError:
            raise UnknownSenderCountryError(
                f"unknown sender {address}: no country in the address's domain, and "
                f"SELLERDESK_UNKNOWN_SENDER_COUNTRY {country!r} is not an assigned ISO 3166-1 "
                "alpha-2 code, so no applicant can be opened; set it to one, then process this "
                "mail again"
            ) from None
    return conversation_services.merchant_upsert(
        external_id=threads.potential_merchant_id(address),
        country=code,
        name=(name or address)[:500],
        status=MerchantStatus.POTENTIAL,
    )


def unknown_sender_warning() -> str:
    """What the receivers say at start when unknown senders' mail would be quarantined."""
    country = settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY
    try:
        parse_country(country)
    except InterchangeError:
        return (
            f"warning: SELLERDESK_UNKNOWN_SENDER_COUNTRY {country!r} is not an assigned ISO "
            "3166-1 alpha-2 code: mail from unknown senders whose domain names no country "
            "(.com, .io...) will be quarantined (kept, to be processed again) until it is set "
            "to one."
        )
    return ""


def thread_for(conversation: Conversation) -> EmailThread:
    """The conversation's e-mail side, made on first use (a token of its own)."""
    thread = EmailThread.objects.filter(pk=conversation.pk).first()
    if thread is None:
        thread = EmailThread.objects.create(conversation=conversation, token=threads.new_token())
    return thread


# --- Writing messages ----------------------------------------------------------------------------


@dataclass
class _Body:
    text: str
    quoted_from: int | None
    files: list[SimpleUploadedFile]


def _body(mail: ParsedMail) -> _Body:
    """The message text: the mail's own words, a note for each attachment not kept, then the
    quoted history (whose start is recorded for folding)."""
    limit = settings.SELLERDESK_ATTACHMENT_MAX_BYTES
    files: list[SimpleUploadedFile] = []
    notes: list[str] = []
    for attachment in mail.attachments:
        if len(attachment.data) > limit:
            notes.append(
                f"[Attachment “{attachment.filename}” ({filesizeformat(len(attachment.data))}) "
                f"not kept: larger than the limit of {filesizeformat(limit)}. "
                "The original e-mail, stored in sellerdesk, still has it.]"
            )
            continue
        files.append(
            SimpleUploadedFile(attachment.filename, attachment.data, attachment.content_type)
        )
    text = mail.text
    cut = mail.quoted_from
    own = (text[:cut] if cut is not None else text).rstrip()
    rest = text[cut:] if cut is not None else ""
    if notes:
        own = "\n\n".join([own, *notes]).strip()
    if not own:
        own = "(attachment)" if files else "(no text)"
    if rest:
        return _Body(f"{own}\n\n{rest}", len(own) + 2, files)
    return _Body(own, None, files)


def _author_name(mail: ParsedMail, sender: threads.Sender) -> str:
    if sender.user is not None:
        return sender.user.get_full_name()[:500]
    return (mail.from_name or sender.address)[:500]


def _open(
    merchant: Merchant, mail: ParsedMail, row: InboundEmail, sender: threads.Sender
) -> tuple[Conversation, Message]:
    body = _body(mail)
    # Opened with its first message and its author, and the trail's time as its last change,
    # in the conversation's own INSERT: nothing is read back or updated after. No savepoints:
    # any failure rolls back the whole of the mail's processing (then quarantined or retried).
    now = timezone.now()
    conversation, message = conversation_services.conversation_start(
        merchant=merchant,
        channel=Channel.EMAIL,
        subject=threads.strip_token(mail.subject),
        kind=Kind.QUESTION,
        created_at=row.received_at,
        body=body.text,
        author_type=AuthorType.MERCHANT,
        author_id=sender.address,
        author_name=_author_name(mail, sender),
        author_user=sender.user,
        updated_at=now,
        savepoint=False,
    )
    assert message is not None
    # The portal's opening, for a mail: the trail and the service-level targets.
    workflow._trail(
        conversation, sender.user, ActivityVerb.OPENED, channel=Channel.EMAIL, at=now, touch=False
    )
    workflow._sla(conversation)
    _store(conversation, message, body, mail, row)
    webhooks.emit("conversation.created", conversation)
    return conversation, message


def _merchant_message(
    conversation: Conversation, mail: ParsedMail, row: InboundEmail, sender: threads.Sender
) -> Message:
    body = _body(mail)
    message = conversation_services.message_add(
        conversation=conversation,
        author_type=AuthorType.MERCHANT,
        body=body.text,
        author_id=sender.address,
        author_name=_author_name(mail, sender),
        created_at=max(row.received_at, conversation.created_at),
        author_user=sender.user,
        touch=True,  # the conversation's last change, in the message's own UPDATE
        savepoint=False,  # as in _open
    )
    conversation.updated_at = message.created_at
    # As workflow.reply_post for a merchant (whose sender here may have no user): the answer
    # hands the conversation back to support and stops the merchant's clock.
    workflow._merchant_answered(conversation, sender.user, by="merchant:email")
    workflow._sla(conversation)
    _store(conversation, message, body, mail, row)
    webhooks.emit("message.created", conversation, webhooks.message_data(message))
    return message


def _system_note(
    conversation: Conversation, mail: ParsedMail, row: InboundEmail, address: str
) -> Message:
    """A machine's mail: an internal system message, never the merchant's, never answered."""
    body = _body(mail)
    label = AUTO_LABELS.get(mail.auto, "Automatic mail")
    message = conversation_services.message_add(
        conversation=conversation,
        author_type=AuthorType.SYSTEM,
        body=body.text,
        public=False,
        author_id=address[:200],
        author_name=f"{label} ({address or 'no sender'})"[:500],
        created_at=max(row.received_at, conversation.created_at),
        savepoint=False,  # as in _open
    )
    _store(conversation, message, body, mail, row)
    return message


def _store(
    conversation: Conversation, message: Message, body: _Body, mail: ParsedMail, row: InboundEmail
) -> None:
    # The same writer of attachment rows and files as the desk and the portal.
    workflow._store_files(conversation, message, body.files)
    rows.insert(
        EmailMessageInfo(
            message=message,
            inbound=row,
            from_address=mail.from_address,
            quoted_from=body.quoted_from,
            from_html=mail.from_html,
            auto=mail.auto,
        )
    )


def _record(mail: ParsedMail, conversation: Conversation, message: Message) -> None:
    """Remember the mail's Message-ID, so that replies to it thread here."""
    if not mail.message_id:
        return
    rows.insert(
        MessageIdRef(
            mail_id=mail.message_id,
            merchant_id=conversation.merchant_id,
            conversation=conversation,
            message=message,
        ),
        ignore_conflicts=True,
    )
