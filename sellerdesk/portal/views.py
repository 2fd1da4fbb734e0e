"""The merchant portal: a merchant's users read and write their merchant's conversations.

Every view is gated by ``merchant_required`` (anonymous → sign in, staff → 403) and reads
through the selectors, which 404 on another merchant's conversation. The changes are the
workflow's: these views parse the form, call one service, and redirect after a success.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sellerdesk.accounts.models import User
from sellerdesk.conversations import search, selectors, workflow
from sellerdesk.conversations.models import RESOLVED_STATUSES, Channel, Conversation, Kind, Status
from sellerdesk.core.access import merchant_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.files import attachment_response
from sellerdesk.portal.forms import ChatForm, ConversationForm, ReplyForm

#: A chat's subject: the start of its first message.
CHAT_SUBJECT_LENGTH = 80

ATTACHMENTS_FIELD = "attachments"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # merchant_required let only a signed-in merchant user in
    return user


def _upload_limits() -> dict[str, Any]:
    return {
        "max_bytes": settings.SELLERDESK_ATTACHMENT_MAX_BYTES,
        "max_files": settings.SELLERDESK_ATTACHMENTS_PER_MESSAGE,
    }


@merchant_required
@never_cache
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    text = request.GET.get("q", "").strip()[: 2 * search.MAX_QUERY_CHARS]
    context: dict[str, Any] = {
        "q": text,
        "search_max": search.MAX_QUERY_CHARS,
        "reply_days": settings.SELLERDESK_MERCHANT_REPLY_DAYS,
    }
    if text:
        try:
            found = selectors.merchant_search(
                user=user, text=text, cursor=request.GET.get("cursor") or None
            )
        except ValidationError as error:
            context["search_error"] = str(error)
        else:
            context["results"] = found
            if found.next_cursor:
                context["next_url"] = "?" + urlencode({"q": text, "cursor": found.next_cursor})
        return render(request, "portal/list.html", context)
    # Each list pages on its own; a link to one list's next page keeps the other's page.
    pages = {name: request.GET.get(name) or None for name in ("open", "past")}
    for name, past in (("open", False), ("past", True)):
        rows, after = selectors.merchant_conversations(user=user, past=past, cursor=pages[name])
        context[name] = rows
        context[f"{name}_paged"] = pages[name] is not None
        if after:
            kept = {k: v for k, v in pages.items() if v and k != name}
            context[f"{name}_next_url"] = "?" + urlencode({**kept, name: after})
    return render(request, "portal/list.html", context)


@merchant_required
@never_cache
@require_http_methods(["GET", "POST"])
def conversation_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ConversationForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            conversation = workflow.merchant_conversation_open(
                user=user, **form.cleaned_data, files=request.FILES.getlist(ATTACHMENTS_FIELD)
            )
        except ValidationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Your message has been sent to support."))
            return redirect("portal:detail", pk=conversation.pk)
    return render(
        request,
        "portal/new.html",
        {
            "form": form,
            "files_dropped": form.is_bound and bool(request.FILES),
            "support_email": settings.SELLERDESK_SUPPORT_EMAIL,
            **_upload_limits(),
        },
        status=400 if form.errors else 200,
    )


@merchant_required
@never_cache
@require_http_methods(["GET", "POST"])
def chat_start(request: HttpRequest) -> HttpResponse:
    """ "Chat with support": the first message opens a chat conversation, whose page is the
    chat (live with JavaScript, a form without)."""
    user = _user(request)
    form = ChatForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        body = form.cleaned_data["body"]
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        try:
            conversation = workflow.merchant_conversation_open(
                user=user,
                kind=Kind.QUESTION,
                subject=first_line[:CHAT_SUBJECT_LENGTH],
                body=body,
                channel=Channel.CHAT,
            )
        except ValidationError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("portal:detail", pk=conversation.pk)
    return render(request, "portal/chat.html", {"form": form}, status=400 if form.errors else 200)


def _detail(
    request: HttpRequest,
    user: User,
    conversation: Conversation,
    reply_form: ReplyForm,
    *,
    status: int = 200,
) -> HttpResponse:
    thread = selectors.thread(user=user, conversation=conversation)
    return render(
        request,
        "portal/detail.html",
        {
            "conversation": conversation,
            "thread": thread,
            # Where the live chat's replay starts (chat.js).
            "last_message_id": max((m.pk for m in thread), default=0),
            "resolved": conversation.status in RESOLVED_STATUSES,
            "reply_form": reply_form,
            "files_dropped": reply_form.is_bound and bool(request.FILES),
            **_upload_limits(),
        },
        status=status,
    )


@merchant_required
@never_cache
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    conversation = selectors.conversation_get(user=user, pk=pk)
    return _detail(request, user, conversation, ReplyForm())


@merchant_required
@require_POST
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    conversation = selectors.conversation_get(user=user, pk=pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            message = workflow.reply_post(
                conversation=conversation,
                author=user,
                body=form.cleaned_data["body"],
                files=request.FILES.getlist(ATTACHMENTS_FIELD),
            )
        except ValidationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Your reply has been sent."))
            url = reverse("portal:detail", kwargs={"pk": conversation.pk})
            return redirect(f"{url}#m-{message.pk}")
    return _detail(request, user, conversation, form, status=400)


@merchant_required
@require_POST
def conversation_solve(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    conversation = selectors.conversation_get(user=user, pk=pk)
    try:
        workflow.conversation_change_status(
            conversation=conversation, status=Status.SOLVED, actor=user
        )
    except ValidationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Marked as solved. Reply any time to reopen it."))
    return redirect("portal:detail", pk=conversation.pk)


@merchant_required
@require_GET
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponseBase:
    user = _user(request)
    conversation = selectors.conversation_get(user=user, pk=pk)
    attachment = selectors.attachment_get(user=user, conversation=conversation, pk=attachment_pk)
    return attachment_response(attachment)  # a file missing from storage is a 404 there
