"""The API's changes: API keys, and the orchestration of the domain's own services for one
request (the desk's workflow functions do the work and leave the trail).

A key of one merchant acts as that merchant, as its users do in the portal: it files
conversations and public replies and may mark its conversation solved, nothing else. A key of
no merchant acts for the marketplace: a person is named where the desk would need one (the
author of a reply, the decider of an outcome); otherwise the change is the system's.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sellerdesk.accounts import services as account_services
from sellerdesk.accounts.models import Merchant, Role, User
from sellerdesk.api import selectors
from sellerdesk.api.models import ApiKey, Scope
from sellerdesk.conversations import services as conversation_services
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Conversation, Message, Status
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import normalize_tag, text_problem
from sellerdesk.sla import config

#: Letters and digits only: a key never starts with "-" on a command line.
_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40
PREFIX_LENGTH = 8
#: ``last_used_at`` is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)


class Conflict(ValidationError):
    """The request clashes with what is stored (409)."""


class FieldError(ValidationError):
    """A request field's value is refused (``field`` names it in the body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- API keys --------------------------------------------------------------------------------


def apikey_create(*, name: str, scope: str, merchant: Merchant | None = None) -> tuple[ApiKey, str]:
    """A new key: the row (with only the key's hash) and the key itself, to show once."""
    name = name.strip()
    if not name or len(name) > 100 or text_problem(name):
        raise ValidationError("a key needs a name of at most 100 characters")
    if scope not in Scope.values:
        raise ValidationError(f"unknown scope {scope!r} (read, write or reports)")
    if scope == Scope.REPORTS and merchant is not None:
        raise ValidationError("the report covers every merchant: a reports key has no merchant")
    while True:
        token = "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))
        if not ApiKey.objects.filter(prefix=token[:PREFIX_LENGTH]).exists():
            break
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            scope=scope,
            merchant=merchant,
            prefix=token[:PREFIX_LENGTH],
            key_hash=selectors.key_hash(token),
            created_at=timezone.now(),
        )
        # The prefix names the key in the trail; the key itself is never written anywhere.
        account_services.audit_record(
            action="apikey_created",
            target=f"apikey:{key.prefix}",
            name=name,
            scope=scope,
            merchant=merchant.external_id if merchant is not None else None,
        )
    return key, token


def apikey_revoke(*, prefix: str) -> ApiKey:
    key = ApiKey.objects.filter(prefix=prefix.strip()).first()
    if key is None:
        raise ValidationError(f"no key starts with {prefix!r}")
    if key.revoked_at is None:
        with transaction.atomic():
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            account_services.audit_record(
                action="apikey_revoked", target=f"apikey:{key.prefix}", name=key.name
            )
            # Every web process reads its keys again at its next request (the keys they keep).
            from sellerdesk.api import auth  # auth calls this module: imported when used

            transaction.on_commit(auth.keys_changed)
    return key


def apikey_touch(*, key: ApiKey) -> None:
    """Record that the key was used, at most once a minute (a write per request would cost
    more than the request)."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


# --- Merchants and their users ---------------------------------------------------------------


def merchant_put(
    *, key: ApiKey, merchant_id: str, country: str, name: str, status: str, language: str
) -> tuple[Merchant, bool]:
    """Create or update a merchant by the marketplace's id; True when it was created."""
    if key.merchant_id is not None:
        raise workflow.PermissionDenied("a merchant's key cannot change merchants")
    created = not selectors.merchant_exists(merchant_id=merchant_id)
    merchant = conversation_services.merchant_upsert(
        external_id=merchant_id, country=country, name=name, status=status, language=language
    )
    return merchant, created


def merchant_user_add(*, merchant: Merchant, email: str, full_name: str) -> User:
    """A user of the merchant with no password: the invitation e-mail, queued with the user,
    lets them choose one."""
    if selectors.user_email_taken(email=email):
        raise Conflict(f"a user with the address {email.strip().lower()} exists")
    return account_services.user_create(
        email=email,
        password=None,
        role=Role.MERCHANT,
        full_name=full_name,
        merchant=merchant,
        invite_base_url=settings.SELLERDESK_BASE_URL,
    )


# --- Conversations ---------------------------------------------------------------------------


def _actor(
    key: ApiKey, email: str | None, field: str, *, read_with: Conversation | None = None
) -> User | None:
    """The active staff member ``email`` names (None for no address); ``read_with``: a
    conversation that ``selectors.conversation_lock`` read with the person of that address."""
    if email is None:
        return None
    if key.merchant_id is not None:
        raise FieldError(field, "a merchant's key acts as the merchant: name nobody")
    if read_with is not None and read_with.__dict__.get("staff_email") == email:
        person = read_with.__dict__["staff"]
    else:
        person = selectors.staff_by_email(email=email)
    if person is None:
        raise FieldError(field, "no active staff member has this e-mail address")
    return person


