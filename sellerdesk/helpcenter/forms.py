from __future__ import annotations

from typing import Any

from django import forms

from sellerdesk.helpcenter.models import LANGUAGES, Section


class SectionForm(forms.Form):
    slug = forms.CharField(max_length=80, label="Address (slug)")
    language = forms.ChoiceField(choices=LANGUAGES)
    title = forms.CharField(max_length=200)
    position = forms.IntegerField(min_value=0, max_value=100000, initial=100)


class ArticleForm(forms.Form):
    section: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=Section.objects.all(), empty_label=None
    )
    slug = forms.CharField(max_length=120, label="Address (slug)")
    language = forms.ChoiceField(choices=LANGUAGES)
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}), label="Text (Markdown)")
    position = forms.IntegerField(min_value=0, max_value=100000, initial=100)
    published = forms.BooleanField(required=False)
