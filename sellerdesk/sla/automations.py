"""Automation rules: conditions on a conversation, actions the worker's sweep runs for it.

A rule is checked by the sweep (``run_rules``), never by another rule: each rule's conditions
are one SQL query (``rule_candidates``); each match is then handled in its own transaction with
the conversation row locked, the conditions checked again on the locked row, the ``RuleRun``
row written first and the actions run inside ``workflow.acting_for_rule``, so every change
lands in the conversation's trail as automatic and names the rule.

**Situations: when a rule may fire again.** A rule fires at most once per conversation per
*situation* (``rule_state``). A situation begins when the conversation is filed and whenever a
*person* changes its status (an agent, a lead, a merchant whose reply reopens it); its key is
that status change's sequence number and status, e.g. ``"3|solved"``, or ``"0|filed"`` before
any. Changes made by the system (rules, the 7-day timer: status changes with no person, whose
``StatusChange.by`` is empty) do not begin a new situation. Hence:

- "solved for 4 days → closed" fires once: its own change to closed continues the situation
  it fired in. If the merchant writes again and an agent solves it again, that is a new
  situation, and four days later it fires again.
- "unassigned for 30 minutes → assign a team" fires once: if someone takes the conversation
  and then unassigns it, nothing about the status changed, so the rule does not come back.
- No two rules can feed each other: in one situation each rule fires at most once, so at most
  as many firings as there are rules happen before the conversation waits for a person,
  whatever the rules do to each other's conditions (tags, status, anything).
- The time since the last update is not part of the key: every change a rule makes is an
  update, so such a key would let a rule fire again on its own change, forever.

After a rule has acted, the people working the conversation have the last word until the
situation changes: a rule does not fight an agent who undoes its change. Editing a rule does
not make it fire again where it already fired. As a second guard, one sweep runs at most
``per_conversation`` rules on one conversation; the rest wait for the next sweep.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone, translation

from sellerdesk.accounts.models import STAFF_ROLES, AuditAction, Team, User
from sellerdesk.accounts.selectors import leads_for
from sellerdesk.conversations import services, workflow
from sellerdesk.conversations.models import (
    ActivityVerb,
    AuthorType,
    Channel,
    Conversation,
    ConversationTag,
    Kind,
    Macro,
    Priority,
    Status,
    StatusChange,
)
from sellerdesk.conversations.selectors import segment_countries
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import display_tag, normalize_tag, parse_id, text_problem
from sellerdesk.outbox.services import email_enqueue
from sellerdesk.sla.models import Rule, RuleRun

logger = logging.getLogger(__name__)

# --- The vocabulary -----------------------------------------------------------------------

#: Conditions that list the values a field may have (any of them matches).
CHOICE_CONDITIONS: dict[str, type[Status] | type[Kind] | type[Channel] | type[Priority]] = {
    "status": Status,
    "kind": Kind,
    "channel": Channel,
    "priority": Priority,
}
TAG_CONDITIONS = ("tags_all", "tags_none")
HOUR_CONDITIONS = ("hours_since_created", "hours_since_update", "hours_since_status_change")
CONDITION_LABELS = {
    "status": "Status",
    "kind": "Kind",
    "channel": "Channel",
    "priority": "Priority",
    "segment": "Segment",
    "tags_all": "Has all the tags",
    "tags_none": "Has none of the tags",
    "unassigned": "Assignment",
    "hours_since_created": "Hours since filed",
    "hours_since_update": "Hours since the last update",
    "hours_since_status_change": "Hours since the last status change",
}
CONDITIONS = tuple(CONDITION_LABELS)
#: Ten years: anything longer is a typing mistake.
MAX_HOURS = 24 * 365 * 10

ACTION_LABELS = {
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
    "assign_team": "Assign to team",
    "assign_agent": "Assign to agent",
    "unassign": "Unassign",
    "set_priority": "Set priority",
    "set_status": "Set status",
    "send_macro": "Send macro",
    "notify": "Notify",
}
ACTIONS = tuple(ACTION_LABELS)
#: Who ``notify`` writes to, besides an e-mail address.
NOTIFY_TARGETS = {"assignee": "the assignee", "lead": "the team's leads (or all leads)"}
MAX_ACTIONS = 6
#: Actions that may appear once in a rule.
SINGLE_ACTIONS = ("assign_team", "assign_agent", "set_priority", "set_status", "send_macro")

#: The key of a conversation's first situation, before any person changed its status.
FILED = "0|filed"
#: The name the system signs a macro's reply with (``{{ agent_name }}``).
SYSTEM_SIGNATURE = "Support team"
#: Rule changes are recorded in the accounts' audit log under this action, with
#: ``target="rule:<name>"``. AuditAction has no value for rules yet (adding one needs a
#: migration): macros are the closest kind of desk setting.
RULE_AUDIT_ACTION = AuditAction.RULE_CHANGED
#: Status changes a rule or a timer made carry ``by="rule:<name>"`` (workflow._status_set).
SYSTEM_BY_PREFIX = "rule:"


class RuleInvalid(ValidationError):
    """A rule the desk refuses, with every problem by field: a condition's name, ``name``,
    ``position``, ``conditions``, ``actions``, or ``actions.<index>`` for one action."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {text}" for key, text in errors.items()))


