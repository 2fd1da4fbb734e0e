"""The 7-day rule's timers: the reminder on "day 5" and the action at the deadline.

Each fires exactly once: the sweep finds due conversations through partial indexes
(``merchant_remind_at``, ``merchant_due_at``), then handles them in batches of ``BATCH``, each
in its own transaction with the rows locked (``SKIP LOCKED`` on PostgreSQL: another worker's
rows are left to it), re-checks that they are still due, acts, clears the timers and writes
any e-mail to the outbox — all in that transaction. A worker killed half-way leaves the rest
due for the next sweep; what it finished stays finished.

A batch writes what ``remind`` and ``deadline`` (one conversation each) write, set-based
(``conversations.bulk``); ``tests/test_timer_batch.py`` compares the two row for row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sellerdesk.accounts.selectors import leads_for, merchant_addresses, merchant_addresses_many
from sellerdesk.conversations import bulk, services, workflow
from sellerdesk.conversations.models import (
    ActivityVerb,
    AuthorType,
    Conversation,
    Priority,
    Status,
)
from sellerdesk.core.i18n import date_words, merchant_language
from sellerdesk.outbox.services import email_enqueue, emails_enqueue

logger = logging.getLogger(__name__)

RULE = "7-day rule"

#: Conversations per transaction in the sweep.
BATCH = 500


@dataclass
class SweepRun:
    reminded: int = 0
    closed: int = 0
    escalated: int = 0
    breached: int = 0


def _portal_link(conversation: Conversation) -> str:
    return f"{settings.SELLERDESK_BASE_URL}/merchant/c/{conversation.pk}/"


def _day(moment: datetime) -> str:
    return date_words(moment)


def remind(conversation_id: int) -> bool:
    """Send the merchant's reminder if it is still due. Returns whether it went out."""
    with transaction.atomic():
        row = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .filter(pk=conversation_id, merchant_remind_at__lte=timezone.now())
            .first()
        )
        if row is None:
            return False
        Conversation.objects.filter(pk=row.pk).update(merchant_remind_at=None)
        if not _remindable(row):
            return False
        key, subject, body = _reminder(row)
        email_enqueue(
            key=key, to=merchant_addresses(merchant_id=row.merchant_id), subject=subject, body=body
        )
        workflow._trail(row, None, ActivityVerb.DEADLINE, automatic=True, rule=RULE, reminder=True)
    return True


def _remindable(row: Conversation) -> bool:
    return row.status == Status.PENDING and row.merchant_due_at is not None


def _reminder(row: Conversation) -> tuple[str, str, str]:
    """The reminder e-mail's idempotency key, subject and body, in the merchant's language."""
    assert row.merchant_due_at is not None
    with translation.override(merchant_language(row.merchant)):
        subject = row.subject or _("your conversation with support")
        return (
            f"reminder:{row.pk}:{row.merchant_due_at.isoformat()}",
            (
                _("Reminder: support is waiting for your answer — %(subject)s")
                % {"subject": subject}
            )[:200],
            _(
                "Hello,\n\nour support team is waiting for your answer on “%(subject)s”.\n"
                "Please answer by %(day)s:\n%(link)s\n\n"
                "If you do not answer by then, we will close the conversation; you can "
                "always open a new one.\n"
            )
            % {"subject": subject, "day": _day(row.merchant_due_at), "link": _portal_link(row)},
        )


def _closing_note(row: Conversation) -> str:
    """The automatic message that closes a conversation, in the merchant's language."""
    days = workflow.merchant_reply_days(row.kind)
    with translation.override(merchant_language(row.merchant)):
        return ngettext(
            "We closed this conversation because we did not hear back within %(days)d day. "
            "If you still need help, just open a new conversation.",
            "We closed this conversation because we did not hear back within %(days)d days. "
            "If you still need help, just open a new conversation.",
            days,
        ) % {"days": days}


