"""Staff pages for report editions and improvements (team leads and admins)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sellerdesk.accounts.models import User
from sellerdesk.core.access import lead_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import parse_id
from sellerdesk.reports import present, selectors, services
from sellerdesk.reports.forms import EditionForm, ImprovementForm, split
from sellerdesk.reports.models import Improvement


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@lead_required
@require_GET
def edition_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/editions.html", {"editions": selectors.editions_for_staff()})


@lead_required
@require_http_methods(["GET", "POST"])
def edition_new(request: HttpRequest) -> HttpResponse:
    form = EditionForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            edition = services.edition_create(actor=_me(request), **data)
        except ValidationError as exc:
            error = str(exc)
        else:
            messages.success(request, "Draft created: review the figures below.")
            return redirect("reports:edition", pk=edition.pk)
    return render(request, "reports/edition_new.html", {"form": form, "error": error})


@lead_required
@require_http_methods(["GET", "POST"])
def edition(request: HttpRequest, pk: int) -> HttpResponse:
    """Review a draft beside the previous edition and write its words; a published edition
    is shown read-only."""
    row = selectors.edition_get_for_staff(pk=pk)
    error = ""
    if request.method == "POST":
        topics = [t["name"] for t in row.config.get("topic", [])]
        ids = [parse_id(v) for v in request.POST.getlist("improvements")]
        try:
            if any(i is None for i in ids):
                raise ValidationError("an improvement picked is not a number")
            services.edition_update(
                actor=_me(request),
                edition=row,
                title=request.POST.get("title", ""),
                intro=request.POST.get("intro", ""),
                descriptions={
                    name: request.POST.get(f"topic-{index}", "")
                    for index, name in enumerate(topics)
                },
                improvement_ids=[i for i in ids if i is not None],
            )
        except ValidationError as exc:
            error = str(exc)
        else:
            messages.success(request, "Edition saved.")
            return redirect("reports:edition", pk=row.pk)
    previous = selectors.previous_edition(edition=row)
    context: dict[str, Any] = present.edition_context(row)
    picked = set(row.improvements.values_list("pk", flat=True))
    topics = [
        (index, t["name"], row.descriptions.get(t["name"], ""))
        for index, t in enumerate(row.config.get("topic", []))
    ]
    return render(
        request,
        "reports/edition_review.html",
        {
            **context,
            "error": error,
            "previous": previous,
            "comparison": present.comparison(row, previous),
            "topic_fields": topics,
            "all_improvements": [(i, i.pk in picked) for i in selectors.improvements_all()],
        },
    )


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    row = selectors.edition_get_for_staff(pk=pk)
    try:
        result = action(actor=_me(request), edition=row)
    except ValidationError as exc:
        messages.error(request, str(exc))
        return redirect("reports:edition", pk=row.pk)
    messages.success(request, done)
    return redirect("reports:edition", pk=result.pk)


@lead_required
@require_POST
def edition_recompute(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.edition_recompute, "Figures computed again.")


@lead_required
@require_POST
def edition_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.edition_publish, "Published: the edition is now public.")


@lead_required
@require_POST
def edition_correct(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.edition_correct, "A correction is drafted as a new version.")


# --- Improvements ---------------------------------------------------------------------------


@lead_required
@require_GET
def improvement_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "reports/improvements.html", {"improvements": selectors.improvements_all()}
    )


@lead_required
@require_http_methods(["GET", "POST"])
def improvement_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    row: Improvement | None = selectors.improvement_get_for_staff(pk=pk) if pk is not None else None
    initial: dict[str, Any] = {}
    if row:
        initial = {
            "title": row.title,
            "description": row.description,
            "status": row.status,
            "planned_on": row.planned_on,
            "started_on": row.started_on,
            "done_on": row.done_on,
            "tags": ", ".join(row.tags),
            "topics": ", ".join(row.topics),
            "segments": ", ".join(row.segments),
        }
    form = ImprovementForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.improvement_save(
                actor=_me(request),
                title=data["title"],
                description=data["description"],
                status=data["status"],
                planned_on=data["planned_on"],
                started_on=data["started_on"],
                done_on=data["done_on"],
                tags=split(data["tags"]),
                topics=split(data["topics"]),
                segments=split(data["segments"]),
                improvement=row,
            )
        except ValidationError as exc:
            error = str(exc)
        else:
            messages.success(request, "Improvement saved.")
            return redirect("reports:improvement_edit", pk=saved.pk)
    return render(
        request,
        "reports/improvement_edit.html",
        {
            "form": form,
            "error": error,
            "row": row,
            "effect_rows": present.effect_rows(row.effect) if row else [],
        },
    )


@lead_required
@require_POST
def improvement_measure(request: HttpRequest, pk: int) -> HttpResponse:
    row = selectors.improvement_get_for_staff(pk=pk)
    try:
        services.improvement_measure(actor=_me(request), improvement=row)
    except ValidationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Effect measured.")
    return redirect("reports:improvement_edit", pk=row.pk)