# --- Validation ---------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def validate_conditions(conditions: object) -> tuple[dict[str, Any], dict[str, str]]:
    """The conditions cleaned (empty lists dropped, tags normalized), and the problems found.

    Reads no rows, so the sweep can check a stored rule cheaply."""
    if not isinstance(conditions, dict):
        return {}, {"conditions": "conditions must be a mapping of condition to value"}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    segments = settings.SELLERDESK_SEGMENTS
    for key, value in conditions.items():
        label = CONDITION_LABELS.get(key, str(key)).lower()
        if key not in CONDITIONS:
            errors[str(key)] = f"unknown condition {key!r}"
        elif key in CHOICE_CONDITIONS or key == "segment" or key in TAG_CONDITIONS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[key] = f"{label}: a list of names"
                continue
            if key in TAG_CONDITIONS:
                names = [normalize_tag(v) for v in value]
                if any(not n or text_problem(n) or len(n) > 200 for n in names):
                    errors[key] = "a tag needs a name of at most 200 characters"
                    continue
            else:
                allowed = segments if key == "segment" else CHOICE_CONDITIONS[key].values
                unknown = [v for v in value if v not in allowed]
                if unknown:
                    errors[key] = f"unknown {CONDITION_LABELS[key].lower()} {unknown[0]!r}"
                    continue
                names = list(value)
            names = list(dict.fromkeys(names))
            if names:
                clean[key] = names
        elif key == "unassigned":
            if not isinstance(value, bool):
                errors[key] = "unassigned is true (no assignee) or false (an assignee)"
            else:
                clean[key] = value
        else:  # hours
            hours = _number(value)
            if hours is None:
                errors[key] = f"{label}: a number of hours"
            elif not 0 <= hours <= MAX_HOURS:
                errors[key] = f"{label}: between 0 and {MAX_HOURS}"
            else:
                clean[key] = int(hours) if hours.is_integer() else hours
    both = set(clean.get("tags_all", ())) & set(clean.get("tags_none", ()))
    if both:
        errors["tags_none"] = f"the tag {sorted(both)[0]!r} cannot be both required and excluded"
    if not clean and not errors:
        # Spam is always excluded, but that alone would act on every other conversation.
        errors["conditions"] = "a rule needs at least one condition"
    return clean, errors


