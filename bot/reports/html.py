"""A self-contained HTML report: inline CSS and SVG charts drawn here, no scripts, no network.

Every chart element carries its exact number in `data-*` attributes and a `<title>` tooltip, so
readers can hover and tests can check the drawing against the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from html import escape

import numpy as np

from bot.i18n import t
from bot.reports.clusters import answer_stub
from bot.reports.model import LABELS, Facts, Report, median, negative_trend
from bot.reports.text import day_headers, duration, moderator_lines, percent, points, summary

WIDTH, HEIGHT, PAD = 640, 240, 30
COLOURS = {"spam": "#d9534f", "negative": "#f0ad4e", "question": "#5bc0de", "other": "#9aa5b1"}
# Upper bounds (seconds) of the response-time histogram's buckets; the last one is open.
BUCKETS = (60, 300, 900, 3600, 4 * 3600, 86400)
BUCKET_NAMES = ("< 1 min", "1–5 min", "5–15 min", "15–60 min", "1–4 h", "4–24 h", "> 1 d")

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:12px;color:#222}
h1{font-size:1.35em}figure{margin:0}
h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:4px}
svg{width:100%;height:auto;display:block;background:#fafafa;border-radius:6px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px}
.table{overflow-x:auto}table{border-collapse:collapse;font-size:.9em}
td,th{padding:3px 8px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
td:first-child,th:first-child{text-align:left}pre{background:#f4f4f4;padding:8px;overflow-x:auto}
.legend span{display:inline-block;margin-right:10px}.legend i{display:inline-block;width:10px;
height:10px;margin-right:4px}
"""


def render(report: Report) -> str:
    """The whole report as one HTML document."""
    lang = report.language
    days = report.period.days()
    title = t("report-title", lang, start=days[0], end=days[-1])
    body = "\n".join(
        [
            f"<h1>{escape(title)}</h1>",
            *_sections(report),
            *_moderators(report),
            *_questions(report),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
        "</body></html>\n"
    )


def _sections(report: Report) -> Iterator[str]:
    yield '<div class="charts">'
    by_day = report.by_day()
    yield _figure(t("report-chart-labels", report.language), label_bars(by_day, report.language))
    yield _figure(
        t("report-chart-response", report.language),
        response_histogram(report.total().response_times),
    )
    yield _figure(t("report-chart-negative", report.language), negative_line(by_day))
    yield "</div>"
    names: Sequence[str | None] = report.communities()
    for name in [*names, *([None] if len(names) != 1 else [])]:
        yield from _community(report, name)


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def _community(report: Report, name: str | None) -> Iterator[str]:
    lang = report.language
    facts = report.community(name) if name is not None else report.total()
    yield f"<h2>{escape(name or t('report-all', lang))}</h2><ul>"
    for line in summary(facts, lang, report.business_hours_known):
        yield f"<li>{escape(line.strip())}</li>"
    trend = points(negative_trend(report.by_day(name)))
    share = percent(facts.negative_share)
    yield f"<li>{escape(t('report-negative', lang, share=share, trend=trend))}</li></ul>"
    yield _day_table(report, name)


def _day_table(report: Report, name: str | None) -> str:
    lang = report.language
    heads = day_headers(lang)
    rows = [_cells(day, f) for day, f in report.by_day(name).items() if f.messages]
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f'<div class="table"><table><tr>{head}</tr>{body}</table></div>'


def _cells(day: date, f: Facts) -> list[object]:
    return [
        day.isoformat(),
        *(f.labels.get(label, 0) for label in LABELS),
        f.spam_removed,
        f.users_banned,
        f.auto_answered,
        f.escalations,
        f.resolved,
        duration(median(f.response_times)),
    ]


def _svg(inner: str, name: str) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">{inner}</svg>'
    )


def _axis() -> str:
    bottom = HEIGHT - PAD
    return f'<line x1="{PAD}" y1="{bottom}" x2="{WIDTH - 5}" y2="{bottom}" stroke="#888"/>'


def label_bars(by_day: dict[date, Facts], lang: str = "en") -> str:
    """Stacked bars: one column per day, one segment per label, heights ∝ messages."""
    top = max((f.messages for f in by_day.values()), default=0) or 1
    slot = (WIDTH - PAD - 5) / max(len(by_day), 1)
    scale = (HEIGHT - 2 * PAD) / top
    parts = [_axis(), _legend(lang), _scale(str(top)), *_day_ticks(sorted(by_day), slot)]
    for i, (day, facts) in enumerate(sorted(by_day.items())):
        x, y = PAD + i * slot + slot * 0.1, float(HEIGHT - PAD)
        for label in LABELS:
            value = facts.labels.get(label, 0)
            if value:
                y -= value * scale
                parts.append(_bar(x, y, slot * 0.8, value * scale, label, day, value))
    return _svg("".join(parts), "labels")


