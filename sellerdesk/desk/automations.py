"""Automation rules, for admins: the list, a form of structured fields, switching on and off.

The form is checkboxes, selects and number inputs; each action row is one select that names
the action with its value ("Assign to team EU team", "Set status Closed") plus a text field
for the actions that take a name (a tag, an e-mail address). Every change goes through
``sla.automations`` (validation, the audit log); problems are shown next to their fields.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sellerdesk.accounts.models import STAFF_ROLES, Team, User
from sellerdesk.conversations.models import Channel, Kind, Macro, Priority, Status
from sellerdesk.core.access import admin_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import parse_id
from sellerdesk.sla import automations
from sellerdesk.sla.automations import ACTION_LABELS, CONDITION_LABELS, RuleInvalid
from sellerdesk.sla.models import Rule

#: Actions that take their value from the row's text field.
TEXT_ACTIONS = ("add_tag", "remove_tag", "notify:email")


def _admin(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _rule(pk: int) -> Rule:
    rule = Rule.objects.filter(pk=pk).first()
    if rule is None:
        raise Http404("no such rule")
    return rule


def _labels(choices: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """A model's choices with their (lazy, translatable) labels as text."""
    return [(value, str(label)) for value, label in choices]


def _choice_lists() -> dict[str, list[tuple[str, str]]]:
    return {
        "status": _labels(Status.choices),
        "kind": _labels(Kind.choices),
        "channel": _labels(Channel.choices),
        "priority": _labels(Priority.choices),
        "segment": [(name, name) for name in sorted(settings.SELLERDESK_SEGMENTS)],
    }


def _names() -> dict[str, dict[Any, str]]:
    """Teams, staff and macros by id: what the action selects offer and the list shows."""
    return {
        "team": dict(Team.objects.order_by("name").values_list("pk", "name")),
        "agent": {
            u.pk: u.get_full_name()
            for u in User.objects.filter(role__in=sorted(STAFF_ROLES), is_active=True).order_by(
                "full_name", "email"
            )
        },
        "macro": dict(Macro.objects.filter(active=True).order_by("name").values_list("pk", "name")),
    }


