"""The desk's and the portal's changes to a conversation, made by people (or rules).

Each one calls the fact-keeping services in ``services.py`` and writes a row of the
conversation's audit trail (``Activity``) in the same transaction, so a bulk action, which loops
over these same functions, leaves exactly the trail of single changes. Callers have already
checked that the person may see the conversation (``selectors``); these functions check what
the person's role may do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext, ngettext

from sellerdesk.accounts.models import Merchant, Team, User
from sellerdesk.api import webhooks
from sellerdesk.conversations import events, services
from sellerdesk.conversations.models import (
    RESOLVED_STATUSES,
    Activity,
    ActivityVerb,
    Attachment,
    AuthorType,
    Channel,
    Conversation,
    ConversationViewer,
    InitiatedBy,
    Macro,
    Message,
    Priority,
    Status,
)
from sellerdesk.core import rows
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import normalize_tag, text_problem
from sellerdesk.sla import config


class PermissionDenied(ValidationError):
    """The person's role may not make this change."""


#: The automation rule on whose behalf changes are being made (see ``acting_for_rule``).
_RULE: ContextVar[str | None] = ContextVar("sellerdesk_acting_rule", default=None)


@contextmanager
def acting_for_rule(name: str) -> Iterator[None]:
    """Every change made inside is automatic and names the rule in the trail."""
    token = _RULE.set(name)
    try:
        yield
    finally:
        _RULE.reset(token)


def _trail(
    conversation: Conversation,
    actor: User | None,
    verb: str,
    *,
    automatic: bool = False,
    at: datetime | None = None,
    touch: bool = True,
    **detail: Any,
) -> Activity:
    """Write the trail's row (at ``at``, else now) and record it as the conversation's last
    change. ``touch=False`` when the caller has stored ``updated_at = at`` already (in the
    conversation's own INSERT): one UPDATE fewer."""
    rule = _RULE.get()
    if rule is not None:
        automatic = True
        detail.setdefault("rule", rule)
    row = rows.insert(  # built once (core.rows): nearly every change writes one
        Activity(
            conversation=conversation,
            actor=actor,
            verb=verb,
            automatic=automatic,
            detail=detail,
            at=at or timezone.now(),
        )
    )
    if touch:
        _touch(conversation, row.at)
    return row


def _sla(conversation: Conversation) -> None:
    """Recompute the service-level due times after a change that can move them."""
    from sellerdesk.sla.services import sla_refresh

    sla_refresh(conversation=conversation)


def _touch(conversation: Conversation, moment: datetime) -> None:
    """Record the last change (automations' "time since update")."""
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=moment)
    conversation.updated_at = moment


def _require_staff(actor: User | None) -> None:
    if actor is not None and not actor.is_agent:
        raise PermissionDenied("only support staff may do this")


def _label(actor: User | None) -> str:
    return actor.email if actor is not None else ""


def merchant_reply_days(kind: str | None = None) -> int:
    """The 7-day rule's days, for this kind of conversation where a setting differs."""
    days: int = settings.SELLERDESK_MERCHANT_REPLY_DAYS_BY_KIND.get(
        kind or "", settings.SELLERDESK_MERCHANT_REPLY_DAYS
    )
    return days


def merchant_deadline(start: datetime | None = None, kind: str | None = None) -> datetime:
    """When a merchant asked now (or at ``start``) is expected to answer: the 7-day rule."""
    return (start or timezone.now()) + timedelta(days=merchant_reply_days(kind))


def merchant_reminder(asked: datetime, kind: str | None = None) -> datetime | None:
    """When the merchant is reminded (the rule's "day 5"), or None without a reminder."""
    day = settings.SELLERDESK_MERCHANT_REMINDER_DAY
    if day <= 0 or day >= merchant_reply_days(kind):
        return None
    return asked + timedelta(days=day)


# --- Opening --------------------------------------------------------------------------------


