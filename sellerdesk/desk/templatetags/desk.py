from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]
from django.utils.translation import gettext

from sellerdesk.conversations.models import Conversation, Kind, Priority

register = template.Library()


@register.simple_tag
def count_label(counts: dict[str, int], key: str, cap: int) -> str:
    """A queue's count, "1000+" past the cap (the count stops one past it)."""
    value = counts.get(key, 0)
    return f"{cap}+" if value > cap else str(value)


_MONTHS: dict[str, list[str]] = {}


def _months() -> list[str]:
    """Month abbreviations in the active language (Django's dateformat is slow per call)."""
    from django.utils.dates import MONTHS_3
    from django.utils.translation import get_language

    language = get_language() or ""
    if language not in _MONTHS:
        _MONTHS[language] = [""] + [str(MONTHS_3[m]).title() for m in range(1, 13)]
    return _MONTHS[language]


def _when(value: datetime, fmt: str) -> str:
    """``c`` (ISO 8601), ``j M Y H:i``, ``j M H:i`` or ``j M``, in the current time zone."""
    local = template_localtime(value)
    if fmt == "c":
        return str(local.isoformat())
    day = f"{local.day} {_months()[local.month]}"
    if fmt == "j M":
        return day
    if fmt == "j M H:i":
        return f"{day} {local:%H:%M}"
    return f"{day} {local.year} {local:%H:%M}"


def _time(value: datetime, fmt: str, title: str = "") -> SafeString:
    if title:
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', _when(value, "c"), title, _when(value, fmt)
        )
    return format_html('<time datetime="{}">{}</time>', _when(value, "c"), _when(value, fmt))


@register.simple_tag
def inbox_rows(
    rows: list[Conversation], desk_root: str, snippets: dict[int, SafeString] | None = None
) -> SafeString:
    """The inbox's table rows. Written out here rather than in a template loop: a page of
    100 rows costs the Django template engine ~150 node renders a row, this ~a tenth."""
    labels = {
        "select": gettext("Select"),
        "no_subject": gettext("(no subject)"),
        "breached": gettext("Breached"),
        "due_soon": gettext("Due soon"),
        "sla": gettext("Next service-level target"),
        "merchant": gettext("The merchant is asked to answer by then"),
        "merchant_by": gettext("merchant by"),
    }
    dash = mark_safe('<span class="muted">—</span>')
    out = []
    for c in rows:
        url = f"{desk_root}c/{c.pk}/"
        badges = [
            format_html(
                '<span class="badge{}">{}</span>',
                " complaint" if c.kind == Kind.COMPLAINT else "",
                c.get_kind_display(),
            )
        ]
        if c.priority != Priority.NORMAL:
            badges.append(format_html('<span class="badge">{}</span>', c.get_priority_display()))
        badges.append(format_html('<span class="badge">{}</span>', c.get_channel_display()))
        badges += [
            format_html('<span class="badge">{}</span>', t.display_name) for t in c.tags.all()
        ]
        found = (snippets or {}).get(c.pk)
        if found:
            # Escaped by conversations.search.snippet, hits in <mark>.
            badges.append(format_html('<div class="snippet">{}</div>', found))
        assignee = format_html("{}", c.assignee.get_full_name()) if c.assignee is not None else dash
        if c.team is not None:
            assignee = format_html('{}<div class="muted">{}</div>', assignee, c.team.name)
        due_parts = []
        state = c.sla_state()
        if state == "breached":
            due_parts.append(
                format_html('<span class="badge breached">{}</span>', labels["breached"])
            )
        elif state == "due_soon":
            due_parts.append(
                format_html('<span class="badge due-soon">{}</span>', labels["due_soon"])
            )
        if c.sla_due_at:
            due_parts.append(
                format_html("<div>{}</div>", _time(c.sla_due_at, "j M H:i", labels["sla"]))
            )
        if c.merchant_due_at:
            due_parts.append(
                format_html(
                    '<div class="muted"><time datetime="{}" title="{}">{} {}</time></div>',
                    _when(c.merchant_due_at, "c"),
                    labels["merchant"],
                    labels["merchant_by"],
                    _when(c.merchant_due_at, "j M"),
                )
            )
        if not c.sla_due_at and not c.merchant_due_at:
            due_parts.append(dash)
        out.append(
            format_html(
                '<tr data-row data-href="{url}">\n'
                '  <td><input type="checkbox" name="ids" value="{pk}" id="sel-{pk}" '
                'aria-label="{select} #{pk}"></td>\n'
                '  <td><a href="{url}">{subject}</a>\n    <div>{badges}</div></td>\n'
                '  <td>{merchant} <span class="muted">{country}</span></td>\n'
                '  <td><span class="badge status-{status}">{status_label}</span></td>\n'
                "  <td>{assignee}</td>\n"
                "  <td>{filed}</td>\n"
                "  <td>{due}</td>\n</tr>",
                url=url,
                pk=c.pk,
                select=labels["select"],
                subject=Truncator(c.subject or labels["no_subject"]).chars(90),
                badges=mark_safe("\n".join(badges)),  # noqa: S308 - built with format_html
                merchant=c.merchant.name or c.merchant.external_id,
                country=c.country,
                status=c.status,
                status_label=c.get_status_display(),
                assignee=assignee,
                filed=_time(c.created_at, "j M Y H:i"),
                due=mark_safe("\n".join(due_parts)),  # noqa: S308 - built with format_html
            )
        )
    return mark_safe("\n".join(out))  # noqa: S308 - every part built with format_html
