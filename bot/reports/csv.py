"""CSV export: one row per community and day, one per moderator, one per question group."""

from __future__ import annotations

import csv
from pathlib import Path

from bot.reports.model import LABELS, Facts, Report, median, percentile

DAY_COLUMNS = [
    "community",
    "day",
    "messages",
    *LABELS,
    "spam_removed",
    "users_banned",
    "questions",
    "auto_answered",
    "questions_escalated",
    "questions_unanswered",
    "escalations",
    "resolved",
    "resolution_median_s",
    "resolution_p90_s",
    "first_response_median_s",
    "first_response_in_hours_median_s",
    "first_response_off_hours_median_s",
    "negative_share",
]


def write(report: Report, folder: Path) -> list[Path]:
    """Write days.csv, moderators.csv and questions.csv; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    days = [[c, d.isoformat(), *_figures(f)] for (c, d), f in sorted(report.cells.items())]
    moderators = [
        [m.moderator_id, m.name, m.resolved, _number(median(m.resolution_times)), m.feedback]
        for m in report.moderators
    ]
    questions = [
        [
            g.answer_id,
            g.size,
            " | ".join(g.keywords),
            " | ".join(g.examples),
            " | ".join(g.communities),
        ]
        for g in report.questions
    ]
    return [
        _table(folder / "days.csv", DAY_COLUMNS, days),
        _table(
            folder / "moderators.csv",
            ["moderator_id", "name", "resolved", "resolution_median_s", "feedback"],
            moderators,
        ),
        _table(
            folder / "questions.csv",
            ["answer_id", "size", "keywords", "examples", "communities"],
            questions,
        ),
    ]


def _figures(f: Facts) -> list[object]:
    return [
        f.messages,
        *(f.labels.get(label, 0) for label in LABELS),
        f.spam_removed,
        f.users_banned,
        f.questions,
        f.auto_answered,
        f.questions_escalated,
        f.questions_unanswered,
        f.escalations,
        f.resolved,
        _number(median(f.resolution_times)),
        _number(percentile(f.resolution_times, 90)),
        _number(median(f.response_times)),
        _number(median(f.response_in_hours)),
        _number(median(f.response_off_hours)),
        _number(f.negative_share, 4),
    ]


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _table(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    # utf-8-sig: spreadsheet programs then read Cyrillic correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