def merchant_conversation_open(
    *,
    user: User,
    kind: str,
    subject: str,
    body: str,
    order_ref: str = "",
    product_ref: str = "",
    invoice_ref: str = "",
    files: Sequence[UploadedFile] = (),
    channel: str = Channel.WEB,
) -> Conversation:
    """A merchant user opens a conversation from the portal."""
    if not user.is_merchant_user or user.merchant is None:
        raise PermissionDenied("only a merchant's user opens a conversation for the merchant")
    body = body.strip()
    if not body:
        raise ValidationError(gettext("write a message"))
    _check_merchant_text(subject, body)
    _check_files(files)
    refs = _clean_refs(order_ref=order_ref, product_ref=product_ref, invoice_ref=invoice_ref)
    # The trail's time is the conversation's last change, stored in its INSERT; the first
    # message is written with its author there too (nothing is read back).
    now = timezone.now()
    with transaction.atomic(), config.reuse():
        conversation, message = services.conversation_start(
            merchant=user.merchant,
            channel=channel,
            subject=subject.strip(),
            kind=kind,
            body=body,
            author_type=AuthorType.MERCHANT,
            author_id=user.email,
            author_name=user.get_full_name(),
            author_user=user,
            references=refs,
            created_at=now,
            updated_at=now,
            savepoint=False,
        )
        assert message is not None
        _store_files(conversation, message, files)
        _trail(conversation, user, ActivityVerb.OPENED, channel=channel, at=now, touch=False)
        _sla(conversation)
        webhooks.emit("conversation.created", conversation)
    return conversation


def outreach_open(
    *,
    agent: User,
    merchant: Merchant,
    kind: str,
    subject: str,
    body: str,
    team: Team | None = None,
) -> Conversation:
    """Support writes first. The merchant is asked to answer within the 7-day rule's days."""
    _require_staff(agent)
    body = body.strip()
    if not body:
        raise ValidationError(gettext("write a message"))
    with transaction.atomic():
        conversation = services.conversation_open(
            merchant=merchant,
            channel=Channel.WEB,
            subject=subject.strip(),
            kind=kind,
            initiated_by=InitiatedBy.SUPPORT,
            body=body,
            author_type=AuthorType.AGENT,
            author_id=agent.email,
            author_name=agent.get_full_name(),
        )
        Message.objects.filter(conversation=conversation).update(author_user=agent)
        _trail(conversation, agent, ActivityVerb.OPENED, outreach=True)
        webhooks.emit("conversation.created", conversation)
        conversation_assign(conversation=conversation, assignee=agent, actor=agent)
        if team is not None:
            conversation_set_team(conversation=conversation, team=team, actor=agent)
        conversation_change_status(conversation=conversation, status=Status.PENDING, actor=agent)
    return conversation


# --- Messages -------------------------------------------------------------------------------


def reply_post(
    *,
    conversation: Conversation,
    author: User,
    body: str,
    public: bool = True,
    files: Sequence[UploadedFile] = (),
    then_status: str | None = None,
    macro: Macro | None = None,
    client_id: str = "",
    locked: bool = False,
) -> Message:
    """A reply (or, from staff, an internal note) by a signed-in person. ``locked``: as
    ``services.message_add``'s (the conversation read and locked in the caller's transaction).

    With ``client_id`` (live chat) a reply the client sends again is stored once: the second
    call returns the stored message and changes nothing.

    A merchant's reply stops the 7-day clock and hands the conversation back to support
    (pending, solved or closed → open: nothing a merchant writes goes unread). Staff may set the status in the same step ("send and set
    pending"); a macro adds its tags and status.
    """
    body = body.strip()
    if not body and not files:
        raise ValidationError(gettext("write a message"))
    _check_files(files)
    if author.is_merchant_user:
        if author.merchant_id != conversation.merchant_id:
            raise PermissionDenied("not this merchant's conversation")
        if not public or then_status is not None or macro is not None:
            raise PermissionDenied("merchants write public replies only")
        _check_merchant_text(body)
        author_type = AuthorType.MERCHANT
    else:
        _require_staff(author)
        author_type = AuthorType.AGENT
    try:
        return _reply_store(
            conversation=conversation,
            author=author,
            author_type=author_type,
            body=body,
            public=public,
            files=files,
            then_status=then_status,
            macro=macro,
            client_id=client_id,
            locked=locked,
        )
    except services.DuplicateMessage as resent:
        return resent.message


