"""How the portal words a conversation's fields for the merchant."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.translation import gettext_lazy as _

from sellerdesk.conversations.models import Status
from sellerdesk.portal.dates import merchant_day_in_words
from sellerdesk.portal.forms import KIND_LABELS

register = template.Library()

#: Statuses as the merchant reads them (the desk's "Pending merchant" means: your turn).
STATUS_LABELS = {
    Status.NEW.value: _("Received"),
    Status.OPEN.value: _("Open"),
    Status.PENDING.value: _("Waiting for your answer"),
    Status.ON_HOLD.value: _("On hold"),
    Status.SOLVED.value: _("Solved"),
    Status.CLOSED.value: _("Closed"),
}


@register.filter
def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


@register.filter
def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


@register.filter
def day_words(moment: datetime | None, country: str) -> str:
    """``{{ conversation.created_at|day_words:merchant.country }}`` → ``3 December``."""
    if moment is None:
        return ""
    return merchant_day_in_words(moment, country)


@register.simple_tag
def chat_strings() -> dict[str, object]:
    """What chat.js writes on the merchant's page, in the page's language (rendered with
    ``json_script``: no catalogue to fetch, no build step). ``{name}`` and the like are
    filled in by the script."""
    return {
        "offline": _("Live updates are off: sign in again."),
        "reconnecting": _("Reconnecting…"),
        "you": _("You"),
        "support": _("Support"),
        "support_suffix": _("%(name)s · Support") % {"name": "{name}"},
        "automatic": _("Automatic message"),
        "incomplete": _("Some messages are not shown: reload the page to read them all."),
        "typing": _("%(name)s is typing…") % {"name": "{name}"},
        "status": _("The status is now “%(status)s”. Reload to see every change.")
        % {"status": "{status}"},
        "not_sent": _("Not sent: %(reason)s") % {"reason": "{reason}"},
        "statuses": {key: str(label) for key, label in STATUS_LABELS.items()},
        # The socket's ``error`` frames carry a code and an English detail for developers;
        # the panel shows the merchant these words for the codes a person can meet. A
        # service's refusal of a message (``invalid`` with a ``client_id``) comes in the
        # merchant's language already and is shown as it is.
        "errors": {code: str(text) for code, text in CHAT_ERRORS.items()},
    }


#: What the chat panel says for an ``error`` frame's code (connectors/chat/consumers.py).
CHAT_ERRORS = {
    "sign_in": _("Please sign in again to use the chat."),
    "signed_out": _("You signed out: please sign in again to use the chat."),
    "forbidden": _("This account cannot use the chat."),
    "unavailable": _("The chat is unavailable just now. Please try again in a moment."),
    "rate_limited": _("You are sending too fast: please wait a moment and try again."),
    "too_big": _("This message is too long for the chat. Please shorten it or split it."),
    "not_found": _("This conversation is not available."),
    "not_subscribed": _("The chat lost this conversation: please reload the page."),
    "too_many": _("Too many conversations are open: please close some tabs and reload."),
}
