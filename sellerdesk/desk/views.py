"""The agents' desk: the shared inbox, the conversation page, outreach, macros, bulk actions.

Thin views: they read the request, call one selector or workflow service, and render. Every
change is a POST with CSRF that redirects back (or, for htmx, returns the fragment it asked
for); every view is for staff only (``staff_required``), macros for leads and admins.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sellerdesk.accounts.models import Merchant, Team, User
from sellerdesk.conversations import search, selectors, workflow
from sellerdesk.conversations.models import (
    Channel,
    Conversation,
    Kind,
    Macro,
    Outcome,
    Priority,
    Status,
)
from sellerdesk.core.access import lead_required, safe_next, staff_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.files import attachment_response
from sellerdesk.core.text import parse_id
from sellerdesk.desk.forms import MacroForm, OutreachForm
from sellerdesk.triage import selectors as triage_selectors

FILTER_FIELDS = ("status", "kind", "tag", "channel", "country", "segment", "assignee", "priority")
PAGE_SIZES = (25, 50, 100)


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _choices() -> dict[str, Any]:
    return {
        "statuses": Status.choices,
        "kinds": Kind.choices,
        "channels": Channel.choices,
        "outcomes": Outcome.choices,
        "priorities": Priority.choices,
        "segments": sorted(settings.SELLERDESK_SEGMENTS),
    }


# --- Inbox ----------------------------------------------------------------------------------


@staff_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    me = _me(request)
    queue = request.GET.get("queue", "unassigned")
    sort = request.GET.get("sort", "oldest")
    filters = selectors.InboxFilters(
        **{name: request.GET.get(name, "").strip()[:100] for name in FILTER_FIELDS},
        # Cut well past the longest search, so that a longer one is refused, not shortened.
        q=request.GET.get("q", "").strip()[: 2 * search.MAX_QUERY_CHARS],
    )
    try:
        size = int(request.GET.get("size", "50"))
    except ValueError:
        size = 50
    size = size if size in PAGE_SIZES else 50
    search_error = ""
    try:
        page = selectors.inbox(
            user=me,
            queue=queue,
            filters=filters,
            sort=sort,
            cursor=request.GET.get("cursor") or None,
            limit=size,
        )
    except ValidationError as error:
        # The search cannot run: say why, keep what was typed, show no rows.
        search_error = str(error)
        page = selectors.InboxPage(
            rows=[], next_cursor=None, queue=queue, sort=sort, filters=filters
        )
    base_query = {"queue": queue, "sort": sort, "size": size, **filters.active()}
    context = {
        "page": page,
        "counts": selectors.queue_counts(user=me),
        "queues": [(q, selectors.QUEUE_LABELS[q]) for q in selectors.QUEUES],
        "filters": filters,
        "size": size,
        "page_sizes": PAGE_SIZES,
        "sorts": (("oldest", "Oldest first"), ("newest", "Newest first"), ("due", "Due first")),
        "next_url": (
            "?" + urlencode({**base_query, "cursor": page.next_cursor})
            if page.next_cursor
            else None
        ),
        "this_url": request.get_full_path(),
        "staff": selectors.staff(),
        "count_cap": selectors.COUNT_CAP,
        "search_error": search_error,
        "search_max": search.MAX_QUERY_CHARS,
        **_choices(),
    }
    template = "desk/_inbox_rows.html" if request.htmx.target == "inbox-rows" else "desk/inbox.html"  # type: ignore[attr-defined]
    response = render(request, template, context)
    # One URL, two answers (the rows for htmx, the page otherwise): a browser's cache must not
    # give the rows where the page was asked for (the back button).
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    return redirect(safe_next(request) or fallback)


def _ids(post: QueryDict) -> list[int]:
    ids = []
    for value in post.getlist("ids"):
        key = parse_id(value)
        if key is not None:
            ids.append(key)
    return ids[:500]


@staff_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One change to the selected conversations, through the single-change services."""
    me = _me(request)
    rows = selectors.conversations_for_bulk(user=me, pks=_ids(request.POST))
    action = request.POST.get("action", "")
    if not rows:
        messages.error(request, "Select at least one conversation.")
        return _back(request, reverse("desk:inbox"))
    options: dict[str, Any] = {}
    if action == "assign_me":
        options["assignee"] = me
    elif action == "assign":
        options["assignee"] = selectors.staff_get(pk=request.POST.get("assignee", ""))
    elif action == "unassign":
        options["unassign"] = True
    elif action == "status":
        options["status"] = request.POST.get("status", "")
    elif action in {"tag_add", "tag_remove"}:
        options["add_tag" if action == "tag_add" else "remove_tag"] = request.POST.get("tag", "")
    else:
        messages.error(request, "Choose what to do with the selected conversations.")
        return _back(request, reverse("desk:inbox"))
    try:
        count = workflow.bulk_apply(conversations=rows, actor=me, **options)
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Changed {count} conversation{'s' if count != 1 else ''}.")
    return _back(request, reverse("desk:inbox"))