def _reply_store(
    *,
    conversation: Conversation,
    author: User,
    author_type: str,
    body: str,
    public: bool,
    files: Sequence[UploadedFile],
    then_status: str | None,
    macro: Macro | None,
    client_id: str,
    locked: bool = False,
) -> Message:
    # No savepoint when called inside a transaction (the API's), here or in message_add:
    # every caller lets a failure roll back the whole of it, and a savepoint is two more
    # round trips. A client id needs one: its resend is refused inside and answered with the
    # stored message, and the caller's transaction goes on.
    # config.reuse(): the SLA refresh and the webhook events read the configuration once.
    with transaction.atomic(savepoint=bool(client_id)), config.reuse():
        message = services.message_add(
            conversation=conversation,
            author_type=author_type,
            body=body or "(attachment)",
            public=public,
            author_id=author.email,
            author_name=author.get_full_name(),
            author_user=author,
            touch=True,
            client_id=client_id,
            savepoint=bool(client_id),
            locked=locked,
        )
        _store_files(conversation, message, files)
        if public:
            webhooks.emit("message.created", conversation, webhooks.message_data(message))
        if public and author_type == AuthorType.AGENT and conversation.channel == Channel.EMAIL:
            # An e-mail conversation's public reply goes to the merchant by mail (the outbox).
            from sellerdesk.connectors.email.outbound import reply_queued

            reply_queued(message=message)
        conversation.updated_at = message.created_at  # stored by message_add (touch)
        if author_type == AuthorType.MERCHANT:
            _merchant_answered(conversation, author)
        else:
            if macro is not None:
                macro_apply_actions(conversation=conversation, macro=macro, actor=author)
                then_status = macro.set_status or then_status
            if then_status and then_status != conversation.status:
                conversation_change_status(
                    conversation=conversation, status=then_status, actor=author
                )
            elif public and conversation.status == Status.NEW:
                conversation_change_status(
                    conversation=conversation, status=Status.OPEN, actor=author
                )
        _sla(conversation)
    return message


def _merchant_answered(
    conversation: Conversation, author: User | None, *, by: str = "merchant"
) -> None:
    # The merchant's answer hands the conversation back to support: a reopening the merchant
    # causes but may not choose directly, hence the internal setter.
    if conversation.status in {Status.PENDING, *RESOLVED_STATUSES}:
        _status_set(conversation, Status.OPEN, author, by=by)
    elif conversation.merchant_due_at is not None:
        _set_deadline(conversation, None, author)


# --- For a merchant through an integration (the REST API), no person signed in -------------
# The marketplace's system acts for the merchant as a whole: the messages are the merchant's
# (no author_user) and the trail names no person, only the channel it came through.


def integration_conversation_open(
    *,
    merchant: Merchant,
    kind: str,
    subject: str,
    body: str,
    channel: str = Channel.API,
    order_ref: str = "",
    product_ref: str = "",
    invoice_ref: str = "",
    author_name: str = "",
) -> Conversation:
    """The merchant opens a conversation through an integration: as from the portal, with the
    merchant itself as the author."""
    body = body.strip()
    if not body:
        raise ValidationError(gettext("write a message"))
    refs = _clean_refs(order_ref=order_ref, product_ref=product_ref, invoice_ref=invoice_ref)
    now = timezone.now()  # the trail's time and the last change (as the portal's opening)
    with transaction.atomic(), config.reuse():
        conversation = services.conversation_open(
            merchant=merchant,
            channel=channel,
            subject=subject.strip(),
            kind=kind,
            body=body,
            author_type=AuthorType.MERCHANT,
            author_id=merchant.external_id,
            author_name=author_name.strip() or merchant.name,
            references=refs,
            created_at=now,
            updated_at=now,
            savepoint=False,
        )
        _trail(conversation, None, ActivityVerb.OPENED, channel=channel, at=now, touch=False)
        _sla(conversation)
        webhooks.emit("conversation.created", conversation)
    return conversation


def integration_reply_post(
    *,
    conversation: Conversation,
    merchant: Merchant,
    body: str,
    author_name: str = "",
    locked: bool = False,
) -> Message:
    """The merchant answers through an integration: as a merchant user's reply, it stops the
    7-day clock and hands the conversation back to support. ``locked``: as ``reply_post``'s."""
    if merchant.pk != conversation.merchant_id:
        raise PermissionDenied("not this merchant's conversation")
    body = body.strip()
    if not body:
        raise ValidationError(gettext("write a message"))
    with transaction.atomic(savepoint=False), config.reuse():  # as reply_post
        message = services.message_add(
            conversation=conversation,
            author_type=AuthorType.MERCHANT,
            body=body,
            author_id=merchant.external_id,
            author_name=author_name.strip() or merchant.name,
            touch=True,
            locked=locked,
        )
        webhooks.emit("message.created", conversation, webhooks.message_data(message))
        conversation.updated_at = message.created_at  # stored by message_add (touch)
        _merchant_answered(conversation, None, by=f"merchant:{merchant.external_id}"[:200])
        _sla(conversation)
    return message


