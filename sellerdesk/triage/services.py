"""Triage's changes: suggesting for a conversation (the worker), an agent's accept or reject,
a lead's auto-apply threshold. Applying a suggestion goes through the desk's own workflow
services, so the audit trail is the one a person's change leaves; automatic ones are signed
``rule: triage`` and marked automatic. A suggestion never touches a complaint's outcome: that
is a person's decision (``workflow.conversation_change_outcome``)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sellerdesk.accounts.models import Team, User
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Conversation, Kind, Tag
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import normalize_tag
from sellerdesk.triage import engine
from sellerdesk.triage.embedding import get_embedder
from sellerdesk.triage.models import Field, Run, State, Suggestion, TagSetting

logger = logging.getLogger(__name__)

#: The name automatic changes carry in the trail (``Activity.detail["rule"]``).
RULE_NAME = "triage"
#: The highest confidence a suggestion carries.
MAX_CONFIDENCE = 0.9999


def conversation_triage(*, conversation_id: int) -> list[Suggestion]:
    """Suggest tags, kind and team for one conversation with the active model, once.

    Embeds outside the transaction (tens of milliseconds), then records the run, the
    suggestions above their thresholds and the automatic tags in one transaction. Raises
    ``embedding.ModelMissing`` when the model's package is not installed.
    """
    model = engine.active_model()
    if model is None or Run.objects.filter(conversation_id=conversation_id).exists():
        return []
    row = Conversation.objects.select_related("merchant", "team").get(pk=conversation_id)
    (item,) = engine.rows_for([row])
    heads = engine.loaded(model)
    X = engine.embed_rows([item]) if item.text else None
    guesses = engine.predict(heads, X, [item.text])[0] if X is not None else []
    present = set(row.tags.values_list("name", flat=True))
    wanted = [
        g
        for g in guesses
        if not (g.field == Field.TAG and g.value in present)
        and not (g.field == Field.KIND and g.value == row.kind)
        and not (g.field == Field.TEAM and g.value == str(row.team_id or ""))
    ]
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=row.pk).first()
        if locked is None or Run.objects.filter(conversation_id=row.pk).exists():
            return []
        Run.objects.create(conversation_id=row.pk, model=model, suggested=len(wanted))
        made = [
            Suggestion.objects.create(
                conversation_id=row.pk,
                model=model,
                field=g.field,
                value=g.value,
                # A model is never certain: 100 % stays out of reach (a lead's 100 % threshold
                # means "never automatically"), however saturated the float.
                confidence=min(round(max(g.confidence, 0.0), 4), MAX_CONFIDENCE),
            )
            for g in wanted
        ]
        _auto_apply(row, made)
    return made


def _auto_apply(conversation: Conversation, made: list[Suggestion]) -> None:
    """Tags whose lead-set threshold the confidence reaches are applied now, signed as
    automatic. Only tags: kind and team always wait for a person."""
    tags = [s for s in made if s.field == Field.TAG]
    if not tags:
        return
    limits = dict(
        TagSetting.objects.filter(
            tag__name__in=[s.value for s in tags], auto_apply_at__isnull=False
        ).values_list("tag__name", "auto_apply_at")
    )
    for suggestion in tags:
        limit = limits.get(suggestion.value)
        if limit is None or suggestion.confidence < limit:
            continue
        with workflow.acting_for_rule(RULE_NAME):
            workflow.conversation_add_tag(
                conversation=conversation, name=suggestion.value, actor=None, automatic=True
            )
        suggestion.state = State.AUTO
        suggestion.decided_at = timezone.now()
        suggestion.save(update_fields=["state", "decided_at"])


def _decide(suggestion: Suggestion, actor: User, state: str) -> None:
    suggestion.state = state
    suggestion.decided_by = actor
    suggestion.decided_at = timezone.now()
    suggestion.save(update_fields=["state", "decided_by", "decided_at"])


def _check_decidable(suggestion: Suggestion, conversation: Conversation, actor: User) -> None:
    """An agent may accept or reject a suggestion of this conversation still undecided."""
    if not actor.is_agent:
        raise workflow.PermissionDenied("only support staff may do this")
    if suggestion.conversation_id != conversation.pk:
        raise ValidationError("that suggestion belongs to another conversation")
    if suggestion.state not in {State.PENDING, State.AUTO}:
        raise ValidationError("that suggestion has already been decided")


def suggestion_accept(*, suggestion: Suggestion, conversation: Conversation, actor: User) -> None:
    """An agent takes the suggestion: applied as their own change (in the trail under their
    name). Accepting "complaint" sets the kind only; the outcome stays theirs to decide."""
    _check_decidable(suggestion, conversation, actor)
    with transaction.atomic():
        if suggestion.field == Field.TAG:
            workflow.conversation_add_tag(
                conversation=conversation, name=suggestion.value, actor=actor
            )
        elif suggestion.field == Field.KIND:
            if suggestion.value not in Kind.values:
                raise ValidationError(f"unknown kind {suggestion.value!r}")
            workflow.conversation_change_kind(
                conversation=conversation, kind=suggestion.value, actor=actor
            )
        else:
            team = Team.objects.filter(pk=int(suggestion.value)).first()
            if team is None:
                raise ValidationError("that team no longer exists")
            workflow.conversation_set_team(conversation=conversation, team=team, actor=actor)
        _decide(suggestion, actor, State.ACCEPTED)


def suggestion_reject(*, suggestion: Suggestion, conversation: Conversation, actor: User) -> None:
    """An agent says no: recorded (it teaches the next training run), and a tag that was
    applied automatically is taken off again, in the trail under the agent's name."""
    _check_decidable(suggestion, conversation, actor)
    with transaction.atomic():
        if suggestion.state == State.AUTO and suggestion.field == Field.TAG:
            workflow.conversation_remove_tag(
                conversation=conversation, name=suggestion.value, actor=actor
            )
        _decide(suggestion, actor, State.REJECTED)


def tag_setting_set(*, actor: User, tag_name: str, auto_apply_at: float | None) -> TagSetting:
    """A lead sets (or clears, with None) a tag's auto-apply confidence."""
    if not actor.is_lead:
        raise workflow.PermissionDenied("only team leads and admins set auto-apply thresholds")
    if auto_apply_at is not None and not 0.5 <= auto_apply_at <= 1.0:
        raise ValidationError("an auto-apply threshold is between 0.50 and 1.00")
    tag = Tag.objects.filter(name=normalize_tag(tag_name)).first()
    if tag is None:
        raise ValidationError(f"no tag named {tag_name!r}")
    setting, _ = TagSetting.objects.update_or_create(
        tag=tag,
        defaults={
            "auto_apply_at": auto_apply_at,
            "updated_at": timezone.now(),
            "updated_by": actor,
        },
    )
    return setting


def triage_pending(*, limit: int = 50) -> int:
    """The worker's pass: suggest for recent conversations not triaged yet; returns how many
    were triaged. Without a model, nothing to do."""
    from sellerdesk.triage import selectors

    if engine.active_model() is None:
        return 0
    get_embedder()  # fail early, once, with the install hint
    done = 0
    for pk in selectors.pending_ids(limit=limit):
        conversation_triage(conversation_id=pk)
        done += 1
    return done
