"""Fold query rows into per-(community, day) tallies; the per-message rows go through numpy.

Hundreds of thousands of response times come back from SQL for the percentiles, so they are
grouped by sorting arrays rather than touched one by one in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from bot.core.rules import WEEKDAYS, BusinessHours
from bot.reports.model import QUESTION, Facts
from bot.reports.queries import as_date

Key = tuple[str, date]
HoursFor = Callable[[str], BusinessHours | None]
Floats = npt.NDArray[np.float64]
EPOCH_DAY = date(1970, 1, 1)
_SPAN = 10**8  # room for day numbers when packing (community, day) into one integer
IN_HOURS, OFF_HOURS = 1, 2


class Cells:
    """Mutable tallies per (community, day), frozen into `Facts` at the end."""

    def __init__(self) -> None:
        self._counts: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._lists: dict[Key, dict[str, tuple[float, ...]]] = defaultdict(dict)
        self._labels: dict[Key, dict[str, int]] = defaultdict(dict)

    def add(self, key: Key, name: str, n: int = 1) -> None:
        self._counts[key][name] += n

    def extend(self, key: Key, name: str, values: Floats) -> None:
        lists = self._lists[key]
        lists[name] = lists.get(name, ()) + tuple(values.tolist())

    def label(self, key: Key, label: str, n: int) -> None:
        self._labels[key][label] = self._labels[key].get(label, 0) + n

    def freeze(self) -> dict[Key, Facts]:
        keys = set(self._counts) | set(self._lists) | set(self._labels)
        return {key: self._facts(key) for key in keys}

    def _facts(self, key: Key) -> Facts:
        labels = dict(self._labels.get(key, {}))
        lists = self._lists.get(key, {})
        return Facts(labels=labels, **self._counts.get(key, {}), **lists)  # type: ignore[arg-type]


def seconds(values: Floats) -> Floats:
    """Durations rounded to milliseconds: SQLite's julianday arithmetic is off by microseconds."""
    return np.maximum(np.round(values, 3), 0.0)


@lru_cache(maxsize=4096)
def day_number(days_since_epoch: int) -> date:
    """The UTC calendar day of a day count since 1970-01-01."""
    return EPOCH_DAY + timedelta(days=days_since_epoch)


def fold_labels(cells: Cells, rows: Iterable[Any]) -> None:
    """(community, day, label, n) rows."""
    for community, day, label, n in rows:
        cells.label((community, as_date(day)), label, int(n))


def fold_actions(cells: Cells, rows: Iterable[Any]) -> None:
    """(community, day, kind, is_answer, n, authors) rows of executed actions."""
    for community, day, kind, is_answer, n, authors in rows:
        key = (community, as_date(day))
        if kind == "delete":
            cells.add(key, "spam_removed", int(n))
        elif kind in ("ban", "mute"):
            # One author banned twice on a day is still one user kept out.
            cells.add(key, "users_banned", int(authors))
        elif kind == "reply" and is_answer:
            cells.add(key, "auto_answered", int(n))


def fold_escalations(cells: Cells, rows: Iterable[Any]) -> None:
    """(community, day, label, resolved, resolution, moderator, n) rows."""
    for community, day, label, resolved, _resolution, _by, n in rows:
        key = (community, as_date(day))
        cells.add(key, "escalations", int(n))
        if label == QUESTION:
            cells.add(key, "questions_escalated", int(n))
        if resolved:
            cells.add(key, "resolved", int(n))


def fold_resolution_times(cells: Cells, rows: Sequence[Any]) -> None:
    """(community, received epoch, moderator, seconds) rows."""
    if rows:
        communities, received, _by, took = zip(*rows, strict=True)
        minutes = np.asarray(received, dtype=np.float64) // 60
        for key, (times,) in segments(communities, minutes, seconds(np.asarray(took, float))):
            cells.extend(key, "resolution_times", times)


def fold_responses(cells: Cells, rows: Sequence[Any], hours_for: HoursFor) -> None:
    """(community, received epoch, first response epoch) rows, split by business hours."""
    if not rows:
        return
    communities, received, first = zip(*rows, strict=True)
    start = np.asarray(received, dtype=np.float64)
    delay = seconds(np.asarray(first, dtype=np.float64) - start)
    where = _business_hours(communities, start, hours_for)
    for key, (times, place) in segments(communities, start // 60, delay, where):
        cells.extend(key, "response_times", times)
        cells.extend(key, "response_in_hours", times[place == IN_HOURS])
        cells.extend(key, "response_off_hours", times[place == OFF_HOURS])


def segments(
    communities: Sequence[str], minutes: Floats, *columns: npt.NDArray[Any]
) -> Iterator[tuple[Key, list[npt.NDArray[Any]]]]:
    """Rows grouped by (community, UTC day), with the matching slices of each column."""
    names, index = np.unique(np.asarray(communities, dtype=object), return_inverse=True)
    keys = index.astype(np.int64) * _SPAN + (minutes // 1440).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    for begin, end in zip(starts, [*starts[1:], len(order)], strict=True):
        key = int(ordered[begin])
        rows = order[begin:end]
        yield (str(names[key // _SPAN]), day_number(key % _SPAN)), [c[rows] for c in columns]


def _business_hours(
    communities: Sequence[str], epochs: Floats, hours_for: HoursFor
) -> npt.NDArray[np.int8]:
    """IN_HOURS, OFF_HOURS or 0 (no business hours known) per row."""
    names, index = np.unique(np.asarray(communities, dtype=object), return_inverse=True)
    places = np.zeros(len(epochs), dtype=np.int8)
    for number, name in enumerate(names):
        hours = hours_for(str(name))
        if hours is not None:
            rows = index == number
            places[rows] = np.where(inside_hours(hours, epochs[rows]), IN_HOURS, OFF_HOURS)
    return places


def inside_hours(hours: BusinessHours, epochs: Floats) -> npt.NDArray[np.bool_]:
    """`decide.in_business_hours` for many moments at once (seconds since 1970, UTC).

    The zone's offset is looked up once per distinct UTC hour: offsets change on whole hours.
    """
    zone = ZoneInfo(hours.timezone)
    hour, inverse = np.unique((epochs // 3600).astype(np.int64), return_inverse=True)
    offsets = np.asarray([_offset(zone, int(h)) for h in hour], dtype=np.float64)
    local = epochs + offsets[inverse]
    weekday = ((local // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    second = local % 86400
    days = [WEEKDAYS.index(day) for day in hours.days]
    start, end = _second_of_day(hours.start), _second_of_day(hours.end)
    return np.isin(weekday, days) & (second >= start) & (second < end)


def _offset(zone: ZoneInfo, hour: int) -> float:
    offset = datetime.fromtimestamp(hour * 3600, zone).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _second_of_day(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