def integration_conversation_solve(*, conversation: Conversation, merchant: Merchant) -> None:
    """The merchant marks its conversation solved through an integration, as in the portal."""
    if merchant.pk != conversation.merchant_id:
        raise PermissionDenied("not this merchant's conversation")
    if conversation.status == Status.CLOSED:
        raise ValidationError(gettext("this conversation is closed; write to reopen it"))
    _status_set(conversation, Status.SOLVED, None, by=f"merchant:{merchant.external_id}"[:200])


def _set_deadline(
    conversation: Conversation,
    due: datetime | None,
    actor: User | None,
    *,
    remind: datetime | None = None,
    automatic: bool = False,
) -> None:
    """Start (or, with ``due=None``, stop) the merchant's clock and its reminder."""
    if conversation.merchant_due_at == due and conversation.merchant_remind_at == remind:
        return
    Conversation.objects.filter(pk=conversation.pk).update(
        merchant_due_at=due, merchant_remind_at=remind
    )
    conversation.merchant_remind_at = remind
    if conversation.merchant_due_at == due:
        return
    _trail(
        conversation,
        actor,
        ActivityVerb.DEADLINE,
        automatic=automatic,
        before=_iso(conversation.merchant_due_at),
        after=_iso(due),
    )
    conversation.merchant_due_at = due


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- Status and the work fields ---------------------------------------------------------------


def conversation_change_status(
    *,
    conversation: Conversation,
    status: str,
    actor: User | None,
    automatic: bool = False,
    rule: str = "",
) -> None:
    """Change the status. Pending starts the merchant's 7-day clock; leaving it stops it."""
    if actor is not None and actor.is_merchant_user:
        if actor.merchant_id != conversation.merchant_id:
            raise PermissionDenied("not this merchant's conversation")
        if status != Status.SOLVED:
            raise PermissionDenied("merchants may only mark their conversation solved")
        if conversation.status == Status.CLOSED:
            raise ValidationError(gettext("this conversation is closed; write to reopen it"))
    _status_set(conversation, status, actor, automatic=automatic, rule=rule)


def _status_set(
    conversation: Conversation,
    status: str,
    actor: User | None,
    *,
    automatic: bool = False,
    rule: str = "",
    by: str = "",
) -> None:
    """The change itself, for callers that have decided it may happen. ``by`` names who
    caused it in the event log when no signed-in person did (a merchant through an
    integration, say); a person's change is signed with their address."""
    before = conversation.status
    if status == before:
        return
    with transaction.atomic():
        # Who, in the event log: the person; a rule or timer as "rule:<name>"; else empty.
        acting_rule = rule or _RULE.get()
        by = _label(actor) or by or (f"rule:{acting_rule}"[:200] if acting_rule else "")
        services.conversation_set_status(conversation=conversation, status=status, by=by)
        named: dict[str, Any] = {"rule": rule} if rule else {}
        _trail(
            conversation,
            actor,
            ActivityVerb.STATUS,
            automatic=automatic,
            before=before,
            after=status,
            **named,
        )
        webhooks.emit(
            "conversation.status_changed", conversation, {"status": {"from": before, "to": status}}
        )
        if status == Status.PENDING:
            asked = timezone.now()
            _set_deadline(
                conversation,
                merchant_deadline(asked, conversation.kind),
                actor,
                remind=merchant_reminder(asked, conversation.kind),
                automatic=automatic,
            )
        elif conversation.merchant_due_at is not None:
            _set_deadline(conversation, None, actor, automatic=automatic)
        _sla(conversation)