def conversation_create(
    *,
    key: ApiKey,
    merchant_id: str | None,
    kind: str,
    subject: str,
    body: str,
    channel: str,
    order_ref: str = "",
    product_ref: str = "",
    invoice_ref: str = "",
    author_name: str = "",
    tags: Iterable[str] = (),
    actor_email: str | None = None,
) -> Conversation:
    """File a conversation for a merchant, with the merchant as its author."""
    tags = list(tags)
    if key.merchant_id is not None:
        assert key.merchant is not None
        if merchant_id is not None and merchant_id != key.merchant.external_id:
            raise workflow.PermissionDenied("a merchant's key files for its own merchant only")
        if tags:
            raise workflow.PermissionDenied("a merchant's key cannot set tags")
        merchant = key.merchant
    else:
        if merchant_id is None:
            raise FieldError("merchant_id", "name the merchant the conversation is filed for")
        found = Merchant.objects.filter(external_id=merchant_id).first()
        if found is None:
            raise FieldError("merchant_id", "no merchant has this id (PUT it first)")
        merchant = found
    actor = _actor(key, actor_email, "actor_email")
    with transaction.atomic():
        conversation = workflow.integration_conversation_open(
            merchant=merchant,
            kind=kind,
            subject=subject,
            body=body,
            channel=channel,
            order_ref=order_ref,
            product_ref=product_ref,
            invoice_ref=invoice_ref,
            author_name=author_name,
        )
        for name in tags:
            workflow.conversation_add_tag(conversation=conversation, name=name, actor=actor)
    return conversation


#: Fields a PATCH may carry, in the order they are applied (the status last: "pending" starts
#: the merchant's clock by the kind just set).
PATCH_FIELDS = ("kind", "priority", "outcome", "assignee_email", "tags", "status")


def conversation_change(
    *, key: ApiKey, conversation: Conversation, changes: dict[str, Any]
) -> None:
    """Apply the fields sent, each through the desk's workflow, all or nothing."""
    changes = dict(changes)
    actor_email = changes.pop("actor_email", None)
    unknown = set(changes) - set(PATCH_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "not a field that changes")
    if key.merchant_id is not None:
        assert key.merchant is not None
        _actor(key, actor_email, "actor_email")
        if set(changes) - {"status"} or changes.get("status", Status.SOLVED) != Status.SOLVED:
            raise workflow.PermissionDenied(
                "a merchant's key may only mark its conversation solved"
            )
        if "status" in changes and conversation.status != Status.SOLVED:
            workflow.integration_conversation_solve(
                conversation=conversation, merchant=key.merchant
            )
        return
    actor = _actor(key, actor_email, "actor_email")
    if "outcome" in changes and actor is None:
        raise FieldError("actor_email", "a complaint's outcome is decided by a person: name them")
    assignee: User | None = None
    if changes.get("assignee_email") is not None:
        assignee = selectors.staff_by_email(email=changes["assignee_email"])
        if assignee is None:
            raise FieldError("assignee_email", "no active staff member has this e-mail address")
    with transaction.atomic():
        for field in PATCH_FIELDS:
            if field not in changes:
                continue
            value = changes[field]
            if field == "kind":
                workflow.conversation_change_kind(
                    conversation=conversation, kind=value, actor=actor
                )
            elif field == "priority":
                workflow.conversation_change_priority(
                    conversation=conversation, priority=value, actor=actor
                )
            elif field == "outcome":
                workflow.conversation_change_outcome(
                    conversation=conversation, outcome=value, actor=actor
                )
            elif field == "assignee_email":
                workflow.conversation_assign(
                    conversation=conversation, assignee=assignee, actor=actor
                )
            elif field == "tags":
                _tags_set(conversation, value, actor)
            elif field == "status":
                workflow.conversation_change_status(
                    conversation=conversation, status=value, actor=actor
                )


def _tags_set(conversation: Conversation, names: list[str], actor: User | None) -> None:
    """Make the tags exactly these, one add or remove at a time (each leaves its trail)."""
    wanted: dict[str, str] = {}
    for raw in names:
        normalized = normalize_tag(raw)
        if not normalized:
            raise FieldError("tags", "a tag needs a name")
        wanted.setdefault(normalized, raw)
    current = set(conversation.tags.values_list("name", flat=True))
    for name in sorted(current - set(wanted)):
        workflow.conversation_remove_tag(conversation=conversation, name=name, actor=actor)
    for name, raw in wanted.items():
        if name not in current:
            workflow.conversation_add_tag(conversation=conversation, name=raw, actor=actor)


def message_post(
    *,
    key: ApiKey,
    conversation: Conversation,
    body: str,
    public: bool = True,
    author_email: str | None = None,
    author_name: str = "",
    status: str | None = None,
    locked: bool = False,
) -> Message:
    """A reply or an internal note. A merchant's key writes the merchant's public reply; a
    key of no merchant writes as the staff member named by ``author_email``. ``locked``: the
    conversation was read with ``selectors.conversation_lock`` in the caller's transaction
    (which read the configuration's generation with it: not read again)."""
    with config.reuse(generation_rows=conversation.__dict__.get("config_generation_rows")):
        if key.merchant_id is not None:
            assert key.merchant is not None
            if not public:
                raise workflow.PermissionDenied("a merchant's key writes public replies only")
            if status is not None:
                raise workflow.PermissionDenied("a merchant's key cannot set the status")
            _actor(key, author_email, "author_email")
            return workflow.integration_reply_post(
                conversation=conversation,
                merchant=key.merchant,
                body=body,
                author_name=author_name,
                locked=locked,
            )
        if author_email is None:
            raise FieldError("author_email", "name the staff member who writes")
        if author_name:
            raise FieldError("author_name", "the staff member's own name is used")
        author = _actor(key, author_email, "author_email", read_with=conversation)
        assert author is not None
        return workflow.reply_post(
            conversation=conversation,
            author=author,
            body=body,
            public=public,
            then_status=status,
            locked=locked,
        )