def _action_options(names: dict[str, dict[Any, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The action select's groups: (group label, [(value, label)])."""
    return [
        (
            "Tags",
            [("add_tag", "Add the tag written beside"), ("remove_tag", "Remove the tag beside")],
        ),
        ("Assign to team", [(f"assign_team:{pk}", name) for pk, name in names["team"].items()]),
        ("Assign to agent", [(f"assign_agent:{pk}", n) for pk, n in names["agent"].items()]),
        ("Unassign", [("unassign", "Unassign")]),
        ("Set priority", [(f"set_priority:{v}", label) for v, label in Priority.choices]),
        ("Set status", [(f"set_status:{v}", label) for v, label in _labels(Status.choices)]),
        ("Send macro", [(f"send_macro:{pk}", name) for pk, name in names["macro"].items()]),
        (
            "Notify",
            [
                ("notify:assignee", "Notify the assignee"),
                ("notify:lead", "Notify the team's leads"),
                ("notify:email", "Notify the e-mail address beside"),
            ],
        ),
    ]


def _encode(action: dict[str, Any]) -> tuple[str, str]:
    """A stored action as the row's (select value, text)."""
    kind, value = action.get("action", ""), action.get("value")
    if kind in ("add_tag", "remove_tag"):
        return kind, str(value)
    if kind == "notify" and value not in automations.NOTIFY_TARGETS:
        return "notify:email", str(value)
    if kind == "unassign":
        return kind, ""
    return f"{kind}:{value}", ""


def _decode(choice: str, text: str) -> dict[str, Any]:
    """The row's (select value, text) as an action for ``rule_save`` to check."""
    kind, _, argument = choice.partition(":")
    if choice in TEXT_ACTIONS:
        return {"action": kind, "value": text}
    if kind == "unassign":
        return {"action": kind}
    if kind in ("assign_team", "assign_agent", "send_macro"):
        key = parse_id(argument)
        return {"action": kind, "value": key if key is not None else argument}
    return {"action": kind, "value": argument}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _from_post(post: QueryDict) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Conditions, actions (with the row each came from) and the raw form values to show
    again, from the submitted form."""
    conditions: dict[str, Any] = {}
    for key in _choice_lists():
        values = post.getlist(key)
        if values:
            conditions[key] = values
    for key in automations.TAG_CONDITIONS:
        if _split(post.get(key, "")):
            conditions[key] = _split(post.get(key, ""))
    assignment = post.get("assignment", "")
    if assignment in ("unassigned", "assigned"):
        conditions["unassigned"] = assignment == "unassigned"
    for key in automations.HOUR_CONDITIONS:
        text = post.get(key, "").strip()
        if text:
            try:
                conditions[key] = float(text)
            except ValueError:
                conditions[key] = text  # refused by the validation, with its message
    rows = []
    for index in range(automations.MAX_ACTIONS):
        choice = post.get(f"action_{index}", "").strip()
        text = post.get(f"text_{index}", "").strip()
        rows.append({"choice": choice, "text": text})
    raw = {
        "name": post.get("name", ""),
        "position": post.get("position", ""),
        "active": post.get("active") == "1",
        "conditions": conditions,
        "rows": rows,
    }
    return conditions, rows, raw


def _from_rule(rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {"name": "", "position": "100", "active": True, "conditions": {}, "rows": []}
    rows = [dict(zip(("choice", "text"), _encode(a), strict=True)) for a in rule.actions]
    return {
        "name": rule.name,
        "position": str(rule.position),
        "active": rule.active,
        "conditions": dict(rule.conditions),
        "rows": rows,
    }


def _hours_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _context(state: dict[str, Any], errors: dict[str, str], rule: Rule | None) -> dict[str, Any]:
    conditions = state["conditions"]
    names = _names()
    unassigned = conditions.get("unassigned")
    rows = list(state["rows"]) + [{"choice": "", "text": ""}] * automations.MAX_ACTIONS
    return {
        "rule": rule,
        "state": state,
        "errors": errors,
        "choice_groups": [
            {
                "key": key,
                "label": CONDITION_LABELS[key],
                "error": errors.get(key, ""),
                "options": [
                    (value, label, value in (conditions.get(key) or ())) for value, label in options
                ],
            }
            for key, options in _choice_lists().items()
        ],
        "tags": [
            {
                "key": key,
                "label": CONDITION_LABELS[key],
                "value": ", ".join(conditions.get(key) or ()),
                "error": errors.get(key, ""),
            }
            for key in automations.TAG_CONDITIONS
        ],
        "assignment": "" if unassigned is None else ("unassigned" if unassigned else "assigned"),
        "hours": [
            {
                "key": key,
                "label": CONDITION_LABELS[key],
                "value": _hours_text(conditions.get(key)),
                "error": errors.get(key, ""),
            }
            for key in automations.HOUR_CONDITIONS
        ],
        "action_options": _action_options(names),
        "action_rows": [
            {"index": i, **row, "error": errors.get(f"action_{i}", "")}
            for i, row in enumerate(rows[: automations.MAX_ACTIONS])
        ],
    }


@admin_required
@require_GET
def automation_list(request: HttpRequest) -> HttpResponse:
    rules = Rule.objects.annotate(fired=Count("runs"), last_fired=Max("runs__at")).order_by(
        "position", "id"
    )
    names = _names()
    return render(
        request,
        "desk/automations.html",
        {"rules": [(rule, _describe(rule, names)) for rule in rules]},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def automation_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = _rule(pk) if pk is not None else None
    if request.method != "POST":
        return render(request, "desk/automation_edit.html", _context(_from_rule(rule), {}, rule))
    conditions, rows, state = _from_post(request.POST)
    errors: dict[str, str] = {}
    actions: list[dict[str, Any]] = []
    action_rows: list[int] = []
    for index, row in enumerate(rows):
        if row["choice"]:
            actions.append(_decode(row["choice"], row["text"]))
            action_rows.append(index)
        elif row["text"]:
            errors[f"action_{index}"] = f"choose what to do with “{row['text']}”"
    position = parse_id(state["position"].strip())
    if position is None:
        errors["position"] = "a position from 0 up"
    try:
        if errors or position is None:
            automations.rule_validate(conditions=conditions, actions=actions)
        else:
            rule = automations.rule_save(
                actor=_admin(request),
                name=state["name"],
                position=position,
                active=state["active"],
                conditions=conditions,
                actions=actions,
                rule=rule,
            )
    except RuleInvalid as problem:
        for key, text in problem.errors.items():
            if key.startswith("actions."):
                key = f"action_{action_rows[int(key.split('.', 1)[1])]}"
            errors.setdefault(key, text)
    except ValidationError as problem:
        errors.setdefault("form", str(problem))
    if not errors:
        messages.success(request, "Rule saved.")
        return redirect("desk:automations")
    return render(request, "desk/automation_edit.html", _context(state, errors, rule), status=400)


@admin_required
@require_POST
def automation_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule(pk)
    active = request.POST.get("active") == "1"
    automations.rule_set_active(actor=_admin(request), rule=rule, active=active)
    messages.success(request, f"“{rule.name}” is {'on' if active else 'off'}.")
    return redirect("desk:automations")


# --- Showing a rule -------------------------------------------------------------------------


def _describe(rule: Rule, names: dict[str, dict[Any, str]]) -> dict[str, list[str]]:
    """The rule in words, for the list."""
    # str(): the kinds' and statuses' labels are lazy (translatable); joined into text below.
    labels: dict[str, dict[str, str]] = {
        key: {value: str(label) for value, label in options}
        for key, options in _choice_lists().items()
    }
    conditions = []
    for key, value in (rule.conditions or {}).items():
        label = CONDITION_LABELS.get(key, key)
        if key in labels:
            conditions.append(f"{label}: {', '.join(labels[key].get(v, v) for v in value)}")
        elif key in automations.TAG_CONDITIONS:
            conditions.append(f"{label}: {', '.join(value)}")
        elif key == "unassigned":
            conditions.append("Unassigned" if value else "Assigned")
        else:
            conditions.append(f"{label}: {_hours_text(value)}")
    actions = []
    for action in rule.actions or []:
        kind, value = action.get("action", ""), action.get("value")
        label = ACTION_LABELS.get(kind, kind)
        if kind in ("assign_team", "assign_agent", "send_macro"):
            group = {"assign_team": "team", "assign_agent": "agent", "send_macro": "macro"}[kind]
            shown = names[group].get(value, f"#{value} (gone)")
        elif kind in ("set_priority", "set_status"):
            shown = labels[kind.removeprefix("set_")].get(value, str(value))
        elif kind == "notify":
            shown = automations.NOTIFY_TARGETS.get(value, str(value))
        else:
            shown = "" if value is None else str(value)
        actions.append(f"{label}: {shown}" if shown else label)
    return {"conditions": conditions, "actions": actions}