def _action_value(action: str, value: object) -> tuple[Any, str]:
    """The action's value cleaned, or an error message."""
    if action in ("add_tag", "remove_tag"):
        if not isinstance(value, str) or not normalize_tag(value):
            return None, "write the tag's name"
        shown = display_tag(value)
        if text_problem(shown) or len(shown) > 200:
            return None, "a tag's name has at most 200 characters"
        return shown, ""
    if action == "unassign":
        return None, "" if value in (None, "") else "unassign takes no value"
    if action == "set_priority":
        ok = isinstance(value, str) and value in Priority.values
        return (value, "") if ok else (None, f"unknown priority {value!r}")
    if action == "set_status":
        ok = isinstance(value, str) and value in Status.values
        return (value, "") if ok else (None, f"unknown status {value!r}")
    if action == "notify":
        address = value.strip().lower() if isinstance(value, str) else ""
        if address in NOTIFY_TARGETS:
            return address, ""
        try:
            validate_email(address)
        except DjangoValidationError:
            return None, "notify the assignee, the lead, or an e-mail address"
        return address, ""
    key = parse_id(value)
    if action == "assign_team" and _team(key) is None:
        return None, "choose a team"
    if action == "assign_agent" and _staff(key) is None:
        return None, "choose an active member of staff"
    if action == "send_macro" and _macro(key) is None:
        return None, "choose a macro"
    return key, ""


def _team(key: int | None) -> Team | None:
    return Team.objects.filter(pk=key).first() if key is not None else None


def _staff(key: int | None) -> User | None:
    if key is None:
        return None
    return User.objects.filter(pk=key, role__in=sorted(STAFF_ROLES), is_active=True).first()


def _macro(key: int | None) -> Macro | None:
    return Macro.objects.filter(pk=key, active=True).first() if key is not None else None


def validate_actions(actions: object) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The actions cleaned (ids as numbers, addresses lower-cased), and the problems found."""
    if not isinstance(actions, list):
        return [], {"actions": "actions must be a list"}
    if not actions:
        return [], {"actions": "a rule needs at least one action"}
    if len(actions) > MAX_ACTIONS:
        return [], {"actions": f"at most {MAX_ACTIONS} actions a rule"}
    clean: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(actions):
        where = f"actions.{index}"
        if not isinstance(item, dict) or "action" not in item:
            errors[where] = 'each action is {"action": ..., "value": ...}'
            continue
        extra = sorted(set(item) - {"action", "value"})
        if extra:
            errors[where] = f"unknown key {extra[0]!r}"
            continue
        action = item["action"]
        if action in ("set_outcome", "outcome"):
            errors[where] = "a rule never decides a complaint's outcome: a person does"
            continue
        if action not in ACTIONS:
            errors[where] = f"unknown action {action!r}"
            continue
        value, problem = _action_value(action, item.get("value"))
        if problem:
            errors[where] = problem
            continue
        clean.append({"action": action, "value": value})
    if errors:
        return clean, errors
    done = Counter(a["action"] for a in clean)
    twice = [a for a in SINGLE_ACTIONS if done[a] > 1]
    if twice:
        errors["actions"] = f"{ACTION_LABELS[twice[0]].lower()} only once a rule"
    elif done["assign_agent"] and done["unassign"]:
        errors["actions"] = "a rule cannot both assign an agent and unassign"
    else:
        added = {normalize_tag(a["value"]) for a in clean if a["action"] == "add_tag"}
        removed = {normalize_tag(a["value"]) for a in clean if a["action"] == "remove_tag"}
        if added & removed:
            errors["actions"] = f"the tag {sorted(added & removed)[0]!r} is added and removed"
    return clean, errors


def rule_validate(
    *, conditions: object, actions: object
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Conditions and actions cleaned, or RuleInvalid with every problem."""
    clean_conditions, errors = validate_conditions(conditions)
    clean_actions, action_errors = validate_actions(actions)
    errors.update(action_errors)
    if errors:
        raise RuleInvalid(errors)
    return clean_conditions, clean_actions


# --- Saving (admins) ------------------------------------------------------------------------


