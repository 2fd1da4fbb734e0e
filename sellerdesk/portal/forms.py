"""The portal's forms: the shape of what a merchant sends. The services decide the rest
(whether the conversation may be opened or answered, the attachments' limits)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from sellerdesk.conversations.models import Conversation, Kind

#: The kinds as merchants read them, in the order offered.
KIND_LABELS = {
    Kind.QUESTION.value: _("Question"),
    Kind.REQUEST.value: _("Request"),
    Kind.PROPOSAL.value: _("Proposal"),
    Kind.COMPLAINT.value: _("Complaint"),
}

SUBJECT_MAX = 200
BODY_MAX = 50_000
_REF_MAX = Conversation._meta.get_field("order_ref").max_length


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"autocomplete": "off", **attrs})


class ConversationForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What is it about?"),
        choices=list(KIND_LABELS.items()),
        initial=Kind.QUESTION.value,
    )
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX, widget=_text())
    body = forms.CharField(label=_("Message"), max_length=BODY_MAX, widget=forms.Textarea)
    order_ref = forms.CharField(
        label=_("Order number"), required=False, max_length=_REF_MAX, widget=_text()
    )
    product_ref = forms.CharField(
        label=_("Product number"), required=False, max_length=_REF_MAX, widget=_text()
    )
    invoice_ref = forms.CharField(
        label=_("Invoice number"), required=False, max_length=_REF_MAX, widget=_text()
    )


class ChatForm(forms.Form):
    """The first message of a chat with support: a question, nothing else to fill in."""

    body = forms.CharField(label=_("Your message"), max_length=BODY_MAX, widget=forms.Textarea)


class ReplyForm(forms.Form):
    # Optional: a reply may be attachments alone (the service refuses one with neither).
    body = forms.CharField(
        label=_("Your reply"), required=False, max_length=BODY_MAX, widget=forms.Textarea
    )
