"""The terminal summary of a report: per community, then per day, moderators and questions."""

from __future__ import annotations

from collections.abc import Iterator

from bot.i18n import t
from bot.reports.clusters import answer_stub
from bot.reports.model import LABELS, Facts, Report, median, negative_trend, percentile


def duration(seconds: float | None) -> str:
    """A short human duration: 0.4 s, 45 s, 12 min, 3.5 h, 2.1 d; "–" when there is none."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"  # bot replies take well under a second; "0 s" would hide that
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(share: float | None) -> str:
    """A share as a percentage with one decimal; "–" when there is none."""
    return "–" if share is None else f"{share * 100:.1f} %"


def points(delta: float | None) -> str:
    """A change of a share in percentage points, signed."""
    return "–" if delta is None else f"{delta * 100:+.1f} pp"


def render(report: Report) -> str:
    """The whole report as plain text."""
    return "\n".join(_lines(report)) + "\n"


def _lines(report: Report) -> Iterator[str]:
    lang = report.language
    days = report.period.days()
    yield t("report-title", lang, start=days[0], end=days[-1])
    for name in report.communities():
        yield from _section(report, name, report.community(name))
    if len(report.communities()) != 1:
        yield from _section(report, None, report.total())
    yield from moderator_lines(report)
    yield from _questions(report)


def _section(report: Report, name: str | None, facts: Facts) -> Iterator[str]:
    lang = report.language
    yield ""
    yield f"== {name or t('report-all', lang)} =="
    yield from summary(facts, lang, report.business_hours_known)
    yield t(
        "report-negative",
        lang,
        share=percent(facts.negative_share),
        trend=points(negative_trend(report.by_day(name))),
    )
    yield from _day_table(report, name)


def summary(facts: Facts, lang: str, hours_known: bool) -> Iterator[str]:
    """The headline figures of one community (or all) over the period."""
    labels = " · ".join(
        f"{t(f'label-{label}', lang)} {facts.labels.get(label, 0)}" for label in _labels(facts)
    )
    yield t("report-messages", lang, count=facts.messages) + (f" ({labels})" if labels else "")
    yield t("report-moderation", lang, removed=facts.spam_removed, banned=facts.users_banned)
    yield t(
        "report-questions",
        lang,
        count=facts.questions,
        auto=facts.auto_answered,
        escalated=facts.questions_escalated,
        unanswered=facts.questions_unanswered,
    )
    yield t(
        "report-escalations",
        lang,
        count=facts.escalations,
        resolved=facts.resolved,
        median=duration(median(facts.resolution_times)),
        p90=duration(percentile(facts.resolution_times, 90)),
    )
    yield t(
        "report-response",
        lang,
        median=duration(median(facts.response_times)),
        count=len(facts.response_times),
    )
    if hours_known:
        yield t(
            "report-response-hours",
            lang,
            inside=duration(median(facts.response_in_hours)),
            outside=duration(median(facts.response_off_hours)),
        )


def _labels(facts: Facts) -> list[str]:
    # Known labels in their usual order, then anything a newer version may have added.
    return [*LABELS, *sorted(set(facts.labels) - set(LABELS))]


def day_headers(lang: str) -> list[object]:
    """Column titles of the per-day table (text and HTML share them)."""
    return [
        t("report-day", lang),
        *(t(f"label-{label}", lang) for label in LABELS),
        t("report-removed", lang),
        t("report-banned", lang),
        t("report-auto", lang),
        t("report-escalated", lang),
        t("report-resolved", lang),
        t("report-first-response", lang),
    ]


def _day_table(report: Report, name: str | None) -> Iterator[str]:
    lang = report.language
    table: list[list[object]] = [day_headers(lang)]
    table += [
        _day_row(day.isoformat(), facts)
        for day, facts in report.by_day(name).items()
        if facts.messages
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    yield t("report-per-day", lang) + ":"
    for row in table:
        yield "  " + "  ".join(
            str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)
        )


def _day_row(day: str, facts: Facts) -> list[object]:
    return [
        day,
        *(facts.labels.get(label, 0) for label in LABELS),
        facts.spam_removed,
        facts.users_banned,
        facts.auto_answered,
        facts.escalations,
        facts.resolved,
        duration(median(facts.response_times)),
    ]


def moderator_lines(report: Report) -> Iterator[str]:
    """A blank line, the heading, then one line per moderator."""
    lang = report.language
    yield ""
    yield t("report-moderators", lang) + ":"
    if not report.moderators:
        yield "  " + t("report-none", lang)
    for load in report.moderators:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(load.resolutions.items()))
        name = f"{load.name} ({load.moderator_id})" if load.name else str(load.moderator_id)
        yield "  " + t(
            "report-moderator",
            lang,
            name=name,
            resolved=load.resolved,
            kinds=kinds or "–",
            median=duration(median(load.resolution_times)),
            feedback=load.feedback,
        )


def _questions(report: Report) -> Iterator[str]:
    lang = report.language
    yield ""
    yield t("report-unanswered", lang, embedder=report.grouped_by or "–") + ":"
    if not report.questions:
        yield "  " + t("report-none", lang)
    for number, group in enumerate(report.questions, 1):
        yield f"  {number}. " + t(
            "report-group", lang, count=group.size, keywords=", ".join(group.keywords)
        )
        for line in answer_stub(group, t("report-stub-reply", lang)).splitlines():
            yield "     " + line