def conversation_assign(
    *, conversation: Conversation, assignee: User | None, actor: User | None
) -> None:
    _require_staff(actor)
    if assignee is not None and not assignee.is_agent:
        raise ValidationError("conversations are assigned to support staff")
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)
        _trail(
            conversation,
            actor,
            ActivityVerb.ASSIGNED,
            before=conversation.assignee.email if conversation.assignee else None,
            after=assignee.email if assignee else None,
        )
        conversation.assignee = assignee
        events.publish_conversation(conversation=conversation, change="assignee", audience="staff")


def conversation_set_team(
    *, conversation: Conversation, team: Team | None, actor: User | None
) -> None:
    _require_staff(actor)
    if conversation.team_id == (team.pk if team else None):
        return
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(team=team)
        _trail(
            conversation,
            actor,
            ActivityVerb.TEAM,
            before=conversation.team.name if conversation.team else None,
            after=team.name if team else None,
        )
        conversation.team = team
        events.publish_conversation(conversation=conversation, change="team", audience="staff")
        _sla(conversation)  # the team's business hours may differ


def conversation_change_kind(*, conversation: Conversation, kind: str, actor: User | None) -> None:
    _require_staff(actor)
    before = conversation.kind
    if kind == before:
        return
    with transaction.atomic():
        services.conversation_set_kind(conversation=conversation, kind=kind)
        _trail(conversation, actor, ActivityVerb.KIND, before=before, after=kind)
        _sla(conversation)


def conversation_change_outcome(
    *, conversation: Conversation, outcome: str | None, actor: User | None
) -> None:
    """The human decision on a complaint. Never made automatically."""
    _require_staff(actor)
    if actor is None:
        raise PermissionDenied("a complaint's outcome is decided by a person")
    before = conversation.outcome
    if outcome == before:
        return
    with transaction.atomic():
        services.conversation_set_outcome(conversation=conversation, outcome=outcome)
        _trail(conversation, actor, ActivityVerb.OUTCOME, before=before, after=outcome)


def conversation_change_priority(
    *, conversation: Conversation, priority: str, actor: User | None, automatic: bool = False
) -> None:
    _require_staff(actor)
    if priority not in Priority.values:
        raise ValidationError(f"unknown priority {priority!r}")
    before = conversation.priority
    if priority == before:
        return
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(priority=priority)
        _trail(
            conversation,
            actor,
            ActivityVerb.PRIORITY,
            automatic=automatic,
            before=before,
            after=priority,
        )
        conversation.priority = priority
        _sla(conversation)


def _clean_refs(**refs: str) -> dict[str, str]:
    limit = Conversation._meta.get_field("order_ref").max_length or 100
    clean = {name: (value or "").strip() for name, value in refs.items()}
    for name, value in clean.items():
        if len(value) > limit:
            raise ValidationError(f"{name.replace('_', ' ')} is longer than {limit} characters")
        if "\x00" in value:
            raise ValidationError(f"{name.replace('_', ' ')} contains a NUL character")
    return clean


def conversation_set_references(
    *,
    conversation: Conversation,
    actor: User | None,
    order_ref: str,
    product_ref: str,
    invoice_ref: str,
) -> None:
    _require_staff(actor)
    refs = _clean_refs(order_ref=order_ref, product_ref=product_ref, invoice_ref=invoice_ref)
    before = {name: getattr(conversation, name) for name in refs}
    if before == refs:
        return
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(**refs)
        _trail(conversation, actor, ActivityVerb.REFERENCES, before=before, after=refs)
        for name, value in refs.items():
            setattr(conversation, name, value)


def conversation_add_tag(
    *, conversation: Conversation, name: str, actor: User | None, automatic: bool = False
) -> None:
    _require_staff(actor)
    normalized = normalize_tag(name)
    if not normalized:
        raise ValidationError("a tag needs a name")
    current = set(conversation.tags.values_list("name", flat=True))
    if normalized in current:
        return
    with transaction.atomic():
        services.conversation_tag_add(conversation=conversation, name=name)
        shown = conversation.tags.filter(name=normalized).values_list("display_name", flat=True)
        _trail(
            conversation,
            actor,
            ActivityVerb.TAG_ADDED,
            automatic=automatic,
            tag=normalized,
            display=shown.first() or name,
        )
        webhooks.emit(
            "conversation.tagged", conversation, {"tags": [normalized], "action": "added"}
        )


