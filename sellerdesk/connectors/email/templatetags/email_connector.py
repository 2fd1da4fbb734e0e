"""The e-mail side of the desk's thread: folded quotes and the delivery state of replies."""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from sellerdesk.connectors.email.selectors import ThreadMail, thread_mail
from sellerdesk.conversations.models import Conversation, Message

register = template.Library()

_DELIVERY = {
    "pending": ("E-mail queued", "badge"),
    "delivered": ("E-mail delivered", "badge"),
    "failed": ("E-mail failed", "badge complaint"),
}


@register.simple_tag
def email_thread(conversation: Conversation, messages: Sequence[Message]) -> ThreadMail | None:
    """``{% email_thread c messages_ as mail %}``: None unless the conversation is e-mail."""
    return thread_mail(conversation=conversation, messages=messages)


@register.simple_tag
def email_body(message: Message, mail: ThreadMail) -> SafeString:
    """The body, its quoted history folded (kept whole, opened on a click)."""
    cut = mail.quoted_from.get(message.pk)
    if cut is None or cut >= len(message.body):
        return format_html("{}", message.body)
    return format_html(
        '{}<details class="quoted"><summary>{}</summary>{}</details>',
        message.body[:cut].rstrip("\n"),
        _("Quoted text"),
        message.body[cut:],
    )


@register.simple_tag
def email_delivery(message: Message, mail: ThreadMail) -> SafeString:
    status = mail.delivery.get(message.pk)
    if status is None:
        return SafeString("")
    label, css = _DELIVERY.get(status, (status, "badge"))
    return format_html(
        '<p class="delivery"><span class="{}" data-delivery="{}">{}</span></p>',
        css,
        status,
        _(label),
    )
