"""Which conversation a mail belongs to, and who sent it.

A mail joins a conversation only of its own sender's merchant: through a Message-ID we sent or
received (In-Reply-To, then References, newest first), or through the reply token in the
subject (``[#SD-<token>]``) or in a recipient address (``support+<token>@…``). Whatever its
headers say, another merchant's conversation is never a match.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from sellerdesk.accounts.models import Merchant, Role, User
from sellerdesk.connectors.email.models import EmailThread, MessageIdRef
from sellerdesk.connectors.email.parsing import ParsedMail
from sellerdesk.conversations.models import Conversation
from sellerdesk.core import rows

_TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet, not a secret
TOKEN_LENGTH = 10
_SUBJECT_TOKEN = re.compile(r"\[#SD-([a-z0-9]{6,16})\]", re.IGNORECASE)
_ADDRESS_TOKEN = re.compile(r"^[^@+\s]+\+([a-z0-9]{6,16})@", re.IGNORECASE)


def new_token() -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def subject_tag(token: str) -> str:
    return f"[#SD-{token}]"


def reply_address(token: str) -> str:
    """``support+<token>@domain`` from the support address."""
    local, _, domain = settings.SELLERDESK_SUPPORT_EMAIL.partition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def tokens_in(mail: ParsedMail, recipients: Iterable[str]) -> list[str]:
    found = [m.lower() for m in _SUBJECT_TOKEN.findall(mail.subject)]
    for address in [*recipients, *mail.to, *mail.cc]:
        match = _ADDRESS_TOKEN.match(address.strip().strip("<>"))
        if match:
            found.append(match.group(1).lower())
    return list(dict.fromkeys(found))


def strip_token(subject: str) -> str:
    return re.sub(r"\s{2,}", " ", _SUBJECT_TOKEN.sub("", subject)).strip()


@dataclass
class Sender:
    address: str
    name: str
    #: The merchant user with this address (None: an unknown sender).
    user: User | None
    #: Their merchant, or the applicant already opened for this address (None: not yet).
    merchant: Merchant | None


def potential_merchant_id(address: str) -> str:
    return f"email:{address}"[:200]


_USER = rows.reader(User)
_MERCHANT = rows.reader(Merchant)
_sender_sql: dict[str, str] = {}

Statement = tuple[str, list[Any]]


class Unread:
    """The type of ``UNREAD``: a value the caller has not read (None being a value read)."""


UNREAD = Unread()


def merchant_user_statement(address: str) -> Statement:
    """The merchant user with this address, with their merchant (one statement, built once:
    every mail asks); read by ``merchant_user_from``."""
    sql = _sender_sql.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        sql = _sender_sql[connection.vendor] = (
            f"SELECT {_USER.columns('u')}, {_MERCHANT.columns('m')} "  # noqa: S608 - model names
            f"FROM {qn(User._meta.db_table)} u LEFT JOIN {qn(Merchant._meta.db_table)} m "
            "ON m.id = u.merchant_id WHERE u.email = %s AND u.role = %s ORDER BY u.id"
        )
    return sql, [address, Role.MERCHANT.value]


def merchant_user_from(found: Sequence[Sequence[Any]]) -> User | None:
    if not found:
        return None
    values = found[0]
    user: User = _USER.build(values[: len(_USER)])
    user.merchant = (
        _MERCHANT.build(values[len(_USER) : len(_USER) + len(_MERCHANT)])
        if user.merchant_id is not None
        else None
    )
    return user


_REF = rows.reader(MessageIdRef)
_CONVERSATION = rows.reader(Conversation)


def refs_statement(mail_ids: list[str]) -> Statement | None:
    """The stored Message-IDs among ``mail_ids``, of every merchant, each with its
    conversation: one statement (built once per number of ids), as every mail asks; read by
    ``refs_from``. None without ids."""
    if not mail_ids:
        return None
    key = f"refs:{connection.vendor}:{len(mail_ids)}"
    sql = _sender_sql.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        sql = _sender_sql[key] = (
            f"SELECT {_REF.columns('r')}, {_CONVERSATION.columns('c')} "  # noqa: S608 - model names
            f"FROM {qn(MessageIdRef._meta.db_table)} r "
            f"JOIN {qn(Conversation._meta.db_table)} c ON c.id = r.conversation_id "
            f"WHERE r.mail_id IN ({', '.join(['%s'] * len(mail_ids))})"
        )
    return sql, list(mail_ids)


def refs_from(found: Sequence[Sequence[Any]]) -> list[MessageIdRef]:
    width = len(_REF)
    refs = []
    for values in found:
        ref: MessageIdRef = _REF.build(values[:width])
        ref.conversation = _CONVERSATION.build(values[width:])
        refs.append(ref)
    return refs


def refs_for(mail_ids: list[str]) -> list[MessageIdRef]:
    """``refs_statement`` run and read."""
    statement = refs_statement(mail_ids)
    if statement is None:
        return []
    return refs_from(rows.fetch_together([statement])[0])


def sender_of(address: str, name: str, *, user: User | Unread | None = UNREAD) -> Sender:
    """Who wrote: ``user``, when the caller has run ``merchant_user_statement`` for the
    (stripped, lower-case) address already, is what it found."""
    address = address.strip().lower()
    if isinstance(user, Unread):
        user = (
            merchant_user_from(rows.fetch_together([merchant_user_statement(address)])[0])
            if address
            else None
        )
    if user is not None:
        return Sender(address, name, user, user.merchant)
    merchant = (
        Merchant.objects.filter(external_id=potential_merchant_id(address)).first()
        if address
        else None
    )
    return Sender(address, name, None, merchant)


def conversation_for(
    mail: ParsedMail,
    merchant: Merchant,
    recipients: Iterable[str],
    *,
    known: Iterable[MessageIdRef] | None = None,
) -> Conversation | None:
    """The merchant's conversation this mail continues, or None. ``known``: the refs already
    read for the mail's ids (of any merchant; only this merchant's count), saving a query."""
    ids = mail.thread_ids
    if ids:
        if known is None:
            known = MessageIdRef.objects.filter(mail_id__in=ids, merchant=merchant).select_related(
                "conversation"
            )
        refs = {ref.mail_id: ref.conversation for ref in known if ref.merchant_id == merchant.pk}
        for mid in ids:
            if mid in refs:
                return refs[mid]
    tokens = tokens_in(mail, recipients)
    if tokens:
        thread = (
            EmailThread.objects.filter(token__in=tokens, conversation__merchant=merchant)
            .select_related("conversation")
            .first()
        )
        if thread is not None:
            return thread.conversation
    return None


def reported_conversation(mail: ParsedMail) -> Conversation | None:
    """For a delivery report from the mail system (not from a merchant): the conversation of
    the reply of ours it returns, found by our own outbound Message-IDs only."""
    if not mail.thread_ids:
        return None
    ref = (
        MessageIdRef.objects.filter(mail_id__in=mail.thread_ids, outbound=True)
        .select_related("conversation")
        .first()
    )
    return ref.conversation if ref is not None else None
