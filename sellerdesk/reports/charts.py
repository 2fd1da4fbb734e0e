"""Charts as SVG written on the server: no script, no CDN, a title and a description for
screen readers (the page also gives the same numbers as a table)."""

from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1f5fbf", "#d9822b", "#2e8b57", "#8a1c1c", "#6a4c9c", "#5b6475")
WIDTH, HEIGHT = 680, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 64


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover


def _axis(top: float, unit: str) -> list[str]:
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        label = f"{value:g}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ef"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    return parts


def _legend(names: list[str]) -> list[str]:
    parts = []
    x = LEFT
    y = HEIGHT - 14
    for index, name in enumerate(names):
        color = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{y}">{escape(name)}</text>'
        )
        # CJK and Hangul are about twice as wide as Latin letters at this size.
        x += 24 + sum(12 if ord(ch) >= 0x2E80 else 7 for ch in name)
    return parts


def _frame(chart_id: str, title: str, description: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 - every text in it is escaped above
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="chart" '
        f'font-family="system-ui, sans-serif" font-size="11" fill="#1d2330">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    months: list[str],
    series: list[tuple[str, list[float | None]]],
    unit: str,
) -> SafeString:
    """Grouped bars: one group per month, one bar per series."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    group = plot_w / max(len(months), 1)
    bar = group * 0.8 / max(len(series), 1)
    body = _axis(top, unit)
    for m, month in enumerate(months):
        x0 = LEFT + m * group + group * 0.1
        for s, (_name, vs) in enumerate(series):
            value = vs[m] if m < len(vs) else None
            h = plot_h * float(value or 0) / top
            body.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}"/>'
            )
        body.append(_month_label(LEFT + m * group + group / 2, month, len(months)))
    body += _legend([name for name, _ in series])
    return _frame(chart_id, title, description, body)


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    months: list[str],
    series: list[tuple[str, list[float | None]]],
    unit: str,
) -> SafeString:
    """One line per series; a month without a value leaves a gap."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(months), 1)
    body = _axis(top, unit)
    for s, (_name, vs) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        run: list[str] = []
        for m, value in enumerate(vs):
            if value is None:
                if len(run) > 1:
                    body.append(_polyline(run, color))
                run = []
                continue
            x = LEFT + m * step + step / 2
            y = TOP + plot_h - plot_h * float(value) / top
            run.append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        if len(run) > 1:
            body.append(_polyline(run, color))
    for m, month in enumerate(months):
        body.append(_month_label(LEFT + m * step + step / 2, month, len(months)))
    body += _legend([name for name, _ in series])
    return _frame(chart_id, title, description, body)


def _polyline(points: list[str], color: str) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2"/>'


def _month_label(x: float, month: str, count: int) -> str:
    y = HEIGHT - BOTTOM + 14
    if count > 12:
        return (
            f'<text x="{x:.1f}" y="{y}" text-anchor="end" '
            f'transform="rotate(-45 {x:.1f} {y})">{escape(month)}</text>'
        )
    return f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{escape(month)}</text>'