def rule_save(
    *,
    actor: User,
    name: str,
    position: int,
    active: bool,
    conditions: object,
    actions: object,
    rule: Rule | None = None,
) -> Rule:
    """Create or change a rule (admins only); recorded in the audit log."""
    from sellerdesk.accounts.services import audit_record

    if not actor.is_staff:
        raise workflow.PermissionDenied("only admins manage automation rules")
    errors: dict[str, str] = {}
    name = name.strip()
    limit = Rule._meta.get_field("name").max_length or 100
    if not name:
        errors["name"] = "a rule needs a name"
    elif len(name) > limit or text_problem(name):
        errors["name"] = f"a name of at most {limit} characters"
    elif Rule.objects.filter(name=name).exclude(pk=rule.pk if rule else 0).exists():
        errors["name"] = f"a rule named {name!r} exists"
    if isinstance(position, bool) or not 0 <= position < 2**31:
        errors["position"] = "a position from 0 up"
    try:
        clean_conditions, clean_actions = rule_validate(conditions=conditions, actions=actions)
    except RuleInvalid as problem:
        errors.update(problem.errors)
    if errors:
        raise RuleInvalid(errors)
    with transaction.atomic():
        row = rule or Rule()
        created = row.pk is None
        row.name = name
        row.position = position
        row.active = active
        row.conditions = clean_conditions
        row.actions = clean_actions
        row.save()
        audit_record(
            action=RULE_AUDIT_ACTION,
            actor=actor,
            target=f"rule:{row.name}",
            rule=row.pk,
            change="created" if created else "changed",
            active=row.active,
            conditions=row.conditions,
            actions=row.actions,
        )
    return row


def rule_set_active(*, actor: User, rule: Rule, active: bool) -> None:
    """Switch a rule on or off (admins only); recorded in the audit log."""
    from sellerdesk.accounts.services import audit_record

    if not actor.is_staff:
        raise workflow.PermissionDenied("only admins manage automation rules")
    if rule.active == active:
        return
    with transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(active=active)
        rule.active = active
        audit_record(
            action=RULE_AUDIT_ACTION,
            actor=actor,
            target=f"rule:{rule.name}",
            rule=rule.pk,
            change="activated" if active else "deactivated",
        )


# --- Situations -----------------------------------------------------------------------------


def rule_state(conversation: Conversation) -> str:
    """The conversation's situation key (see the module's docstring): ``"<seq>|<status>"`` of
    the latest status change a person made, or ``"0|filed"``."""
    latest = (
        StatusChange.objects.filter(conversation=conversation)
        .exclude(by="")
        .exclude(by__startswith=SYSTEM_BY_PREFIX)
        .order_by("-seq")
        .values_list("seq", "status")
        .first()
    )
    return f"{latest[0]}|{latest[1]}" if latest else FILED


def _situation_sql() -> Coalesce:
    """``rule_state`` in SQL, for a query over conversations."""
    by_people = (
        StatusChange.objects.filter(conversation=OuterRef("pk"))
        .exclude(by="")
        .exclude(by__startswith=SYSTEM_BY_PREFIX)
        .order_by("-seq")
        .annotate(
            key=Concat(
                Cast("seq", output_field=CharField()),
                Value("|"),
                "status",
                output_field=CharField(),
            )
        )
        .values("key")[:1]
    )
    return Coalesce(Subquery(by_people), Value(FILED), output_field=CharField())


# --- Matching -------------------------------------------------------------------------------