def conversation_remove_tag(
    *, conversation: Conversation, name: str, actor: User | None, automatic: bool = False
) -> None:
    _require_staff(actor)
    normalized = normalize_tag(name)
    current = dict(conversation.tags.values_list("name", "display_name"))
    if normalized not in current:
        return
    with transaction.atomic():
        services.conversation_tag_remove(conversation=conversation, name=name)
        _trail(
            conversation,
            actor,
            ActivityVerb.TAG_REMOVED,
            automatic=automatic,
            tag=normalized,
            display=current[normalized],
        )
        webhooks.emit(
            "conversation.tagged", conversation, {"tags": [normalized], "action": "removed"}
        )


def conversation_set_spam(*, conversation: Conversation, spam: bool, actor: User | None) -> None:
    _require_staff(actor)
    if conversation.spam == spam:
        return
    with transaction.atomic():
        services.conversation_mark_spam(conversation=conversation, spam=spam)
        _trail(conversation, actor, ActivityVerb.SPAM, after=spam)


# --- Macros ---------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
#: The placeholders a macro may use; anything else stays as written.
MACRO_PLACEHOLDERS = (
    "merchant_name",
    "merchant_id",
    "agent_name",
    "conversation_subject",
    "conversation_id",
    "deadline",
)


def macro_render(*, macro: Macro, conversation: Conversation, agent: User) -> str:
    """The macro's text with its placeholders filled in for this conversation.

    Plain substitution from a fixed list: a macro is text an admin writes, never a template
    that could run code.
    """
    deadline = conversation.merchant_due_at or merchant_deadline(kind=conversation.kind)
    values = {
        "merchant_name": conversation.merchant.name or conversation.merchant.external_id,
        "merchant_id": conversation.merchant.external_id,
        "agent_name": agent.get_full_name(),
        "conversation_subject": conversation.subject,
        "conversation_id": str(conversation.pk),
        "deadline": f"{deadline:%-d %B %Y}",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), macro.body)


def macro_apply_actions(*, conversation: Conversation, macro: Macro, actor: User) -> None:
    """Add the macro's tags (its status goes with the reply it came with)."""
    with transaction.atomic():
        _trail(conversation, actor, ActivityVerb.MACRO, macro=macro.name)
        for name in macro.tag_names():
            conversation_add_tag(conversation=conversation, name=name, actor=actor)


def macro_save(
    *,
    actor: User,
    name: str,
    body: str,
    add_tags: str = "",
    set_status: str = "",
    team: Team | None = None,
    macro: Macro | None = None,
) -> Macro:
    """Create or change a macro (leads and admins)."""
    from sellerdesk.accounts.models import AuditAction
    from sellerdesk.accounts.services import audit_record

    if not actor.is_lead:
        raise PermissionDenied("only team leads and admins manage macros")
    if not name.strip():
        raise ValidationError("a macro needs a name")
    if set_status and set_status not in Status.values:
        raise ValidationError(f"unknown status {set_status!r}")
    # Checked now, not when an agent uses the macro (every reply with it would fail then).
    for raw in Macro(add_tags=add_tags).tag_names():
        try:
            services.tag_name(raw)
        except ValidationError as error:
            raise ValidationError(f"add tags: {raw[:40]!r}: {error}") from None
    with transaction.atomic():
        row = macro or Macro()
        row.name = name.strip()
        row.body = body
        row.add_tags = add_tags
        row.set_status = set_status
        row.team = team
        if Macro.objects.filter(name=row.name).exclude(pk=row.pk).exists():
            raise ValidationError(f"a macro named {row.name!r} exists")
        row.save()
        audit_record(action=AuditAction.MACRO_CHANGED, actor=actor, target=row.name)
    return row


# --- Presence -------------------------------------------------------------------------------


def viewer_touch(*, conversation: Conversation, user: User) -> None:
    """Record that the person has the conversation open now (the collision warning)."""
    ConversationViewer.objects.update_or_create(
        conversation=conversation, user=user, defaults={"seen_at": timezone.now()}
    )


def viewer_leave(*, conversation: Conversation, user: User) -> None:
    ConversationViewer.objects.filter(conversation=conversation, user=user).delete()


# --- Bulk -----------------------------------------------------------------------------------


