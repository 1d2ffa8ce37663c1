"""Chaos soak: `smmbot run` under a steady stream of real texts, injected faults and SIGKILLs.

    python -m benchmarks.soak [--events 10000] [--rate 40] [--kills 5] [--workers 1|2]
                              [--database sqlite|postgres] [--seed 7]

FakeTelegram and FakeVK run in this process; the service runs as `python -m bot.cli run`
subprocesses, so a kill is a real SIGKILL with no cleanup. When everything is pushed and the
service has drained its inbox and outbox, the emulators' records are compared with the database:
nothing sent may be missing from the inbox, and no reply or strike may count twice. Actions left
`uncertain` (the process died during the call) are counted, never repeated, and allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.harness import peak_memory_kb, service_env, spawn
from benchmarks.soak_chaos import Chaos
from benchmarks.soak_check import Performed, telegram_performed, vk_performed
from benchmarks.soak_db import Database, database_url, drop_schema, open_database
from benchmarks.soak_report import FLOOD_DEFERRED, Report, build_report
from benchmarks.soak_texts import Corpus, Text
from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from bot.adapters.sandbox.vk import FakeVK

VK_GROUP = 77
# Telegram allows a bot ~20 messages a minute per group: 48 groups keep that from dominating.
GROUPS = tuple(-1001000000100 - n for n in range(48))
WALL_POSTS = (11, 12, 13, 14, 15)
# Each spammer posts in one place, so repeat offenders collect strikes and get banned; one in
# four is on VK, whose user token (wall deletes, bans) allows only ~3 requests a second.
SPAMMERS = len(GROUPS) + 16
CUSTOMERS = 3000
START_WITHIN = 90.0  # seconds for the first process to poll: a failure guard only
STOP_WITHIN = 40.0
DEFERRED_AFTER = timedelta(seconds=60)
FAQ_REPLY = "Доставка 2–5 дней / Delivery takes 2–5 days"


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    events: int = 10000
    rate: float = 40.0
    kills: int = 5
    workers: int = 1
    database: str = "sqlite"
    seed: int = 7
    settle_within: float = 600.0  # seconds to drain after the last push: a failure guard


@dataclass(frozen=True, slots=True)
class Pushed:
    """One event handed to an emulator."""

    key: tuple[str, int, int]  # (platform, chat_id, message_id) as the inbox stores it
    category: str
    at: float  # wall clock, comparable with the emulators' call times


def rules_yaml() -> str:
    """Every group and the VK community; spam deleted and banned on the 2nd strike, one FAQ."""
    groups = [f"  - {{name: tg {n}, telegram: {{chat_id: {c}}}}}" for n, c in enumerate(GROUPS)]
    return "\n".join(
        [
            "version: 1",
            "language: ru",
            "communities:",
            *groups,
            f"  - {{name: Shop VK, vk: {{group_id: {VK_GROUP}}}, private_messages: true}}",
            "spam:",
            "  review_threshold: null",  # no escalations: no moderators' chat in this soak
            "  stop_words: [заработок без вложений]",
            "  strikes: {ban_after: 2, punishment: ban}",
            "negative: {action: ignore}",
            "questions:",
            "  unanswered: ignore",
            "  answers:",
            "    - id: delivery",
            "      keywords: [доставк, delivery, deliver, shipping]",
            f"      reply: '{FAQ_REPLY}'",
            "limits: {replies_per_user_per_hour: 100}",
        ]
    )


class Sender:
    """Turns drawn texts into emulator events across chats, users and both platforms."""

    def __init__(self, telegram: FakeTelegram, vk: FakeVK, rng: random.Random) -> None:
        self.telegram, self.vk, self.rng = telegram, vk, rng
        self.chaos: Chaos | None = None  # VK pushes wait while it stages a `failed: 1`

    def author(self, text: Text) -> int:
        if text.category == "spam":
            return 900_000 + self.rng.randrange(SPAMMERS)
        return 100_000 + self.rng.randrange(CUSTOMERS)

    def push(self, text: Text) -> Pushed:
        vk_paused = self.chaos is not None and self.chaos.vk_paused
        if text.category == "spam":
            return self._spam(text, vk_paused)
        roll = self.rng.random()
        if roll < 0.55 or vk_paused:
            return self._telegram(text)
        if roll < 0.9:
            return self._wall(text)
        return self._dialog(text)

    def _spam(self, text: Text, vk_paused: bool) -> Pushed:
        # Spammer n keeps to one place: Telegram group n for the first ones, VK for the rest.
        spammer = self.author(text) - 900_000
        if spammer < len(GROUPS) or vk_paused:
            return self._telegram(text, GROUPS[spammer % len(GROUPS)])
        return self._wall(text) if spammer % 2 else self._dialog(text)

    def _telegram(self, text: Text, chat: int | None = None) -> Pushed:
        chat, user = chat or self.rng.choice(GROUPS), self.author(text)
        message = self.telegram.push_message(chat, make_user(user, f"User {user}"), text.text)
        key = ("telegram", chat, message["message"]["message_id"])
        return Pushed(key, text.category, time.time())

    def _wall(self, text: Text) -> Pushed:
        post = self.rng.choice(WALL_POSTS)
        event = self.vk.wall_reply_new(post, self.author(text), text.text)
        return Pushed(("vk", -VK_GROUP, int(event["object"]["id"])), text.category, time.time())

    def _dialog(self, text: Text) -> Pushed:
        user = self.author(text)
        message = self.vk.message_new(user, text.text)["object"]["message"]
        key = ("vk", user, int(message["conversation_message_id"]))
        return Pushed(key, text.category, time.time())


@dataclass
class Fleet:
    """The service processes: started, SIGKILLed and restarted, finally stopped with SIGTERM."""

    envs: list[dict[str, str]]
    cwd: Path
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    peak_kb: int = 0
    kills: int = 0
    exit_codes: list[int] = field(default_factory=list)
    crashes: list[int] = field(default_factory=list)  # exit codes of unprovoked exits

    async def start(self) -> None:
        self.procs = [await self._spawn(n) for n in range(len(self.envs))]

    async def _spawn(self, worker: int) -> asyncio.subprocess.Process:
        return await spawn(self.envs[worker], self.cwd, log_name=f"service-{worker}.log")

    def _measure(self) -> None:
        for proc in self.procs:
            self.peak_kb = max(self.peak_kb, peak_memory_kb(proc.pid))

    async def kill_and_restart(self, rng: random.Random) -> None:
        """SIGKILL one worker at this moment (no shutdown at all) and start it again."""
        worker = rng.randrange(len(self.procs))
        self._measure()
        self.note_crashes()
        self.procs[worker].kill()
        await self.procs[worker].wait()
        self.kills += 1
        self.procs[worker] = await self._spawn(worker)

    async def stop(self) -> None:
        """SIGTERM every worker: a graceful shutdown must end with exit code 0."""
        self._measure()
        self.note_crashes()
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                self.exit_codes.append(await asyncio.wait_for(proc.wait(), STOP_WITHIN))
            except TimeoutError:
                proc.kill()
                self.exit_codes.append(await proc.wait())

    def running(self) -> bool:
        return any(proc.returncode is None for proc in self.procs)

    def note_crashes(self) -> None:
        """A worker that exited without being killed is a finding of its own."""
        for proc in self.procs:
            if proc.returncode is not None:
                self.crashes.append(proc.returncode)


# ------------------------------------------------------------------------------- the run


async def drive(options: Options, sender: Sender, corpus: Corpus, pushed: list[Pushed]) -> None:
    """Push `events` texts at a steady `rate` (an absolute schedule, so pauses do not drift).

    Appends to `pushed` as it goes: the chaos task reads it to know what VK has to catch up on.
    """
    start = time.monotonic()
    for n in range(options.events):
        delay = start + n / options.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pushed.append(sender.push(corpus.draw()))


async def kill_on_schedule(options: Options, fleet: Fleet, rng: random.Random) -> None:
    """SIGKILL a worker at `kills` random moments of the push window, restarting it each time."""
    window = options.events / options.rate
    start = time.monotonic()
    for moment in sorted(rng.uniform(0.05, 0.95) * window for _ in range(options.kills)):
        await asyncio.sleep(max(0.0, start + moment - time.monotonic()))
        await fleet.kill_and_restart(rng)


async def vk_stored(db: Database) -> int:
    """Customer events from VK in the inbox (the bot's own comments come back with author < 0)."""
    return int(
        await db.value("SELECT count(*) FROM inbox WHERE platform = 'vk' AND author_id > 0")
    )


async def settle(db: Database, pushed: int, within: float) -> bool:
    """Wait until every event is stored and decided and no action is due or running."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stored = await db.value("SELECT count(*) FROM inbox WHERE author_id > 0")
        open_rows = await db.value("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
        if stored >= pushed and open_rows == 0 and not await due_actions(db):
            return True
        await asyncio.sleep(1.0)
    return False


async def due_actions(db: Database) -> int:
    """Actions running or due soon. Rows held back by VK flood control (error 9: a minute,
    doubling up to 10 while it recurs) are reported as deferred rather than waited for,
    however soon the pause ends; so are rows due later than DEFERRED_AFTER."""
    soon = datetime.now(UTC) + DEFERRED_AFTER
    rows = await db.rows(
        "SELECT state, next_attempt_at FROM outbox "
        f"WHERE state IN ('pending', 'in_flight') AND NOT ({FLOOD_DEFERRED})"
    )
    return sum(1 for state, due in rows if state == "in_flight" or _utc(due) < soon)


def _utc(value: datetime | str | None) -> datetime:
    # SQLite hands back naive UTC text, PostgreSQL an aware datetime.
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Soak:
    """One soak run: emulators, service processes, database reader, chaos and the tallies."""

    options: Options
    tmp: Path
    telegram: FakeTelegram
    vk: FakeVK
    db: Database
    fleet: Fleet
    rng: random.Random
    report: Report = field(default_factory=Report)
    pushed: list[Pushed] = field(default_factory=list)

    async def run(self) -> Report:
        sender, corpus = Sender(self.telegram, self.vk, self.rng), Corpus(self.rng)

        async def caught_up() -> bool:
            return await vk_stored(self.db) >= sum(1 for p in self.pushed if p.key[0] == "vk")

        chaos = Chaos(self.telegram, self.vk, self.rng, caught_up)
        sender.chaos = chaos
        await self.fleet.start()
        await self._ready()
        stop_chaos = asyncio.Event()
        chaos_task = asyncio.create_task(chaos.run(stop_chaos))
        killer = asyncio.create_task(kill_on_schedule(self.options, self.fleet, self.rng))
        await drive(self.options, sender, corpus, self.pushed)
        await killer
        stop_chaos.set()
        await chaos_task
        return await self._finish(chaos)

    async def _ready(self) -> None:
        """Both platforms polled: a fresh start reads VK from "now", so earlier events are gone."""
        await self.telegram.wait_for_calls("getUpdates", within=START_WITHIN)
        deadline = time.monotonic() + START_WITHIN
        while not self.vk.calls_to("groups.getLongPollServer"):
            if time.monotonic() > deadline:
                raise TimeoutError("the service never opened the VK long poll")
            await asyncio.sleep(0.1)

    async def _finish(self, chaos: Chaos) -> Report:
        settled = await settle(self.db, len(self.pushed), self.options.settle_within)
        await self.fleet.stop()
        performed = Performed()
        telegram_performed(self.telegram, GROUPS, performed)
        vk_performed(self.vk, performed)
        report = await build_report(self.db, self.pushed, performed, self.report)
        if not settled:
            report.notes.append(f"not drained within {self.options.settle_within:.0f} s")
        report.notes.append(
            f"kills: {self.fleet.kills}, exit codes at SIGTERM {self.fleet.exit_codes}, "
            f"unprovoked exits {self.fleet.crashes}"
        )
        report.notes.append(f"peak memory (VmHWM): {self.fleet.peak_kb / 1024:.0f} MB")
        report.notes.append(
            "faults injected: "
            + ", ".join(f"{name} {n}" for name, n in sorted(chaos.injected.items()))
        )
        report.settled = settled
        return report


# ------------------------------------------------------------------------------- the command


def parse(argv: Sequence[str] | None) -> tuple[Path | None, Options]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=40.0, help="events per second")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--settle-within", type=float, default=600.0)
    parser.add_argument("--dir", type=Path, help="keep the database and logs here")
    args = parser.parse_args(argv)
    return args.dir, Options(
        args.events,
        args.rate,
        args.kills,
        args.workers,
        args.database,
        args.seed,
        args.settle_within,
    )


async def run_soak(options: Options, tmp: Path, keep: bool = False) -> Report:
    """Start the emulators, prepare the database and run one soak in `tmp`.

    A PostgreSQL schema is dropped afterwards unless `keep` (it is kept with `--dir`).
    """
    url = database_url(options.database, tmp)
    try:
        return await _soak_in(options, tmp, url)
    finally:
        if not keep:
            await drop_schema(url)


async def _soak_in(options: Options, tmp: Path, url: str) -> Report:
    async with FakeTelegram() as telegram, FakeVK(group_id=VK_GROUP, max_wait=0.5) as vk:
        for n, chat in enumerate(GROUPS):
            telegram.add_chat(chat, title=f"tg {n}")
        env = service_env(tmp, rules_yaml(), telegram, vk, database_url=url)
        await prepare_database(env, tmp)
        db = open_database(url)
        # Each worker names itself in the platform leases; a restarted one is the same worker.
        envs = [env | {"SMMBOT_WORKER_ID": f"soak-{n}"} for n in range(options.workers)]
        fleet = Fleet(envs, tmp)
        try:
            soak = Soak(options, tmp, telegram, vk, db, fleet, random.Random(options.seed))
            return await soak.run()
        finally:
            if fleet.running():
                await fleet.stop()
            await db.close()


async def prepare_database(env: dict[str, str], tmp: Path) -> None:
    """`smmbot db upgrade` first, as an operator would (several workers must not race to it)."""
    proc = await spawn(env, tmp, "db", "upgrade", log_name="upgrade.log")
    if await proc.wait() != 0:
        raise RuntimeError((tmp / "upgrade.log").read_text())


async def soak_main(options: Options, tmp: Path | None = None) -> Report:
    """Run a soak and print its report; the short CI test calls this directly."""
    if options.workers > 1 and options.database != "postgres":
        raise SystemExit("--workers 2 needs --database postgres (SQLite is one process)")
    with tempfile.TemporaryDirectory(prefix="smmbot-soak-") as scratch:
        where = tmp or Path(scratch)
        report = await run_soak(options, where, keep=tmp is not None)
        for line in report.lines():
            print(line)
        print(f"RESULT {'ok' if report.ok else 'FAIL'}")
        if not report.ok:
            print(f"service logs: {where} (kept only with --dir)")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    where, options = parse(argv)
    if where is not None:
        where.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(soak_main(options, where))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