def _matching(rule: Rule, conditions: dict[str, Any], now: datetime) -> QuerySet[Conversation]:
    """The conversations that meet the (clean) conditions and on which the rule has not yet
    fired in their current situation, annotated with that situation (``rule_situation``)."""
    rows = Conversation.objects.filter(spam=False)
    for key in CHOICE_CONDITIONS:
        if key in conditions:
            rows = rows.filter(**{f"{key}__in": conditions[key]})
    if "segment" in conditions:
        countries = sorted({c for name in conditions["segment"] for c in segment_countries(name)})
        rows = rows.filter(country__in=countries)
    for name in conditions.get("tags_all", ()):
        rows = rows.filter(
            Exists(ConversationTag.objects.filter(conversation=OuterRef("pk"), tag__name=name))
        )
    if conditions.get("tags_none"):
        rows = rows.filter(
            ~Exists(
                ConversationTag.objects.filter(
                    conversation=OuterRef("pk"), tag__name__in=conditions["tags_none"]
                )
            )
        )
    if "unassigned" in conditions:
        rows = rows.filter(assignee__isnull=conditions["unassigned"])
    # "At least this long ago": an update or status change falls back to the filing.
    if "hours_since_created" in conditions:
        cutoff = now - timedelta(hours=conditions["hours_since_created"])
        rows = rows.filter(created_at__lte=cutoff)
    if "hours_since_update" in conditions:
        cutoff = now - timedelta(hours=conditions["hours_since_update"])
        rows = rows.alias(rule_updated_at=Coalesce("updated_at", "created_at")).filter(
            rule_updated_at__lte=cutoff
        )
    if "hours_since_status_change" in conditions:
        cutoff = now - timedelta(hours=conditions["hours_since_status_change"])
        rows = rows.alias(rule_status_at=Coalesce("status_changed_at", "created_at")).filter(
            rule_status_at__lte=cutoff
        )
    fired = RuleRun.objects.filter(
        rule=rule, conversation=OuterRef("pk"), state=OuterRef("rule_situation")
    )
    return rows.annotate(rule_situation=_situation_sql()).filter(~Exists(fired))


def rule_candidates(rule: Rule, now: datetime, *, limit: int = 500) -> QuerySet[Conversation]:
    """The conversations this rule would act on now, oldest first: one query, whatever the
    number of conversations that do not match. Raises RuleInvalid for a stored rule whose
    conditions are no longer valid."""
    conditions, errors = validate_conditions(rule.conditions)
    if errors:
        raise RuleInvalid(errors)
    return _matching(rule, conditions, now).order_by("created_at", "id")[:limit]


# --- Firing ---------------------------------------------------------------------------------


def rule_fire(rule: Rule, conversation_id: int, now: datetime) -> bool:
    """Run the rule's actions on one conversation if it still matches; whether it fired."""
    conditions, errors = validate_conditions(rule.conditions)
    if errors:
        raise RuleInvalid(errors)
    with transaction.atomic():
        row = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("merchant", "team", "assignee")
            .filter(pk=conversation_id)
            .first()
        )
        if row is None:
            return False
        # Checked again now that the row is locked: a person (or another worker) may have
        # changed it since the candidates were read.
        match = _matching(rule, conditions, now).filter(pk=row.pk).only("pk").first()
        if match is None:
            return False
        state: str = match.rule_situation  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                RuleRun.objects.create(rule=rule, conversation=row, state=state)
        except IntegrityError:  # fired in this situation already (rule_run_once)
            return False
        with workflow.acting_for_rule(rule.name):
            for action in rule.actions:
                _act(rule, row, state, action)
    return True


def _act(rule: Rule, row: Conversation, state: str, action: dict[str, Any]) -> None:
    """One action, as the system (no person), inside the rule's ``acting_for_rule``.

    A team, agent or macro removed since the rule was saved is skipped, not an error: the
    rest of the rule still runs, and the situation counts as handled."""
    kind, value = action.get("action"), action.get("value")
    if kind == "add_tag":
        workflow.conversation_add_tag(conversation=row, name=str(value), actor=None)
    elif kind == "remove_tag":
        workflow.conversation_remove_tag(conversation=row, name=str(value), actor=None)
    elif kind == "assign_team":
        team = _team(parse_id(value))
        if team is None:
            logger.warning("rule %r: team %r no longer exists", rule.name, value)
            return
        workflow.conversation_set_team(conversation=row, team=team, actor=None)
    elif kind == "assign_agent":
        agent = _staff(parse_id(value))
        if agent is None:
            logger.warning("rule %r: agent %r is no longer active staff", rule.name, value)
            return
        workflow.conversation_assign(conversation=row, assignee=agent, actor=None)
    elif kind == "unassign":
        workflow.conversation_assign(conversation=row, assignee=None, actor=None)
    elif kind == "set_priority":
        workflow.conversation_change_priority(conversation=row, priority=str(value), actor=None)
    elif kind == "set_status":
        # Statuses only: a complaint's outcome is a person's decision, never a rule's.
        workflow.conversation_change_status(conversation=row, status=str(value), actor=None)
    elif kind == "send_macro":
        _send_macro(rule, row, value)
    elif kind == "notify":
        _notify(rule, row, state, value)
    else:
        logger.warning("rule %r: unknown action %r skipped", rule.name, kind)


