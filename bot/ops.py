"""Operations endpoints on 127.0.0.1: `/healthz` (JSON) and `/metrics` (Prometheus text)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.storage.store import SqlStore
from bot.storage.tables import DecisionRow, OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollSource:
    """One platform connection the service polls, and how to read its health."""

    name: str  # "telegram" or "vk:<group id>"
    last_success: Callable[[], float | None]  # wall time of the last good poll
    errors: Callable[[], int]
    stale_after: float  # seconds without a good poll before the service is unhealthy


@dataclass
class Snapshot:
    """The state /healthz and /metrics report, read once per request."""

    inbox_unprocessed: int
    outbox: dict[str, int]
    decisions: dict[str, int]
    actions: dict[tuple[str, str], int]
    polls: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Every platform polled recently."""
        return all(p["fresh"] for p in self.polls.values())


async def snapshot(store: SqlStore, sources: Sequence[PollSource], now: float) -> Snapshot:
    """Read queue depths and counters from the database and poll state from the runners."""
    async with store.begin() as uow:
        unprocessed = await uow.inbox.count(processed=False)
        outbox = {state.value: n for state, n in (await uow.outbox.counts_by_state()).items()}
        labels = await uow.session.execute(
            select(DecisionRow.label, func.count()).group_by(DecisionRow.label)
        )
        decisions = {str(label): int(count) for label, count in labels}
        by_kind = select(OutboxRow.kind, OutboxRow.state, func.count()).group_by(
            OutboxRow.kind, OutboxRow.state
        )
        actions = {(str(k), str(s)): int(n) for k, s, n in await uow.session.execute(by_kind)}
    return Snapshot(
        unprocessed,
        outbox,
        decisions,
        actions,
        {source.name: _poll_state(source, now) for source in sources},
    )


def _poll_state(source: PollSource, now: float) -> dict[str, Any]:
    last = source.last_success()
    age = None if last is None else round(now - last, 1)
    fresh = age is not None and age <= source.stale_after
    return {"last_success": last, "age_seconds": age, "errors": source.errors(), "fresh": fresh}


def health_body(state: Snapshot) -> dict[str, Any]:
    """The /healthz document."""
    return {
        "status": "ok" if state.healthy else "degraded",
        "platforms": state.polls,
        "queues": {"inbox_unprocessed": state.inbox_unprocessed, "outbox": state.outbox},
    }


def metrics_text(state: Snapshot) -> str:
    """The Prometheus exposition of a snapshot."""
    lines: list[str] = []
    _metric(
        lines,
        "smmbot_inbox_unprocessed",
        "gauge",
        "Messages stored but not yet decided",
        [({}, state.inbox_unprocessed)],
    )
    _metric(
        lines,
        "smmbot_outbox_actions",
        "gauge",
        "Planned actions by state",
        [({"state": s}, n) for s, n in sorted(state.outbox.items())],
    )
    _metric(
        lines,
        "smmbot_decisions_total",
        "counter",
        "Decisions by primary label",
        [({"label": label}, n) for label, n in sorted(state.decisions.items())],
    )
    _metric(
        lines,
        "smmbot_actions_total",
        "counter",
        "Actions by kind and result",
        [({"kind": k, "state": s}, n) for (k, s), n in sorted(state.actions.items())],
    )
    polls = sorted(state.polls.items())
    _metric(
        lines,
        "smmbot_platform_last_poll_timestamp_seconds",
        "gauge",
        "Wall time of the last successful poll",
        [({"platform": name}, p["last_success"] or 0) for name, p in polls],
    )
    _metric(
        lines,
        "smmbot_platform_errors_total",
        "counter",
        "Failed platform calls",
        [({"platform": name}, p["errors"]) for name, p in polls],
    )
    return "\n".join(lines) + "\n"


def _metric(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: list[tuple[dict[str, str], float]],
) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class OpsServer:
    """Serves /healthz and /metrics on 127.0.0.1 (never on a public interface)."""

    def __init__(self, store: SqlStore, sources: Sequence[PollSource], port: int) -> None:
        self._store, self._sources, self.port = store, list(sources), port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; port 0 picks a free port (then `self.port` tells which)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("health and metrics on http://127.0.0.1:%s/", self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        state = await snapshot(self._store, self._sources, time.time())
        return web.json_response(health_body(state), status=200 if state.healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        state = await snapshot(self._store, self._sources, time.time())
        return web.Response(text=metrics_text(state), content_type="text/plain", charset="utf-8")
