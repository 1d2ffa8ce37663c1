"""Human durations in rules.yaml ("30m", "2h", "1d", "1w") and their inverse."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(value: object) -> timedelta:
    """Turn "30m", "12h", "7d", "1w" or a number of seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit such as 30m, 12h, 7d")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use a number and a unit: 30m, 12h, 7d, 1w")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNITS[unit])


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration, e.g. 90 minutes → "90m"."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