def _bar(x: float, y: float, w: float, h: float, label: str, day: date, value: int) -> str:
    return (
        f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
        f'fill="{COLOURS.get(label, "#777")}" data-day="{day}" data-label="{label}" '
        f'data-value="{value}"><title>{day} {label}: {value}</title></rect>'
    )


def _legend(lang: str) -> str:
    items = [
        f'<rect x="{PAD + i * 110}" y="6" width="10" height="10" fill="{COLOURS[label]}"/>'
        f'<text x="{PAD + i * 110 + 14}" y="15" font-size="12">'
        f"{escape(t(f'label-{label}', lang))}</text>"
        for i, label in enumerate(LABELS)
    ]
    return "".join(items)


def _scale(top: str) -> str:
    """The value at the top of the plot area, so bar heights can be read."""
    return (
        f'<text x="{PAD - 4}" y="{PAD + 4}" font-size="11" text-anchor="end">{top}</text>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{WIDTH - 5}" y2="{PAD}" stroke="#ddd"/>'
    )


def _day_ticks(days: list[date], slot: float) -> list[str]:
    # About six dates under the axis: more would overlap on a phone.
    step = max(len(days) // 6, 1)
    return [
        f'<text x="{PAD + (i + 0.5) * slot:.2f}" y="{HEIGHT - 10}" font-size="11" '
        f'text-anchor="middle">{day:%m-%d}</text>'
        for i, day in enumerate(days)
        if i % step == 0
    ]


def histogram(times: Sequence[float]) -> list[int]:
    """How many response times fall in each of `BUCKET_NAMES` (a bucket excludes its limit)."""
    slots = np.searchsorted(np.asarray(BUCKETS, dtype=np.float64), np.asarray(times), "right")
    return [int(n) for n in np.bincount(slots, minlength=len(BUCKET_NAMES))]


def response_histogram(times: Sequence[float]) -> str:
    """Bars of response times per bucket, heights ∝ message counts."""
    counts = histogram(times)
    slot = (WIDTH - PAD - 5) / len(counts)
    scale = (HEIGHT - 2 * PAD) / (max(counts) or 1)
    parts = [_axis(), _scale(str(max(counts)))]
    for i, (name, n) in enumerate(zip(BUCKET_NAMES, counts, strict=True)):
        x, h = PAD + i * slot + slot * 0.1, n * scale
        parts.append(
            f'<rect class="hist" x="{x:.2f}" y="{HEIGHT - PAD - h:.2f}" width="{slot * 0.8:.2f}" '
            f'height="{h:.2f}" fill="#5b8def" data-bucket="{name}" data-count="{n}">'
            f"<title>{name}: {n}</title></rect>"
            f'<text x="{x:.2f}" y="{HEIGHT - 10}" font-size="10">{name}</text>'
        )
    return _svg("".join(parts), "response")


def negative_line(by_day: dict[date, Facts]) -> str:
    """The negative share per day as a line; days without messages are left out."""
    points_ = [(day, f.negative_share) for day, f in sorted(by_day.items()) if f.messages]
    top = max((share or 0.0 for _, share in points_), default=0.0) or 1.0
    slot = (WIDTH - PAD - 5) / max(len(by_day), 1)
    index = {day: i for i, day in enumerate(sorted(by_day))}
    coords = [
        (
            PAD + (index[day] + 0.5) * slot,
            HEIGHT - PAD - (share or 0.0) / top * (HEIGHT - 2 * PAD),
            day,
            share or 0.0,
        )
        for day, share in points_
    ]
    line = " ".join(f"{x:.2f},{y:.2f}" for x, y, _, _ in coords)
    dots = "".join(
        f'<circle class="point" cx="{x:.2f}" cy="{y:.2f}" r="4" fill="#d9534f" '
        f'data-day="{day}" data-share="{share:.4f}"><title>{day}: {share * 100:.1f} %</title>'
        "</circle>"
        for x, y, day, share in coords
    )
    polyline = f'<polyline points="{line}" fill="none" stroke="#d9534f" stroke-width="2"/>'
    ticks = "".join(_day_ticks(sorted(by_day), slot))
    return _svg(_axis() + _scale(f"{top * 100:.0f} %") + ticks + polyline + dots, "negative")


def _moderators(report: Report) -> Iterator[str]:
    lines = list(moderator_lines(report))[1:]
    yield f"<h2>{escape(lines[0].rstrip(':'))}</h2><ul>"
    yield from (f"<li>{escape(line.strip())}</li>" for line in lines[1:])
    yield "</ul>"


def _questions(report: Report) -> Iterator[str]:
    lang = report.language
    heading = t("report-unanswered", lang, embedder=report.grouped_by or "–")
    yield f"<h2>{escape(heading)}</h2>"
    if not report.questions:
        yield f"<p>{escape(t('report-none', lang))}</p>"
    for group in report.questions:
        heading = t("report-group", lang, count=group.size, keywords=", ".join(group.keywords))
        stub = answer_stub(group, t("report-stub-reply", lang))
        yield f'<h3 data-size="{group.size}">{escape(heading)}</h3><pre>{escape(stub)}</pre>'