def _send_macro(rule: Rule, row: Conversation, value: object) -> None:
    """The macro's text as a public reply by the system, then its tags and status."""
    macro = _macro(parse_id(value))
    if macro is None:
        logger.warning("rule %r: macro %r no longer exists", rule.name, value)
        return
    # Signed by the desk, not by the assignee, who did not write it.
    signature = User(full_name=SYSTEM_SIGNATURE)
    body = workflow.macro_render(macro=macro, conversation=row, agent=signature).strip()
    if body:
        services.message_add(
            conversation=row, author_type=AuthorType.SYSTEM, body=body, author_name="sellerdesk"
        )
    workflow._trail(row, None, ActivityVerb.MACRO, macro=macro.name)
    for name in macro.tag_names():
        workflow.conversation_add_tag(conversation=row, name=name, actor=None)
    if macro.set_status:
        workflow.conversation_change_status(conversation=row, status=macro.set_status, actor=None)


def _leads(row: Conversation) -> list[str]:
    return list(leads_for(team_id=row.team_id).values_list("email", flat=True))


def _notify(rule: Rule, row: Conversation, state: str, value: object) -> None:
    if value == "assignee":
        assignee = row.assignee
        to = [assignee.email] if assignee is not None and assignee.is_active else []
    elif value == "lead":
        to = _leads(row)
    else:
        to = [str(value)]
    if not to:
        logger.info("rule %r: nobody to notify (%s) on %s", rule.name, value, row.pk)
        return
    subject = row.subject or "a conversation"
    # To agents: English, even when a merchant's page (in Turkish, say) set the rule off.
    with translation.override("en"):
        status = str(row.get_status_display())
    email_enqueue(
        # One message per rule, conversation, situation and recipient kind: a retried sweep
        # never sends twice.
        key=f"rule:{rule.pk}:{row.pk}:{state}:{value}",
        to=to,
        subject=f"[{rule.name}] {subject}"[:200],
        body=(
            f"The automation rule “{rule.name}” matched this conversation:\n\n"
            f"{subject}\nMerchant: {row.merchant}\nStatus: {status}"
            f" · Priority: {row.get_priority_display()}\n"
            f"{settings.SELLERDESK_BASE_URL}/desk/c/{row.pk}/\n"
        ),
    )


# --- The sweep ------------------------------------------------------------------------------


@dataclass
class AutomationRun:
    fired: int = 0
    #: Matches left for the next sweep by the per-conversation cap.
    deferred: int = 0
    #: Rules or firings that failed (logged); their conversations are tried again next time.
    failed: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def run_rules(
    *, now: datetime | None = None, limit: int = 500, per_conversation: int = 10
) -> AutomationRun:
    """Check every active rule, by position, and fire each on its matches (at most ``limit``
    a rule, at most ``per_conversation`` rules on one conversation in this sweep)."""
    now = now or timezone.now()
    run = AutomationRun()
    fired_on: Counter[int] = Counter()
    for rule in Rule.objects.filter(active=True).order_by("position", "id"):
        try:
            ids = list(rule_candidates(rule, now, limit=limit).values_list("pk", flat=True))
        except RuleInvalid:
            logger.exception("rule %r has invalid conditions; skipped", rule.name)
            run.failed += 1
            continue
        for pk in ids:
            if fired_on[pk] >= per_conversation:
                run.deferred += 1
                continue
            try:
                fired = rule_fire(rule, pk, now)
            except Exception:  # one conversation's failure must not stop the sweep
                logger.exception("rule %r failed on conversation %s", rule.name, pk)
                run.failed += 1
                continue
            if fired:
                fired_on[pk] += 1
                run.fired += 1
                run.by_rule[rule.name] = run.by_rule.get(rule.name, 0) + 1
    return run
