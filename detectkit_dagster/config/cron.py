"""Cron expressions as Dagster schedules them: five fields, checked when the metric file loads.

Dagster refuses a bad cron string only when the code location loads, naming no file; here the
same rules give one line naming the field, the value and what is allowed.
"""

from __future__ import annotations

import re

ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names for 'lowest', 'lowest + 1', ...)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
_PART = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")


def check_cron(text: str) -> str:
    """`text` unchanged when Dagster can schedule it, else ValueError saying which field is wrong."""
    value = text.strip()
    if value.lower() in ALIASES:
        return text
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"cron {text!r} must have 5 fields (minute hour day-of-month month day-of-week), "
                         f"like '*/10 * * * *', or be one of {', '.join(ALIASES)}")
    days = months = None
    for (name, low, high, names), field in zip(FIELDS, fields):
        allowed = _allowed(name, low, high, names)
        values = set()
        for part in field.lower().split(","):
            found = _values(part, low, high, names)
            if found is None:
                raise ValueError(f"cron {text!r}: {name} field {field!r} is not valid; {allowed}")
            values |= found
        if name == "day of month":
            days = values
        elif name == "month":
            months = values
    if months == {2} and days and min(days) > 29:
        raise ValueError(f"cron {text!r} names a day of February that never comes")
    return text


def _allowed(name: str, low: int, high: int, names: tuple[str, ...]) -> str:
    words = f" or {names[0].upper()}-{names[-1].upper()}" if names else ""
    return f"use *, numbers {low}-{high}{words}, ranges (a-b), steps (*/n, a-b/n) and lists (a,b)"


def _number(token: str, low: int, names: tuple[str, ...]) -> int | None:
    if token.isdigit():
        return int(token)
    return names.index(token) + low if token in names else None


def _values(part: str, low: int, high: int, names: tuple[str, ...]) -> set[int] | None:
    """The values one comma-separated part selects, or None when it is not valid."""
    match = _PART.match(part)
    if match is None:
        return None
    star, first, last, step = match.groups()
    if step is not None and int(step) < 1:
        return None
    if star:
        start, stop = low, high
    else:
        start = _number(first, low, names)
        stop = start if last is None else _number(last, low, names)
        if start is None or stop is None or not low <= start <= stop <= high:
            return None
        if step is not None and last is None:
            stop = high  # 'a/n': from a to the end in steps of n
    return set(range(start, stop + 1, int(step or 1)))
