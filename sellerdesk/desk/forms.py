"""Shape checks for the desk's forms; the services make the decisions."""

from __future__ import annotations

from typing import Any

from django import forms

from sellerdesk.accounts.models import Team
from sellerdesk.conversations.models import Kind, Status


def _team_choices() -> list[tuple[Any, str]]:
    return [("", "—"), *((t.pk, t.name) for t in Team.objects.order_by("name"))]


class OutreachForm(forms.Form):
    merchant = forms.CharField(label="Merchant id", max_length=200)
    kind = forms.ChoiceField(choices=Kind.choices, initial=Kind.REQUEST)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(label="Message", widget=forms.Textarea, max_length=100_000)
    team = forms.TypedChoiceField(
        choices=_team_choices, required=False, coerce=int, empty_value=None
    )


class MacroForm(forms.Form):
    name = forms.CharField(max_length=100)
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=20_000)
    add_tags = forms.CharField(label="Add tags (comma-separated)", required=False, max_length=500)
    set_status = forms.ChoiceField(
        label="Then set status", choices=[("", "— unchanged —"), *Status.choices], required=False
    )
    team = forms.TypedChoiceField(
        label="Team (empty: everyone)",
        choices=_team_choices,
        required=False,
        coerce=int,
        empty_value=None,
    )