@staff_required
@require_GET
def tag_autocomplete(request: HttpRequest) -> HttpResponse:
    tags = selectors.tags_matching(prefix=request.GET.get("q", "")[:100])
    return render(request, "desk/_tag_options.html", {"tags": tags})


# --- The conversation page ------------------------------------------------------------------


def _conversation_context(
    request: HttpRequest, conversation: Conversation, **extra: Any
) -> dict[str, Any]:
    me = _me(request)
    return {
        "c": conversation,
        "messages_": selectors.thread(user=me, conversation=conversation),
        "activities": selectors.activities(conversation=conversation),
        "tags": list(conversation.tags.order_by("name")),
        "suggestions": triage_selectors.suggestions_for(conversation=conversation),
        "others": selectors.merchant_other_conversations(conversation=conversation),
        "viewers": selectors.other_viewers(conversation=conversation, user=me),
        "macros": selectors.macros_for(user=me),
        "staff": selectors.staff(),
        "teams": selectors.teams(),
        "seen_message_id": selectors.latest_message_id(conversation=conversation),
        "draft": "",
        "draft_public": True,
        "macro": None,
        **_choices(),
        **extra,
    }


@staff_required
@require_GET
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    extra: dict[str, Any] = {}
    if request.GET.get("macro"):
        macro = selectors.macro_get(user=me, pk=request.GET["macro"])
        extra = {
            "macro": macro,
            "draft": workflow.macro_render(macro=macro, conversation=row, agent=me),
        }
    return render(request, "desk/conversation.html", _conversation_context(request, row, **extra))


@staff_required
@require_GET
def macro_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The macro's text for this conversation, to drop into the reply box (htmx)."""
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    macro = selectors.macro_get(user=me, pk=request.GET.get("macro", ""))
    text = workflow.macro_render(macro=macro, conversation=row, agent=me)
    return render(request, "desk/_reply_box.html", {"c": row, "draft": text, "macro": macro})


@staff_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a reply or add a note. If the merchant (or anyone) wrote since the page was
    loaded, or another agent has it open, the reply waits for a second "send anyway". A reply
    that comes back keeps its text; its files no page can keep, so it asks for them again."""
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    body = request.POST.get("body", "")
    public = request.POST.get("mode", "reply") != "note"
    then_status = request.POST.get("then_status") or None
    macro = (
        selectors.macro_get(user=me, pk=request.POST["macro"])
        if request.POST.get("macro")
        else None
    )
    try:
        seen = int(request.POST.get("seen_message_id", "0"))
    except ValueError:
        seen = 0
    newest = selectors.latest_message_id(conversation=row)
    viewers = selectors.other_viewers(conversation=row, user=me)
    confirmed = request.POST.get("confirm") == "1"
    if public and not confirmed and (newest > seen or viewers):
        warning = []
        if newest > seen:
            warning.append("New messages arrived since you opened this conversation.")
        if viewers:
            names = ", ".join(v.get_full_name() for v in viewers)
            warning.append(f"{names} also has this conversation open.")
        context = _conversation_context(
            request,
            row,
            draft=body,
            draft_public=public,
            macro=macro,
            collision=" ".join(warning) + " Read them, then send again.",
            then_status=then_status or "",
            seen_message_id=newest,
            files_dropped=bool(request.FILES),
        )
        return render(request, "desk/conversation.html", context, status=409)
    try:
        workflow.reply_post(
            conversation=row,
            author=me,
            body=body,
            public=public,
            files=request.FILES.getlist("attachments"),
            then_status=then_status,
            macro=macro,
        )
    except ValidationError as error:
        context = _conversation_context(
            request,
            row,
            draft=body,
            draft_public=public,
            macro=macro,
            reply_error=str(error),
            files_dropped=bool(request.FILES),
        )
        return render(request, "desk/conversation.html", context, status=400)
    messages.success(request, "Reply sent." if public else "Note added.")
    return redirect("desk:conversation", pk=row.pk)


def _change(request: HttpRequest, pk: int, apply: Any, done: str) -> HttpResponse:
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    try:
        apply(me, row)
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("desk:conversation", pk=row.pk)


@staff_required
@require_POST
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    status = request.POST.get("status", "")
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_change_status(conversation=c, status=status, actor=me),
        "Status changed.",
    )


@staff_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    value = request.POST.get("assignee", "")

    def apply(me: User, c: Conversation) -> None:
        if value == "me":
            target: User | None = me
        elif value in {"", "none"}:
            target = None
        else:
            target = selectors.staff_get(pk=value)
        workflow.conversation_assign(conversation=c, assignee=target, actor=me)

    return _change(request, pk, apply, "Assignee changed.")


@staff_required
@require_POST
def set_team(request: HttpRequest, pk: int) -> HttpResponse:
    value = request.POST.get("team", "")

    def apply(me: User, c: Conversation) -> None:
        key = parse_id(value)
        team = Team.objects.filter(pk=key).first() if key is not None else None
        if value and team is None:
            raise ValidationError("no such team")
        workflow.conversation_set_team(conversation=c, team=team, actor=me)

    return _change(request, pk, apply, "Team changed.")


@staff_required
@require_POST
def change_kind(request: HttpRequest, pk: int) -> HttpResponse:
    kind = request.POST.get("kind", "")
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_change_kind(conversation=c, kind=kind, actor=me),
        "Kind changed.",
    )


@staff_required
@require_POST
def change_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    outcome = request.POST.get("outcome", "") or None
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_change_outcome(
            conversation=c, outcome=outcome, actor=me
        ),
        "Outcome recorded.",
    )


@staff_required
@require_POST
def change_priority(request: HttpRequest, pk: int) -> HttpResponse:
    priority = request.POST.get("priority", "")
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_change_priority(
            conversation=c, priority=priority, actor=me
        ),
        "Priority changed.",
    )


@staff_required
@require_POST
def set_references(request: HttpRequest, pk: int) -> HttpResponse:
    refs = {
        name: request.POST.get(name, "") for name in ("order_ref", "product_ref", "invoice_ref")
    }
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_set_references(conversation=c, actor=me, **refs),
        "References saved.",
    )


@staff_required
@require_POST
def tag_add(request: HttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("tag", "")
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_add_tag(conversation=c, name=name, actor=me),
        "Tag added.",
    )


@staff_required
@require_POST
def tag_remove(request: HttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("tag", "")
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_remove_tag(conversation=c, name=name, actor=me),
        "Tag removed.",
    )


@staff_required
@require_POST
def set_spam(request: HttpRequest, pk: int) -> HttpResponse:
    spam = request.POST.get("spam") == "1"
    return _change(
        request,
        pk,
        lambda me, c: workflow.conversation_set_spam(conversation=c, spam=spam, actor=me),
        "Marked as spam." if spam else "No longer spam.",
    )


@staff_required
@require_POST
def presence(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled by the open conversation page: records the viewer, returns who else is here
    and whether new messages arrived."""
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    workflow.viewer_touch(conversation=row, user=me)
    try:
        seen = int(request.POST.get("seen_message_id", "0"))
    except ValueError:
        seen = 0
    return render(
        request,
        "desk/_presence.html",
        {
            "viewers": selectors.other_viewers(conversation=row, user=me),
            "new_messages": selectors.latest_message_id(conversation=row) > seen,
            "c": row,
        },
    )


