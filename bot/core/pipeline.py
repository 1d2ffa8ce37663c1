"""The pipeline: persist → classify → decide → plan actions in an outbox → execute → audit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.answers import match_answer
from bot.core.decide import Situation, decide, is_trusted
from bot.core.language import guess_language
from bot.core.model import (
    ActionKind,
    ActionResult,
    AuthorStats,
    Decision,
    IncomingMessage,
    Label,
    Outcome,
    PlannedAction,
    Verdict,
)
from bot.core.ports import (
    Actions,
    AuditEntry,
    Clock,
    EscalationCard,
    OutboxItem,
    OutboxState,
    ScoringEngine,
    Store,
    UnitOfWork,
)
from bot.core.rules import EffectiveRules, RuleSet
from bot.core.sanitize import clean_value, sanitized

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_BACKOFF = timedelta(minutes=5)
# Longer than any platform call can take (bounded retries and retry_after waits included):
# an action in flight for longer was started by a worker that died and never came back.
STALE_IN_FLIGHT = timedelta(minutes=15)
RECOVERY_EVERY = 60.0  # seconds between looks for such actions
# Deleting or banning failed for good: a human must look instead.
FALLBACK_KINDS = frozenset({ActionKind.DELETE, ActionKind.BAN, ActionKind.MUTE})


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Tunables of the worker loop."""

    batch_size: int = 32
    idle_wait: float = 1.0  # seconds between checks for due retries when nothing wakes us
    dry_run: bool = False  # forced by `smmbot run --dry-run`, on top of rules.yaml
    worker_id: str = "local"  # owner of the actions this process starts (see recover())
    # Chats whose actions run at once. Each is a call a crash can leave `uncertain` (a reply
    # is then never repeated), so this trades a little crash safety for throughput.
    parallel_chats: int = 8


