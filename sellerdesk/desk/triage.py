"""Triage in the desk: accepting or rejecting a suggestion on the conversation page (agents),
and the triage page (leads and admins): the model's held-out figures, per-tag auto-apply
thresholds, and topic discovery over untagged conversations. No model runs here: suggestions
and embeddings come from the worker, the page only reads and clusters stored vectors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from sellerdesk.accounts.models import User
from sellerdesk.conversations import selectors
from sellerdesk.core.access import lead_required, staff_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.triage import selectors as triage_selectors
from sellerdesk.triage import services


def _me(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _decide(request: HttpRequest, pk: int, sid: int, accept: bool) -> HttpResponse:
    me = _me(request)
    row = selectors.conversation_get(user=me, pk=pk)
    suggestion = triage_selectors.suggestion_get(conversation=row, pk=sid)
    decide = services.suggestion_accept if accept else services.suggestion_reject
    try:
        decide(suggestion=suggestion, conversation=row, actor=me)
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Suggestion accepted." if accept else "Suggestion rejected.")
    return redirect("desk:conversation", pk=row.pk)


@staff_required
@require_POST
def suggestion_accept(request: HttpRequest, pk: int, sid: int) -> HttpResponse:
    return _decide(request, pk, sid, accept=True)


@staff_required
@require_POST
def suggestion_reject(request: HttpRequest, pk: int, sid: int) -> HttpResponse:
    return _decide(request, pk, sid, accept=False)


#: The last day a period can cover: the page reads the period up to the midnight after its
#: last day, and the calendar holds none after 9999-12-31.
LAST_DAY = date.max - timedelta(days=1)


def _day(value: str, default: date, label: str, errors: list[str]) -> date:
    """The day a field names (its default when empty or not a date); a day past ``LAST_DAY``
    is refused with a message naming the field, and the default is used instead."""
    try:
        day = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    if day > LAST_DAY:
        errors.append(
            f"{label}: {day.isoformat()} is past the last day a period can cover "
            f"({LAST_DAY.isoformat()})."
        )
        return default
    return day


@lead_required
@require_GET
def triage_page(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    errors: list[str] = []
    start = _day(request.GET.get("from", ""), today - timedelta(days=30), "From", errors)
    end = _day(request.GET.get("to", ""), today, "To", errors)
    refused = bool(errors)
    segment = request.GET.get("segment", "")
    segment = segment if segment in settings.SELLERDESK_SEGMENTS else ""
    if end < start:
        errors.append("The period ends before it starts.")
        start, end = end, start
    try:
        clusters = min(max(int(request.GET.get("clusters", "8")), 2), 20)
    except ValueError:
        clusters = 8
    found = triage_selectors.discover(
        start=datetime.combine(start, time.min, tzinfo=UTC),
        end=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        segment=segment,
        clusters=clusters,
    )
    context: dict[str, Any] = {
        **triage_selectors.overview(),
        "found": found,
        "start": start,
        "end": end,
        "segment": segment,
        "segments": sorted(settings.SELLERDESK_SEGMENTS),
        "clusters": clusters,
        "errors": errors,
    }
    return render(request, "desk/triage.html", context, status=400 if refused else 200)


@lead_required
@require_POST
def tag_threshold(request: HttpRequest) -> HttpResponse:
    """Set or clear one tag's auto-apply threshold (a percentage; empty clears it)."""
    raw = request.POST.get("auto_apply_at", "").strip().rstrip("%")
    try:
        value = float(raw) / 100 if raw else None
    except ValueError:
        messages.error(request, f"Not a percentage: {raw[:20]!r}.")
        return redirect("desk:triage")
    try:
        services.tag_setting_set(
            actor=_me(request), tag_name=request.POST.get("tag", "")[:200], auto_apply_at=value
        )
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Auto-apply threshold saved.")
    return redirect("desk:triage")