@staff_required
@require_GET
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponseBase:
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    return attachment_response(
        selectors.attachment_get(user=me, conversation=row, pk=attachment_pk)
    )


# --- Outreach -------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def outreach(request: HttpRequest) -> HttpResponse:
    """Support writes first; the merchant is asked to answer within the 7-day rule."""
    me = _me(request)
    form = OutreachForm(request.POST or None, initial={"merchant": request.GET.get("merchant", "")})
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        merchant = Merchant.objects.filter(external_id=data["merchant"]).first()
        team = Team.objects.filter(pk=data["team"]).first() if data["team"] else None
        if merchant is None:
            form.add_error("merchant", "No merchant has this id.")
        else:
            try:
                row = workflow.outreach_open(
                    agent=me,
                    merchant=merchant,
                    kind=data["kind"],
                    subject=data["subject"],
                    body=data["body"],
                    team=team,
                )
            except ValidationError as problem:
                error = str(problem)
            else:
                messages.success(request, f"Sent. {merchant} is asked to answer by the deadline.")
                return redirect("desk:conversation", pk=row.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "desk/outreach.html",
        {"form": form, "error": error, "reply_days": settings.SELLERDESK_MERCHANT_REPLY_DAYS},
        status=status,
    )


# --- Macros ---------------------------------------------------------------------------------


@lead_required
@require_GET
def macro_list(request: HttpRequest) -> HttpResponse:
    rows = Macro.objects.select_related("team").order_by("name")
    return render(
        request,
        "desk/macros.html",
        {"macros": rows, "placeholders": workflow.MACRO_PLACEHOLDERS},
    )


@lead_required
@require_http_methods(["GET", "POST"])
def macro_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    me = _me(request)
    macro = None
    if pk is not None:
        macro = Macro.objects.filter(pk=pk).first()
        if macro is None:
            from django.http import Http404

            raise Http404("no such macro")
    initial = (
        {
            "name": macro.name,
            "body": macro.body,
            "add_tags": macro.add_tags,
            "set_status": macro.set_status,
            "team": macro.team_id or "",
        }
        if macro
        else {}
    )
    form = MacroForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        team = Team.objects.filter(pk=data["team"]).first() if data["team"] else None
        try:
            workflow.macro_save(
                actor=me,
                name=data["name"],
                body=data["body"],
                add_tags=data["add_tags"],
                set_status=data["set_status"],
                team=team,
                macro=macro,
            )
        except ValidationError as problem:
            error = str(problem)
        else:
            messages.success(request, "Macro saved.")
            return redirect("desk:macros")
    return render(
        request,
        "desk/macro_edit.html",
        {
            "form": form,
            "macro": macro,
            "error": error,
            "placeholders": workflow.MACRO_PLACEHOLDERS,
        },
        status=400 if request.method == "POST" else 200,
    )
