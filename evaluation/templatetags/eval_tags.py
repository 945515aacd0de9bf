"""Formatting of metric values and intervals in eval and comparison pages."""
from django import template

register = template.Library()


@register.filter
def num(value, digits: int = 3) -> str:
    """A metric value with fixed decimals; an en dash when it does not apply."""
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def interval(cell, digits: int = 3) -> str:
    """'[lo, hi]' of a {mean, lo, hi, n} cell, blank when it has no values."""
    if not cell or cell.get("lo") is None:
        return ""
    return f"[{cell['lo']:.{int(digits)}f}, {cell['hi']:.{int(digits)}f}]"


@register.filter
def signed(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{float(value):+.{int(digits)}f}"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
