from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def count_label(counts: dict[str, int], key: str, cap: int) -> str:
    """A queue's count, "1000+" at the cap."""
    value = counts.get(key, 0)
    return f"{cap}+" if value >= cap else str(value)
