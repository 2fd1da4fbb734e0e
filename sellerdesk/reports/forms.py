from __future__ import annotations

from django import forms

from sellerdesk.reports.editions import DEFAULT_CONFIG
from sellerdesk.reports.models import ImprovementStatus


class EditionForm(forms.Form):
    series = forms.CharField(max_length=80, label="Address (slug), e.g. 2025")
    title = forms.CharField(max_length=200)
    start = forms.CharField(label="Period start (date or RFC 3339, inclusive)")
    end = forms.CharField(label="Period end (date or RFC 3339, exclusive)")
    as_of = forms.CharField(label="As of (RFC 3339)")
    config_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        initial=DEFAULT_CONFIG,
        label="Segments and topics (TOML, as report.md writes them)",
    )
    intro = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)


class ImprovementForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False)
    status = forms.ChoiceField(choices=ImprovementStatus.choices)
    planned_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    started_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    done_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    tags = forms.CharField(required=False, help_text="Comma-separated tag names")
    topics = forms.CharField(required=False, help_text="Comma-separated topic names")
    segments = forms.CharField(required=False, help_text="Comma-separated segment names")


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