def deadline(conversation_id: int) -> str | None:
    """Run the deadline action if the deadline is still due: 'closed' or 'escalated'."""
    with transaction.atomic():
        row = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("team", "merchant")
            .filter(pk=conversation_id, merchant_due_at__lte=timezone.now())
            .first()
        )
        if row is None:
            return None
        if row.status != Status.PENDING:
            # The merchant answered (or an agent moved it on) without the clock being
            # stopped: nothing to do but stop it now.
            workflow._set_deadline(row, None, None, automatic=True)
            return None
        if settings.SELLERDESK_MERCHANT_DEADLINE_ACTION == "close":
            services.message_add(
                conversation=row,
                author_type=AuthorType.SYSTEM,
                body=_closing_note(row),
                author_name="sellerdesk",
            )
            workflow.conversation_change_status(
                conversation=row, status=Status.CLOSED, actor=None, automatic=True, rule=RULE
            )
            return "closed"
        _escalate(row)
        return "escalated"


def _escalate(row: Conversation) -> None:
    """Hand the conversation to its team's lead (or every lead), urgent, and tell them."""
    leads = leads_for(team_id=row.team_id)
    lead = leads.order_by("pk").first()
    workflow._set_deadline(row, None, None, automatic=True)
    workflow.conversation_change_priority(
        conversation=row, priority=Priority.URGENT, actor=None, automatic=True
    )
    workflow.conversation_change_status(
        conversation=row, status=Status.OPEN, actor=None, automatic=True, rule=RULE
    )
    if lead is not None:
        workflow.conversation_assign(conversation=row, assignee=lead, actor=None)
    email_enqueue(
        key=f"escalation:{row.pk}:{timezone.now().date().isoformat()}",
        to=list(leads.values_list("email", flat=True)),
        subject=f"Escalated: no answer from {row.merchant} — {row.subject}"[:200],
        body=(
            f"The merchant {row.merchant} did not answer within "
            f"{workflow.merchant_reply_days(row.kind)} days.\n"
            f"{settings.SELLERDESK_BASE_URL}/desk/c/{row.pk}/\n"
        ),
    )


def _locked(ids: list[int], due: str, now: datetime) -> list[Conversation]:
    """The batch's rows still due at ``now``, locked; rows another worker holds are skipped
    (PostgreSQL) and stay due for it or the next sweep."""
    return list(
        Conversation.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("merchant")
        .filter(pk__in=ids, **{f"{due}__lte": now})
        .order_by("pk")
    )


def remind_batch(ids: list[int]) -> int:
    """``remind`` for each of ``ids`` in one transaction. Returns how many went out."""
    with transaction.atomic():
        now = timezone.now()
        rows = _locked(ids, "merchant_remind_at", now)
        going = [row for row in rows if _remindable(row)]
        addresses = merchant_addresses_many(merchant_ids={row.merchant_id for row in going})
        emails = []
        for row in going:
            key, subject, body = _reminder(row)
            emails.append((key, addresses[row.merchant_id], subject, body))
        emails_enqueue(emails)
        bulk.reminders_clear(rows, rule=RULE, now=now, sent=_remindable)
    return len(going)


def deadline_batch(ids: list[int]) -> tuple[int, int]:
    """``deadline`` for each of ``ids`` in one transaction: (closed, escalated)."""
    with transaction.atomic():
        now = timezone.now()
        rows = _locked(ids, "merchant_due_at", now)
        due = []
        for row in rows:
            if row.status == Status.PENDING:
                due.append(row)
            else:
                workflow._set_deadline(row, None, None, automatic=True)
        if settings.SELLERDESK_MERCHANT_DEADLINE_ACTION == "close":
            bulk.close_with_note(due, note=_closing_note, rule=RULE, now=now)
            return len(due), 0
        for row in due:
            _escalate(row)
        return 0, len(due)


def sweep(*, limit: int = 10_000) -> SweepRun:
    """Find what is due (two indexed range scans) and handle it once, a batch at a time."""
    now = timezone.now()
    run = SweepRun()
    remind_ids = list(
        Conversation.objects.filter(merchant_remind_at__lte=now)
        .order_by("merchant_remind_at")
        .values_list("pk", flat=True)[:limit]
    )
    for start in range(0, len(remind_ids), BATCH):
        run.reminded += remind_batch(remind_ids[start : start + BATCH])
    due_ids = list(
        Conversation.objects.filter(merchant_due_at__lte=now)
        .order_by("merchant_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    for start in range(0, len(due_ids), BATCH):
        closed, escalated = deadline_batch(due_ids[start : start + BATCH])
        run.closed += closed
        run.escalated += escalated
    from sellerdesk.sla.services import breach_sweep

    run.breached = breach_sweep(limit=limit, now=now)
    return run
