"""Small presentation helpers shared by every app's templates."""
from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value: timedelta | float | None) -> str:
    """'2h 05m', '3m 07s', '12s' from a timedelta or seconds."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def percent_of(value, total) -> float:
    """value as a percentage of total, for bar widths."""
    try:
        return 100.0 * float(value) / float(total) if float(total) else 0.0
    except (TypeError, ValueError):
        return 0.0