class Pipeline:
    """Moves every stored message through classification, decision and action, exactly once."""

    def __init__(
        self,
        store: Store,
        scoring: ScoringEngine,
        actions: Actions,
        rules: Callable[[], RuleSet],
        clock: Clock,
        config: PipelineConfig | None = None,
    ) -> None:
        self._store, self._scoring, self._actions = store, scoring, actions
        self._rules, self._clock = rules, clock
        self._config = config or PipelineConfig()
        # Two loops, two signals: new messages to classify, new actions to execute.
        self._inbox_ready, self._outbox_ready = asyncio.Event(), asyncio.Event()
        self._call_slots = asyncio.Semaphore(self._config.parallel_chats)

    # --- intake (called by platform runners) -------------------------------------------------

    async def receive(self, message: IncomingMessage) -> int | None:
        """Store a message before the platform is told it arrived; None for a duplicate."""
        now = self._clock.now()
        message, changed = sanitized(message)
        async with self._store.begin() as uow:
            inbox_id = await uow.inbox.add(message, now)
            event = "message-received" if inbox_id else "message-duplicate"
            await uow.audit.record(_audit(event, message, inbox_id), now)
            if changed:  # hostile or broken input: stored, but say what was replaced
                detail = {"reason": "invalid surrogates replaced with U+FFFD"}
                await uow.audit.record(AuditEntry("message-sanitized", detail, inbox_id), now)
        if inbox_id:
            self._inbox_ready.set()
        return inbox_id

    async def record_event(self, event: str, detail: dict[str, Any]) -> None:
        """Audit a platform event that is not a message."""
        async with self._store.begin() as uow:
            entry = AuditEntry(event, clean_value(detail), actor="platform")
            await uow.audit.record(entry, self._clock.now())

    @property
    def clock(self) -> Clock:
        """The clock every timestamp of this pipeline comes from."""
        return self._clock

    def wake(self) -> None:
        """Ask the worker loops to look for new work now (e.g. after a moderator's tap)."""
        self._inbox_ready.set()
        self._outbox_ready.set()

    # --- processing ------------------------------------------------------------------------

    async def process_pending(self) -> list[Outcome]:
        """Classify and decide every unprocessed inbox message (one batch)."""
        batch = await self._load_batch()
        if not batch:
            return []
        verdicts = await self._scoring.score(
            [m for _, m, _, _ in batch], [skip for _, _, _, skip in batch]
        )
        return [
            await self._decide_and_plan(inbox_id, message, verdict)
            for (inbox_id, message, _, _), verdict in zip(batch, verdicts, strict=True)
        ]

    async def _load_batch(self) -> list[tuple[int, IncomingMessage, AuthorStats, bool]]:
        now, rules = self._clock.now(), self._rules()
        batch = []
        async with self._store.begin() as uow:
            for inbox_id in await uow.inbox.unprocessed(self._config.batch_size):
                message = await uow.inbox.get(inbox_id)
                stats = await uow.users.stats(  # for trust: replies do not matter yet
                    message.platform, message.community, message.author.user_id, now, replies=False
                )
                effective = _effective(rules, message.community)
                trusted = effective is not None and is_trusted(stats, effective)
                batch.append((inbox_id, message, stats, trusted))
        return batch

    async def _decide_and_plan(
        self, inbox_id: int, message: IncomingMessage, verdict: Verdict
    ) -> Outcome:
        effective = _effective(self._rules(), message.community)
        if effective is None:
            return await self._skip(inbox_id, message, verdict, "unknown-community")
        if self._config.dry_run:
            effective = effective.model_copy(update={"dry_run": True})
        async with self._store.begin() as uow:
            # Several workers may have scored the same message; only one may decide it.
            if not await uow.inbox.claim(inbox_id):
                return Outcome(inbox_id, None, verdict, duplicate=True)
            # Read the author's history now, not when the batch was loaded: an earlier message
            # of the same batch (a spam burst) may have added a strike, a reply or a ban.
            author = message.author
            stats = await uow.users.stats(
                message.platform, message.community, author.user_id, self._clock.now()
            )
            # Only an edit can have an earlier version (a redelivery is dropped by the inbox).
            struck = message.edited and await uow.decisions.struck(message)
            decision = decide(self._situation(message, verdict, effective, stats, struck))
            await self._persist(uow, inbox_id, message, verdict, decision)
        self._outbox_ready.set()
        return Outcome(inbox_id, decision, verdict)

    def _situation(
        self,
        message: IncomingMessage,
        verdict: Verdict,
        rules: EffectiveRules,
        stats: AuthorStats,
        struck: bool,
    ) -> Situation:
        if message.language is None:
            message = _with_language(message)
        answer = match_answer(
            message.text,
            rules.questions.answers,
            is_question=verdict.score(Label.QUESTION) >= rules.questions.threshold,
            similarity=rules.questions.similarity,
        )
        return Situation(message, verdict, rules, stats, answer, self._clock.now(), struck)

    async def _persist(
        self,
        uow: UnitOfWork,
        inbox_id: int,
        message: IncomingMessage,
        verdict: Verdict,
        decision: Decision,
    ) -> None:
        now = self._clock.now()
        await uow.decisions.add(inbox_id, decision, verdict)
        await uow.users.record_message(
            message.platform,
            message.community,
            message.author.user_id,
            clean=decision.clean,
            strike=decision.strike,
        )
        state = OutboxState.SKIPPED if decision.dry_run else OutboxState.PENDING
        if state is OutboxState.PENDING and any(_is_ban(a) for a in decision.actions):
            # A planned ban will run (or be escalated): the rest of a burst must not plan more.
            await self._remember_ban(uow, message)
        for action in decision.actions:
            if action.kind is ActionKind.ESCALATE:
                await uow.escalations.open(inbox_id, action.reason, action.text, now)
            await uow.outbox.add(inbox_id, action, state)
        await uow.inbox.mark_processed(inbox_id, verdict)
        await uow.audit.record(_decision_audit(inbox_id, decision, verdict), now)

    async def _skip(
        self, inbox_id: int, message: IncomingMessage, verdict: Verdict, reason: str
    ) -> Outcome:
        now = self._clock.now()
        async with self._store.begin() as uow:
            await uow.inbox.mark_processed(inbox_id, verdict, error=reason)
            detail = {"reason": reason, "community": message.community}
            await uow.audit.record(AuditEntry("message-skipped", detail, inbox_id), now)
        return Outcome(inbox_id, None, verdict, skipped_reason=reason)

    # --- execution -------------------------------------------------------------------------

    async def execute_due(self) -> list[tuple[OutboxItem, ActionResult]]:
        """Run one batch of due actions, recording each attempt before and after.

        Actions in one chat run in order (delete before ban, a reply after the card); chats run
        side by side, so one slow or rate-limited chat does not hold up the others.
        """
        async with self._store.begin() as uow:
            items = await uow.outbox.due(self._clock.now(), self._config.batch_size)
        lanes = await asyncio.gather(*(self._run_lane(lane) for lane in _lanes(items)))
        return [done for lane in lanes for done in lane]

    async def _run_lane(
        self, items: Sequence[OutboxItem]
    ) -> list[tuple[OutboxItem, ActionResult]]:
        done = []
        async with self._call_slots:
            for item in items:
                result = await self._execute(item)
                if result is not None:
                    done.append((item, result))
        return done

    async def _execute(self, item: OutboxItem) -> ActionResult | None:
        async with self._store.begin() as uow:
            if not await uow.outbox.start(item.id, self._clock.now(), self._config.worker_id):
                return None  # another worker claimed it between due() and now
            card = await self._card(uow, item)
        result = await self._call_platform(item, card)
        async with self._store.begin() as uow:
            await self._record_result(uow, item, result)
        return result

    async def _card(self, uow: UnitOfWork, item: OutboxItem) -> EscalationCard | None:
        if item.action.kind is not ActionKind.ESCALATE:
            return None
        escalation = await uow.escalations.for_inbox(item.inbox_id)
        if escalation is None:
            return None
        verdict = await uow.inbox.verdict(item.inbox_id)
        return EscalationCard(escalation, item.message, verdict, item.action.reason)

    async def _call_platform(self, item: OutboxItem, card: EscalationCard | None) -> ActionResult:
        try:
            return await self._actions.execute(item.message, item.action, card)
        except Exception as exc:  # a bug in an adapter must not stop the pipeline
            log.exception("action %s failed unexpectedly", item.action.idempotency_key)
            return ActionResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)

    async def _record_result(
        self, uow: UnitOfWork, item: OutboxItem, result: ActionResult
    ) -> None:
        now = self._clock.now()
        if result.ok:
            await uow.outbox.finish(
                item.id, OutboxState.DONE, now, platform_ref=result.platform_ref
            )
            await self._remember_card(uow, item, result)
            if _is_ban(item.action):  # e.g. a moderator's tap on "ban"
                await self._remember_ban(uow, item.message)
        elif result.uncertain:  # it may have been done: repeating could post a reply twice
            await uow.outbox.finish(item.id, OutboxState.UNCERTAIN, now, error=result.error)
        elif result.retryable and item.attempts + 1 < MAX_ATTEMPTS:
            retry_at = now + _backoff(item.attempts + 1, result.retry_after)
            await uow.outbox.finish(
                item.id, OutboxState.PENDING, now, error=result.error, retry_at=retry_at
            )
        else:
            await uow.outbox.finish(item.id, OutboxState.FAILED, now, error=result.error)
            await self._fallback(uow, item, result)
        await uow.audit.record(_action_audit(item, result), now)

    async def _remember_card(
        self, uow: UnitOfWork, item: OutboxItem, result: ActionResult
    ) -> None:
        if item.action.kind is not ActionKind.ESCALATE or not result.platform_ref:
            return
        escalation = await uow.escalations.for_inbox(item.inbox_id)
        chat_id, _, message_id = result.platform_ref.partition(":")
        if escalation and message_id:
            await uow.escalations.set_card(escalation.id, int(chat_id), int(message_id))

    async def _remember_ban(self, uow: UnitOfWork, message: IncomingMessage) -> None:
        await uow.users.set_banned(
            message.platform, message.community, message.author.user_id, True
        )

    async def _fallback(self, uow: UnitOfWork, item: OutboxItem, result: ActionResult) -> None:
        if item.action.kind not in FALLBACK_KINDS:
            return
        if await uow.escalations.for_inbox(item.inbox_id) is not None:
            return  # moderators already have a card for this message
        why = f"could not {item.action.kind.value}: {result.error}"
        await uow.escalations.open(item.inbox_id, why, None, self._clock.now())
        fallback = PlannedAction(
            kind=ActionKind.ESCALATE,
            rule_id="action-failed",
            idempotency_key=f"{item.action.idempotency_key}:fallback",
            reason=why,
        )
        await uow.outbox.add(item.inbox_id, fallback, OutboxState.PENDING)
        self._outbox_ready.set()

    # --- lifecycle -------------------------------------------------------------------------

    async def recover(self, *, own: bool = True) -> int:
        """Retry interrupted idempotent actions; flag, never repeat, the others.

        At start (`own`): the actions this worker left in flight when it died, plus any stale
        one. Later, only stale ones: a peer's fresh in-flight action is still being performed.
        """
        now = self._clock.now()
        owner = self._config.worker_id if own else None
        recovered = 0
        async with self._store.begin() as uow:
            for item in await uow.outbox.interrupted(owner, now - STALE_IN_FLIGHT):
                safe = self._actions.is_idempotent(item.message, item.action)
                state = OutboxState.PENDING if safe else OutboxState.UNCERTAIN
                error = None if safe else "interrupted mid-call; not repeated to avoid a double"
                if await uow.outbox.reclaim(item.id, state, now, error=error):
                    await uow.audit.record(_recovery_audit(item, state), now)
                    recovered += 1
        if recovered:
            self._outbox_ready.set()
        return recovered

    async def drain(self) -> None:
        """Process and execute until nothing is left that is due now (CLI, demo, tests)."""
        # One batch of each per round: with `process() or execute()` a steady stream of new
        # messages kept the inbox non-empty and starved the outbox (replies waited for a lull).
        while True:
            processed = await self.process_pending()
            executed = await self.execute_due()
            if not processed and not executed:
                return

    async def run(self, stop: asyncio.Event) -> None:
        """Classify and act side by side until stopped; errors are logged, never fatal."""
        # Separate loops: platform calls (rate limits, retries) never hold up classification,
        # and a burst of new messages never holds up replies.
        await self.recover()
        await asyncio.gather(
            self._loop("processing", self.process_pending, self._inbox_ready, stop),
            self._loop("execution", self.execute_due, self._outbox_ready, stop),
            self._recovery_loop(stop),
        )

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[Sequence[object]]],
        ready: asyncio.Event,
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            ready.clear()  # before the step: a signal that arrives during it is kept
            try:
                while await step() and not stop.is_set():
                    pass
            except Exception:  # the loop must survive a bad batch; the rows stay for a retry
                log.exception("pipeline %s batch failed; retrying shortly", name)
            await _wait_either(ready, stop, self._config.idle_wait)

    async def _recovery_loop(self, stop: asyncio.Event) -> None:
        # A peer that died mid-call and never restarted leaves its actions in flight.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECOVERY_EVERY)
            if stop.is_set():
                return
            try:
                await self.recover(own=False)
            except Exception:
                log.exception("recovery of stale actions failed; retrying later")