def bulk_apply(
    *,
    conversations: Iterable[Conversation],
    actor: User,
    assignee: User | None = None,
    unassign: bool = False,
    status: str | None = None,
    add_tag: str | None = None,
    remove_tag: str | None = None,
) -> int:
    """Apply one change to many conversations through the single-change services, so each
    gets the same audit trail. Each conversation is its own transaction."""
    _require_staff(actor)
    count = 0
    for conversation in conversations:
        with transaction.atomic():
            if assignee is not None or unassign:
                conversation_assign(conversation=conversation, assignee=assignee, actor=actor)
            if status:
                conversation_change_status(conversation=conversation, status=status, actor=actor)
            if add_tag:
                conversation_add_tag(conversation=conversation, name=add_tag, actor=actor)
            if remove_tag:
                conversation_remove_tag(conversation=conversation, name=remove_tag, actor=actor)
        count += 1
    return count


def _check_merchant_text(*texts: str) -> None:
    """A merchant's text that no database stores (a NUL, a lone surrogate: ``text_problem``)
    is refused in the merchant's words, before the services' English for developers."""
    if any(text and text_problem(text) for text in texts):
        raise ValidationError(
            gettext("the message contains a character that cannot be stored; please remove it")
        )


# --- Attachments ----------------------------------------------------------------------------


def _check_files(files: Sequence[UploadedFile]) -> None:
    most = settings.SELLERDESK_ATTACHMENTS_PER_MESSAGE
    if len(files) > most:
        raise ValidationError(
            ngettext(
                "at most %(count)d attachment a message",
                "at most %(count)d attachments a message",
                most,
            )
            % {"count": most}
        )
    limit = settings.SELLERDESK_ATTACHMENT_MAX_BYTES
    for upload in files:
        if (upload.size or 0) > limit:
            raise ValidationError(
                gettext("%(name)s is larger than the limit of %(size)s")
                % {"name": upload.name, "size": filesizeformat(limit)}
            )


#: The most bytes of an attachment's name in storage: a file system's 255 bytes a name (ext4,
#: XFS, tmpfs; bytes, not characters: 85 Chinese ones fill it), less the "_" and 7 letters
#: storage adds when the name is taken. The upload path's folders (attachments/<year>/<month>/
#: <conversation>/) are names of their own and do not count.
STORED_NAME_BYTES = 255 - 8
#: The longest ending kept as an extension when a name is cut: "pdf", "xlsx", "jpeg".
EXTENSION_CHARS = 16


def _split_extension(name: str) -> tuple[str, str]:
    """``name`` as its stem and its extension (with the dot); a long ending is no extension."""
    stem, dot, ending = name.rpartition(".")
    if not dot or not ending or len(ending) > EXTENSION_CHARS:
        return name, ""
    return stem, dot + ending


def _stored_name(original: str) -> str:
    """The name an attachment is stored under: the characters Django keeps in a file name
    (letters, digits, "-", "_", "."), "attachment" where nothing is left before the extension
    ("★★.pdf" is "attachment.pdf"), cut to STORED_NAME_BYTES of UTF-8 at a character's end with
    the extension kept."""
    try:
        safe = get_valid_filename(original)
    except SuspiciousFileOperation:  # no letter or digit at all: "★★"
        safe = ""
    if not safe.strip("."):
        safe = "attachment"
    elif safe.startswith("."):
        safe = "attachment" + safe
    stem, extension = _split_extension(safe)
    room = STORED_NAME_BYTES - len(extension.encode())
    return stem.encode()[:room].decode(errors="ignore") + extension


def _shown_name(original: str) -> str:
    """The name people see and download it as: as the sender gave it, or cut to the column
    with its extension kept when longer."""
    most = Attachment._meta.get_field("filename").max_length or 255
    if len(original) <= most:
        return original
    stem, extension = _split_extension(original)
    return stem[: most - len(extension)] + extension


def _store_files(
    conversation: Conversation, message: Message, files: Sequence[UploadedFile]
) -> None:
    for upload in files:
        original = (upload.name or "").rsplit("/", 1)[-1] or "attachment"
        safe = _stored_name(original)
        row = Attachment(
            conversation=conversation,
            message=message,
            filename=_shown_name(original),
            content_type=(upload.content_type or "application/octet-stream")[:100],
            size=upload.size or 0,
        )
        row.file.save(safe, File(upload), save=False)
        row.save()
