"""Run the report's queries in two concurrent read transactions; fold rows into a `Report`."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bot.core.rules import BusinessHours, RuleSet
from bot.reports import fold, queries
from bot.reports.clusters import Embedder, group_questions
from bot.reports.fold import HoursFor, Key
from bot.reports.model import Facts, ModeratorLoad, Period, Report
from bot.reports.queries import Scope, fetch
from bot.storage.store import SqlStore

Rows = dict[str, Sequence[Any]]


async def build_report(
    store: SqlStore,
    period: Period,
    *,
    community: str | None = None,
    rules: RuleSet | None = None,
    language: str = "en",
    embedder: Embedder | None = None,
) -> Report:
    """Every figure of the report for a period, read in two concurrent transactions."""
    scope = Scope(period.start, period.end, community, store.engine.dialect.name)
    rows: Rows = {}
    for lane in await asyncio.gather(*(_read(store, scope, lane) for lane in _LANES)):
        rows.update(lane)
    async with store.begin() as uow:
        names = await _names(uow.session, _resolved_by(rows))
    groups = group_questions([(c, text) for c, text in rows["unanswered"]], embedder)
    return Report(
        period=period,
        language=rules.language if rules is not None else language,
        cells=_cells(rows, rules),
        moderators=_moderators(rows, names),
        questions=tuple(groups.groups),
        business_hours_known=_has_hours(rules),
        grouped_by=groups.embedder,
    )


Lane = tuple[tuple[str, Callable[[Scope], queries.Query]], ...]
# Two read transactions side by side, of about equal cost: SQLite in WAL mode and PostgreSQL both
# serve concurrent readers, and the aggregates are CPU-bound. Their snapshots may differ by the
# instant between the two starts, which a report can live with.
_LANES: tuple[Lane, ...] = (
    (
        ("labels", queries.label_counts),
        ("actions", queries.action_counts),
        ("escalations", queries.escalation_counts),
    ),
    (
        ("responses", queries.first_responses),
        ("resolutions", queries.resolution_times),
        ("unanswered", queries.unanswered_questions),
        ("feedback", queries.feedback_counts),
    ),
)


async def _read(store: SqlStore, scope: Scope, lane: Lane) -> Rows:
    async with store.begin() as uow:
        return {name: await fetch(uow.session, query(scope)) for name, query in lane}


def _cells(rows: dict[str, Sequence[Any]], rules: RuleSet | None) -> dict[Key, Facts]:
    cells = fold.Cells()
    fold.fold_labels(cells, rows["labels"])
    fold.fold_actions(cells, rows["actions"])
    fold.fold_escalations(cells, rows["escalations"])
    fold.fold_resolution_times(cells, rows["resolutions"])
    fold.fold_responses(cells, rows["responses"], _hours_for(rules))
    return cells.freeze()


def _hours_for(rules: RuleSet | None) -> HoursFor:
    """Business hours per community name; communities unknown to rules.yaml get the global ones."""
    known = {c.name for c in rules.communities} if rules is not None else set()

    def hours(community: str) -> BusinessHours | None:
        if rules is None:
            return None
        if community in known:
            return rules.for_community(community).business_hours
        return rules.business_hours

    return hours


def _has_hours(rules: RuleSet | None) -> bool:
    if rules is None:
        return False
    return rules.business_hours is not None or any(c.business_hours for c in rules.communities)


def _resolved_by(rows: Rows) -> dict[tuple[int, str], int]:
    """Escalations resolved per (moderator, resolution)."""
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for _c, _d, _label, _resolved, resolution, by, n in rows["escalations"]:
        if by is not None:
            counts[(int(by), resolution or "?")] += int(n)
    return counts


async def _names(session: Any, resolved: dict[tuple[int, str], int]) -> dict[int, str]:
    ids = sorted({by for by, _ in resolved})
    if not ids:
        return {}
    return {int(uid): str(name) for uid, name in await fetch(session, queries.user_names(ids))}


def _moderators(rows: Rows, names: dict[int, str]) -> tuple[ModeratorLoad, ...]:
    resolutions: dict[int, dict[str, int]] = defaultdict(dict)
    for (by, resolution), n in _resolved_by(rows).items():
        resolutions[by][resolution] = n
    times: dict[int, list[float]] = defaultdict(list)
    for _community, _received, by, took in rows["resolutions"]:
        times[int(by)].append(float(took))
    labelled = {int(by): int(n) for by, n in rows["feedback"]}
    loads = [
        ModeratorLoad(
            uid,
            names.get(uid, ""),
            resolutions.get(uid, {}),
            tuple(fold.seconds(np.asarray(times.get(uid, []), float)).tolist()),
            labelled.get(uid, 0),
        )
        for uid in set(resolutions) | set(labelled)
    ]
    return tuple(sorted(loads, key=lambda m: (-m.resolved, -m.feedback, m.moderator_id)))