def _lanes(items: Sequence[OutboxItem]) -> list[list[OutboxItem]]:
    """Group actions by where they land (the chat, or the moderators' chat), keeping order."""
    lanes: dict[tuple[str, int], list[OutboxItem]] = {}
    for item in items:
        if item.action.kind is ActionKind.ESCALATE:
            key = ("moderators", 0)
        else:
            key = (item.message.platform.value, item.message.chat.chat_id)
        lanes.setdefault(key, []).append(item)
    return list(lanes.values())


def _effective(rules: RuleSet, community: str) -> EffectiveRules | None:
    try:
        return rules.for_community(community)
    except KeyError:
        return None


def _is_ban(action: PlannedAction) -> bool:
    return action.kind is ActionKind.BAN


def _with_language(message: IncomingMessage) -> IncomingMessage:
    return replace(message, language=guess_language(message.text))


def _backoff(attempt: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    seconds = min(2**attempt, MAX_BACKOFF.total_seconds()) * random.uniform(0.8, 1.2)
    return timedelta(seconds=seconds)


async def _wait_either(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _audit(event: str, message: IncomingMessage, inbox_id: int | None) -> AuditEntry:
    detail = {
        "event_key": message.event_key,
        "community": message.community,
        "author": message.author.user_id,
        "edited": message.edited,
    }
    return AuditEntry(event, detail, inbox_id, actor="platform")


def _decision_audit(inbox_id: int, decision: Decision, verdict: Verdict) -> AuditEntry:
    detail = {
        "rule": decision.rule_id,
        "labels": [label.value for label in decision.labels],
        "reason": decision.reason,
        "scores": verdict.as_dict(),
        "reasons": list(verdict.reasons()),
        "errors": list(verdict.errors()),
        "actions": [a.kind.value for a in decision.actions],
        "dry_run": decision.dry_run,
    }
    return AuditEntry("decision", detail, inbox_id)


def _action_audit(item: OutboxItem, result: ActionResult) -> AuditEntry:
    event = "action-done" if result.ok else "action-failed"
    if result.uncertain:
        event = "action-uncertain"
    detail = {
        "kind": item.action.kind.value,
        "key": item.action.idempotency_key,
        "attempt": item.attempts + 1,
        "error": result.error,
        "platform_ref": result.platform_ref,
    }
    return AuditEntry(event, detail, item.inbox_id)


def _recovery_audit(item: OutboxItem, state: OutboxState) -> AuditEntry:
    detail = {"kind": item.action.kind.value, "key": item.action.idempotency_key, "state": state}
    return AuditEntry("action-recovered", detail, item.inbox_id)


class SystemClock:
    """The real clock: aware UTC."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)
