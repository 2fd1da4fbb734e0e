"""An agent's public reply on an e-mail conversation, queued in the outbox.

Called by ``workflow.reply_post`` inside the reply's transaction, so the reply and its e-mail
are stored together or not at all. The mail threads in the merchant's client: its Message-ID
is the outbox's (derived from the key ``reply:<message id>``), In-Reply-To names the
merchant's latest mail and References the conversation's ids in order; the reply token rides
in the subject and in Reply-To, so an answer finds its way back even from a client that drops
the headers.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.utils import translation
from django.utils.html import linebreaks
from django.utils.translation import gettext

from sellerdesk.accounts.selectors import merchant_addresses
from sellerdesk.connectors.email import threads
from sellerdesk.connectors.email.models import MessageIdRef
from sellerdesk.connectors.email.services import thread_for
from sellerdesk.conversations.models import Message
from sellerdesk.core.i18n import merchant_language
from sellerdesk.outbox.models import OutboxKind
from sellerdesk.outbox.services import message_id_for, outbox_add

logger = logging.getLogger(__name__)

#: References keeps the first id and the latest ones (RFC 5322 §3.6.4 lets it be trimmed).
REFERENCES_MAX = 20
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|ynt|ha|回复|回覆|답장)\s*[:\uff1a]", re.IGNORECASE)


def reply_key(message: Message) -> str:
    return f"reply:{message.pk}"


def reply_subject(subject: str, token: str) -> str:
    """The reply's subject; a conversation without one gets a line in the active language."""
    text = threads.strip_token(subject) or gettext("Your conversation with support")
    if not _REPLY_PREFIX.match(text):
        text = f"Re: {text}"
    return f"{text} {threads.subject_tag(token)}"


def _recipients(message: Message, reply_address: str) -> list[str]:
    if reply_address:
        return [reply_address]
    # A conversation that did not start by mail (or was imported): the merchant's users.
    return merchant_addresses(merchant_id=message.conversation.merchant_id)


def reply_queued(*, message: Message) -> bool:
    """Queue the e-mail of an agent's public reply. Call inside the reply's transaction.

    Returns False when the merchant has no address to write to (nothing is queued)."""
    conversation = message.conversation
    thread = thread_for(conversation)
    to = _recipients(message, thread.reply_address)
    if not to:
        logger.info("reply %s: the merchant has no e-mail address", message.pk)
        return False
    refs = list(
        MessageIdRef.objects.filter(conversation=conversation)
        .order_by("id")
        .values_list("mail_id", "outbound")
    )
    usable = [(mid, outbound) for mid, outbound in refs if not mid.startswith("sha256:")]
    chain = [f"<{mid}>" for mid, _ in usable]
    if len(chain) > REFERENCES_MAX:
        chain = chain[:1] + chain[-(REFERENCES_MAX - 1) :]
    inbound = [mid for mid, outbound in usable if not outbound]
    headers: dict[str, str] = {}
    if usable:
        headers["In-Reply-To"] = f"<{inbound[-1] if inbound else usable[-1][0]}>"
        headers["References"] = " ".join(chain)
    key = reply_key(message)
    own_id = message_id_for(key, settings.SELLERDESK_MAIL_DOMAIN)
    MessageIdRef.objects.bulk_create(
        [
            MessageIdRef(
                mail_id=own_id.strip("<>"),
                merchant_id=conversation.merchant_id,
                conversation=conversation,
                message=message,
                outbound=True,
            )
        ],
        ignore_conflicts=True,
    )
    body = message.body
    if conversation.subject:
        subject = reply_subject(conversation.subject, thread.token)
    else:
        with translation.override(merchant_language(conversation.merchant)):
            subject = reply_subject(conversation.subject, thread.token)
    # email_enqueue has no HTML part; this is its payload with one (see outbox.delivery).
    return outbox_add(
        kind=OutboxKind.EMAIL,
        key=key,
        payload={
            "to": sorted({a.strip().lower() for a in to if a.strip()}),
            "subject": subject,
            "body": body,
            "html": f'<div dir="auto">{linebreaks(body, autoescape=True)}</div>',
            "headers": headers,
            "reply_to": [threads.reply_address(thread.token)],
        },
    )
