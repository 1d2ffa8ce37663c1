"""Pipeline throughput without the platforms: how fast messages are stored, decided and acted on.

    python -m benchmarks.pipeline [--messages 3000] [--database sqlite|postgres] [--profile N]

Real texts from ../shared/data (the soak's mix) go through the composed core (`build_core`:
storage, the default cascade, decisions) in 48 chats; actions go to an instant stand-in for the
platforms, so the figures are the service's own cost. It prints messages per second for intake
(`receive`, one transaction per message, as the platform runners do) and for processing
(classify, decide, plan, execute, audit), and with `--profile N` the N costliest functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.soak import rules_yaml
from benchmarks.soak_db import database_url
from benchmarks.soak_texts import Corpus
from bot.app import Core, build_core
from bot.core.model import (
    ActionResult,
    ChatRef,
    IncomingMessage,
    PlannedAction,
    Platform,
    UserRef,
)
from bot.core.ports import EscalationCard
from bot.rules_file import RulesSource
from bot.settings import load_settings
from bot.storage.migrate import upgrade

GROUPS = tuple(-1001000000100 - n for n in range(48))


class InstantPlatform:
    """Every action succeeds at once: the benchmark measures smmbot, not a network."""

    calls = 0

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        self.calls += 1
        return ActionResult(ok=True, platform_ref=f"{message.chat.chat_id}:{self.calls}")

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        return True


def messages(count: int, seed: int) -> list[IncomingMessage]:
    """`count` messages with the soak's mix of real texts, spread over the 48 groups."""
    rng = random.Random(seed)
    corpus = Corpus(rng)
    drawn = []
    for n in range(count):
        text, chat = corpus.draw(), rng.choice(GROUPS)
        author = 900_000 + rng.randrange(64) if text.category == "spam" else rng.randrange(3000)
        drawn.append(
            IncomingMessage(
                platform=Platform.TELEGRAM,
                event_key=f"tg:bench:{n}",
                community=f"tg {GROUPS.index(chat)}",
                chat=ChatRef(Platform.TELEGRAM, chat),
                message_id=n + 1,
                author=UserRef(Platform.TELEGRAM, author, f"User {author}"),
                text=text.text,
                date=datetime.now(UTC),
            )
        )
    return drawn


async def compose(kind: str, tmp: Path) -> tuple[Core, InstantPlatform]:
    """The real composition root on a fresh database."""
    rules = tmp / "rules.yaml"
    rules.write_text(rules_yaml(), encoding="utf-8")
    url = database_url(kind, tmp)
    if kind == "postgres":
        await upgrade(url)
    settings = load_settings({"SMMBOT_RULES": str(rules), "SMMBOT_DATABASE_URL": url})
    platform = InstantPlatform()
    core = await build_core(settings, RulesSource(rules), platform)
    return core, platform


async def measure(core: Core, batch: Sequence[IncomingMessage]) -> tuple[float, float]:
    """Seconds to receive every message, then seconds to process and execute them all."""
    started = time.perf_counter()
    for message in batch:
        await core.pipeline.receive(message)
    received = time.perf_counter()
    await core.pipeline.drain()
    return received - started, time.perf_counter() - received


async def run(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="smmbot-bench-") as tmp:
        core, platform = await compose(options.database, Path(tmp))
        try:
            await measure(core, messages(50, seed=1))  # warm the models and the connections
            batch = messages(options.messages, seed=options.seed)
            profiler = cProfile.Profile() if options.profile else None
            if profiler:
                profiler.enable()
            intake, processing = await measure(core, batch)
            if profiler:
                profiler.disable()
        finally:
            await core.close()
    count = len(batch)
    print(f"database: {options.database}, messages: {count}, actions: {platform.calls - 0}")
    print(f"intake:     {count / intake:8.1f} msg/s ({intake:.1f} s)")
    print(f"processing: {count / processing:8.1f} msg/s ({processing:.1f} s)")
    if profiler:
        print(_top(profiler, options.profile))


def _top(profiler: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(count)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
