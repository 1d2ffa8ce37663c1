"""Time `smmbot report` on a generated database: 1,000,000 messages over 90 days.

    python -m benchmarks.report                      # SQLite file in /tmp, built once and reused
    python -m benchmarks.report --messages 200000 \
        --url postgresql+asyncpg://postgres@127.0.0.1/test

The data is random but shaped like a busy shop: four labels, spam deletions and bans, answered
and escalated questions, moderators resolving most escalations within hours.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.core.rules import RuleSet
from bot.reports.build import build_report
from bot.reports.clusters import CharNgramEmbedder
from bot.reports.html import render as render_html
from bot.reports.model import Period
from bot.reports.text import render as render_text
from bot.storage.store import SqlStore, create_store
from bot.storage.tables import DecisionRow, EscalationRow, InboxRow, OutboxRow

DAYS = 90
BATCH = 20_000
END = datetime(2026, 11, 1, tzinfo=UTC)
COMMUNITIES = ("Tea & Co chat", "Tea & Co channel comments", "Tea & Co VK")
LABEL_WEIGHTS = {"other": 0.5, "question": 0.28, "spam": 0.14, "negative": 0.08}
QUESTIONS = (
    "Сколько идёт доставка в {}?",
    "Есть ли {} в наличии?",
    "How long is shipping to {}?",
    "Do you sell {} gift cards?",
    "Можно оплатить картой {}?",
)
MODERATORS = (900001, 900002, 900003)
# Business hours make the report split response times in and out of hours, as in production.
RULES = RuleSet.model_validate(
    {
        "version": 1,
        "communities": [
            {"name": name, "telegram": {"chat_id": -100 - i}} for i, name in enumerate(COMMUNITIES)
        ],
        "business_hours": {"timezone": "Europe/Moscow", "start": "09:00", "end": "18:00"},
    }
)


def rows_for(n: int, rng: random.Random) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Batches of rows for every table, message ids 1..n."""
    batch: dict[str, list[dict[str, Any]]] = {
        "inbox": [],
        "decisions": [],
        "outbox": [],
        "escalations": [],
    }
    for i in range(1, n + 1):
        _message(i, n, rng, batch)
        if i % BATCH == 0 or i == n:
            yield batch
            batch = {name: [] for name in batch}


def _message(i: int, n: int, rng: random.Random, batch: dict[str, list[dict[str, Any]]]) -> None:
    at = END - timedelta(days=DAYS) + timedelta(seconds=DAYS * 86400 * i / n)
    label = rng.choices(list(LABEL_WEIGHTS), weights=list(LABEL_WEIGHTS.values()))[0]
    text = rng.choice(QUESTIONS).format(rng.choice(("Казань", "Berlin", "пуэр", "Visa")))
    batch["inbox"].append(
        {
            "id": i,
            "event_key": f"bench:{i}",
            "platform": "telegram",
            "community": COMMUNITIES[i % 3],
            "chat_id": -100 - i % 3,
            "message_id": i,
            "author_id": rng.randrange(50_000),
            "text": text if label == "question" else "hi",
            "message": {},
            "received_at": at,
            "processed_at": at,
        }
    )
    batch["decisions"].append(
        {
            "inbox_id": i,
            "rule_id": label,
            "label": label,
            "labels": [label],
            "reason": "bench",
            "dry_run": False,
            "scores": {},
            "created_at": at,
        }
    )
    _actions(i, at, label, rng, batch)


def _actions(
    i: int, at: datetime, label: str, rng: random.Random, batch: dict[str, list[dict[str, Any]]]
) -> None:
    if label == "spam":
        _outbox(batch, i, "delete", "spam-delete", at + timedelta(seconds=1))
        if rng.random() < 0.2:
            _outbox(batch, i, "ban", "spam-ban", at + timedelta(seconds=2))
    elif label == "question" and rng.random() < 0.6:
        _outbox(batch, i, "reply", "answer-delivery", at + timedelta(seconds=rng.uniform(1, 5)))
    elif label in ("question", "negative"):
        _escalation(batch, i, at, rng)


def _outbox(
    batch: dict[str, list[dict[str, Any]]], i: int, kind: str, rule: str, done: datetime
) -> None:
    batch["outbox"].append(
        {
            "inbox_id": i,
            "idempotency_key": f"bench:{i}:{kind}",
            "kind": kind,
            "rule_id": rule,
            "payload": {},
            "state": "done",
            "created_at": done,
            "updated_at": done,
        }
    )


def _escalation(
    batch: dict[str, list[dict[str, Any]]], i: int, at: datetime, rng: random.Random
) -> None:
    resolved = rng.random() < 0.9
    took = timedelta(seconds=rng.expovariate(1 / 3600))
    batch["escalations"].append(
        {
            "inbox_id": i,
            "token": f"t{i}",
            "reason": "bench",
            "status": "resolved" if resolved else "open",
            "resolution": "reply" if resolved else None,
            "resolved_by": rng.choice(MODERATORS) if resolved else None,
            "resolved_at": at + took if resolved else None,
            "created_at": at,
        }
    )


TABLES = {
    "inbox": InboxRow,
    "decisions": DecisionRow,
    "outbox": OutboxRow,
    "escalations": EscalationRow,
}


async def fill(store: SqlStore, n: int) -> None:
    """Insert n messages with executemany batches (portable: no COPY)."""
    rng = random.Random(7)
    for number, batch in enumerate(rows_for(n, rng), 1):
        async with store.begin() as uow:
            for name, rows in batch.items():
                if rows:
                    await uow.session.execute(insert(TABLES[name]), rows)
        print(f"  inserted {min(number * BATCH, n):,} / {n:,}", end="\r", flush=True)
    print()


async def main(url: str, n: int) -> None:
    store = await create_store(url)
    async with store.begin() as uow:
        have = await uow.session.scalar(select(func.count()).select_from(InboxRow))
    if not have:
        started = time.perf_counter()
        await fill(store, n)
        print(f"generated {n:,} messages in {time.perf_counter() - started:.1f} s")
    else:
        print(f"reusing {have:,} messages in {url}")
    await _time(store, Period(END - timedelta(days=DAYS), END), "full report, 90 days")
    await _time(store, Period(END - timedelta(days=7), END), "last 7 days")
    await store.close()


async def _time(store: SqlStore, period: Period, what: str) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    report = await build_report(store, period, rules=RULES, embedder=CharNgramEmbedder())
    built = time.perf_counter() - started
    text, html = render_text(report), render_html(report)
    total = time.perf_counter() - started
    print(
        f"{what}: {report.total().messages:,} messages · queries+fold+grouping {built:.2f} s · "
        f"with text+HTML {total:.2f} s ({len(text):,} + {len(html):,} chars) · "
        f"CPU {time.process_time() - cpu:.2f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"sqlite+aiosqlite:///{Path('/tmp/smmbot-bench.db')}")
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.messages))
