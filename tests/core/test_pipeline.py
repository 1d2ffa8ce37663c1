"""The pipeline end to end on a real database (SQLite and PostgreSQL) with the real classifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import func, select

from bot.app import make_classifier_factory
from bot.core.model import (
    ActionKind,
    ActionResult,
    ChatRef,
    IncomingMessage,
    Label,
    PlannedAction,
    Platform,
    UserRef,
)
from bot.core.pipeline import Pipeline
from bot.core.ports import EscalationCard, ModeratorAct, ModeratorChoice, OutboxState
from bot.core.rules import RuleSet
from bot.moderation.desk import Desk
from bot.rules_file import parse_rules
from bot.scoring import CascadeScoring
from bot.settings import ClassifierSettings
from bot.storage import tables
from bot.storage.store import SqlStore, create_store
from tests.db import store_url  # noqa: F401 - the two-backend fixture
from tests.fakes.ports import ExplodingClassifier, FakeClock, ScriptedActions

RULES = parse_rules(
    """
version: 1
language: en
communities:
  - {name: shop, telegram: {chat_id: -100}}
moderators: {telegram_chat_id: -999}
spam: {threshold: 0.85, strikes: {ban_after: 2}}
negative: {threshold: 0.7}
questions:
  threshold: 0.5
  answers:
    - id: delivery-time
      keywords: [доставк, delivery]
      reply: "Delivery takes 2-5 days."
limits: {replies_per_user_per_hour: 2}
"""
)
SPAM = "Заработок в интернете от 5000 в день без вложений, пишите в лс!!!"
QUESTION = "Подскажите, сколько идёт доставка в Казань?"
COMPLAINT = "Ужасный сервис, заказ не пришёл, верните деньги!"


@dataclass
class Rig:
    store: SqlStore
    pipeline: Pipeline
    actions: ScriptedActions
    clock: FakeClock
    desk: Desk
    rules: list[RuleSet]
    counter: int = 0

    def message(self, text: str, author: int = 42, **changes: object) -> IncomingMessage:
        self.counter += 1
        base = IncomingMessage(
            platform=Platform.TELEGRAM,
            event_key=f"tg:-100:{self.counter}",
            community="shop",
            chat=ChatRef(Platform.TELEGRAM, -100),
            message_id=self.counter,
            author=UserRef(Platform.TELEGRAM, author, "Ann"),
            text=text,
            date=self.clock.now(),
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    async def handle(self, text: str, author: int = 42, **changes: object) -> int:
        inbox_id = await self.pipeline.receive(self.message(text, author, **changes))
        assert inbox_id is not None
        await self.pipeline.drain()
        return inbox_id

    async def count(self, table: type, **where: object) -> int:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        async with self.store.begin() as uow:
            return int((await uow.session.execute(query)).scalar_one())  # type: ignore[attr-defined]


def build_rig(store: SqlStore, clock: FakeClock, rules: list[RuleSet], classifiers=None) -> Rig:
    actions = ScriptedActions()
    factory = classifiers or make_classifier_factory(ClassifierSettings())
    scoring = CascadeScoring(lambda: rules[0], factory)
    pipeline = Pipeline(store, scoring, actions, lambda: rules[0], clock)
    desk = Desk(store, clock, lambda: "en", pipeline.wake)
    return Rig(store, pipeline, actions, clock, desk, rules)


@pytest.fixture
async def rig(store_url: str) -> AsyncIterator[Rig]:  # noqa: F811
    clock = FakeClock()
    store = await create_store(store_url, clock=clock)
    yield build_rig(store, clock, [RULES])
    await store.close()


async def test_pipeline_deletes_spam_and_bans_on_second_strike(rig: Rig) -> None:
    await rig.handle(SPAM, author=7)
    assert rig.actions.kinds() == [ActionKind.DELETE]
    await rig.handle(SPAM + " 2", author=7)
    assert rig.actions.kinds() == [ActionKind.DELETE, ActionKind.DELETE, ActionKind.BAN]
    assert await rig.count(tables.OutboxRow, state=OutboxState.DONE.value) == 3


async def test_pipeline_drops_duplicate_events(rig: Rig) -> None:
    message = rig.message(SPAM, author=7)
    assert await rig.pipeline.receive(message) is not None
    assert await rig.pipeline.receive(message) is None
    await rig.pipeline.drain()
    await rig.pipeline.drain()
    assert rig.actions.kinds() == [ActionKind.DELETE]
    assert await rig.count(tables.DecisionRow) == 1


async def test_pipeline_rechecks_an_edit_as_its_own_event(rig: Rig) -> None:
    await rig.handle("спасибо, чай отличный", author=8)
    edited = rig.message(SPAM, author=8, edited=True)
    edited = replace(edited, event_key=edited.event_key + ":edit:1", message_id=1)
    assert await rig.pipeline.receive(edited) is not None
    await rig.pipeline.drain()
    assert rig.actions.kinds() == [ActionKind.DELETE]


async def test_pipeline_answers_questions_within_reply_limit(rig: Rig) -> None:
    for _ in range(3):
        await rig.handle(QUESTION, author=9)
    replies = [a for _, a, _ in rig.actions.calls if a.kind is ActionKind.REPLY]
    assert [a.text for a in replies] == ["Delivery takes 2-5 days."] * 2


async def test_pipeline_escalates_complaint_and_moderator_sends_reply_once(rig: Rig) -> None:
    inbox_id = await rig.handle(COMPLAINT, author=10)
    ((_, action, card),) = rig.actions.calls
    assert action.kind is ActionKind.ESCALATE and card is not None
    assert card.verdict is not None and card.verdict.score(Label.NEGATIVE) >= 0.5
    async with rig.store.begin() as uow:
        escalation = await uow.escalations.for_inbox(inbox_id)
    assert escalation is not None and escalation.card_message_id is not None
    act = ModeratorAct(escalation.token, ModeratorChoice.OWN_REPLY, 5, "Mod", "We'll call you.")
    assert (await rig.desk.act(act)).ok
    replay = await rig.desk.act(act)
    assert not replay.ok and "Already handled" in replay.message
    await rig.pipeline.drain()
    assert [a.text for _, a, _ in rig.actions.calls[1:]] == ["We'll call you."]
    assert await rig.count(tables.FeedbackRow, inbox_id=inbox_id) == 1


async def test_desk_refuses_forged_token(rig: Rig) -> None:
    result = await rig.desk.act(ModeratorAct("forged", ModeratorChoice.BAN, 5, "Mod"))
    assert not result.ok
    assert await rig.count(tables.OutboxRow) == 0


async def test_pipeline_retries_after_retry_after(rig: Rig) -> None:
    rig.actions.script[ActionKind.DELETE] = [
        ActionResult(ok=False, error="429", retryable=True, retry_after=30)
    ]
    await rig.handle(SPAM, author=11)
    assert await rig.count(tables.OutboxRow, state=OutboxState.PENDING.value) == 1
    rig.clock.advance(seconds=31)
    await rig.pipeline.drain()
    assert rig.actions.kinds() == [ActionKind.DELETE, ActionKind.DELETE]
    assert await rig.count(tables.OutboxRow, state=OutboxState.DONE.value) == 1


async def test_pipeline_escalates_when_delete_fails_for_good(rig: Rig) -> None:
    rig.actions.script[ActionKind.DELETE] = [ActionResult(ok=False, error="needs admin rights")]
    inbox_id = await rig.handle(SPAM, author=12)
    assert rig.actions.kinds() == [ActionKind.DELETE, ActionKind.ESCALATE]
    async with rig.store.begin() as uow:
        escalation = await uow.escalations.for_inbox(inbox_id)
    assert escalation is not None and "needs admin rights" in escalation.reason


async def test_recover_repeats_idempotent_actions_but_never_a_send(rig: Rig) -> None:
    await rig.pipeline.receive(rig.message(QUESTION, author=13))
    await rig.pipeline.receive(rig.message(SPAM, author=14))
    await rig.pipeline.process_pending()
    async with rig.store.begin() as uow:  # a crash right after both calls started
        for item in await uow.outbox.due(rig.clock.now(), 10):
            await uow.outbox.start(item.id, rig.clock.now(), "local")
    restarted = build_rig(rig.store, rig.clock, rig.rules)
    await restarted.pipeline.recover()
    await restarted.pipeline.drain()
    assert restarted.actions.kinds() == [ActionKind.DELETE]
    assert await rig.count(tables.OutboxRow, state=OutboxState.UNCERTAIN.value) == 1


async def test_recover_leaves_a_live_peers_call_alone_until_it_is_stale(rig: Rig) -> None:
    await rig.pipeline.receive(rig.message(SPAM, author=17))
    await rig.pipeline.process_pending()
    async with rig.store.begin() as uow:  # another worker is performing the delete right now
        (item,) = await uow.outbox.due(rig.clock.now(), 10)
        await uow.outbox.start(item.id, rig.clock.now(), "peer")
    restarted = build_rig(rig.store, rig.clock, rig.rules)
    assert await restarted.pipeline.recover() == 0
    await restarted.pipeline.drain()
    assert restarted.actions.kinds() == []
    rig.clock.advance(minutes=16)  # the peer died mid-call and never came back
    assert await restarted.pipeline.recover(own=False) == 1
    await restarted.pipeline.drain()
    assert restarted.actions.kinds() == [ActionKind.DELETE]


async def test_an_uncertain_reply_is_recorded_and_never_repeated(rig: Rig) -> None:
    rig.actions.script[ActionKind.REPLY] = [
        ActionResult(ok=False, error="ServerDisconnectedError", uncertain=True)
    ]
    inbox_id = await rig.handle(QUESTION, author=16)
    rig.clock.advance(seconds=3600)
    await rig.pipeline.drain()
    assert rig.actions.kinds() == [ActionKind.REPLY]
    assert await rig.count(tables.OutboxRow, state=OutboxState.UNCERTAIN.value) == 1
    assert await rig.count(tables.AuditRow, event="action-uncertain", inbox_id=inbox_id) == 1


async def test_pipeline_resumes_unprocessed_inbox_after_restart(rig: Rig) -> None:
    await rig.pipeline.receive(rig.message(SPAM, author=15))  # stored, then the process died
    restarted = build_rig(rig.store, rig.clock, rig.rules)
    await restarted.pipeline.drain()
    assert restarted.actions.kinds() == [ActionKind.DELETE]


async def test_pipeline_dry_run_plans_but_never_acts(rig: Rig) -> None:
    rig.rules[0] = RULES.model_copy(update={"dry_run": True})
    await rig.handle(SPAM, author=16)
    assert rig.actions.calls == []
    assert await rig.count(tables.OutboxRow, state=OutboxState.SKIPPED.value) == 1


async def test_pipeline_survives_a_crashing_classifier(rig: Rig) -> None:
    broken = build_rig(
        rig.store, rig.clock, rig.rules, classifiers=lambda _: [ExplodingClassifier()]
    )
    inbox_id = await broken.handle("anything at all", author=17)
    async with rig.store.begin() as uow:
        verdict = await uow.inbox.verdict(inbox_id)
    assert verdict is not None and "model file is corrupt" in verdict.errors()[0]
    assert broken.actions.calls == []


async def test_pipeline_skips_messages_of_a_removed_community(rig: Rig) -> None:
    await rig.pipeline.receive(rig.message(SPAM, author=18, community="gone"))
    await rig.pipeline.drain()
    assert rig.actions.calls == []
    assert await rig.count(tables.AuditRow, event="message-skipped") == 1


async def test_pipeline_trusted_author_skips_spam_model(rig: Rig) -> None:
    for n in range(5):
        await rig.handle(f"nice tea number {n}", author=19)
    await rig.handle(SPAM, author=19)
    assert rig.actions.calls == []


@dataclass
class SecondChatFirst(ScriptedActions):
    """Holds every action in chat -100 until an action in chat -200 has been called."""

    second_chat_called: asyncio.Event = field(default_factory=asyncio.Event)

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        if message.chat.chat_id == -100:
            async with asyncio.timeout(5):  # a sequential executor never gets to chat -200
                await self.second_chat_called.wait()
        result = await super().execute(message, action, card)
        if message.chat.chat_id == -200:
            self.second_chat_called.set()
        return result


async def test_actions_in_different_chats_run_side_by_side(rig: Rig) -> None:
    two_chats = RULES.model_copy(
        update={"communities": [*RULES.communities, _community("outlet", -200)]}
    )
    actions = SecondChatFirst()
    scoring = CascadeScoring(lambda: two_chats, make_classifier_factory(ClassifierSettings()))
    pipeline = Pipeline(rig.store, scoring, actions, lambda: two_chats, rig.clock)
    await pipeline.receive(rig.message(SPAM, author=21))  # chat -100 first in the outbox
    await pipeline.receive(rig.message(SPAM, author=22, community="outlet", chat=_chat(-200)))
    await pipeline.process_pending()
    results = await pipeline.execute_due()
    assert [r.ok for _, r in results] == [True, True]
    # Chat -100's delete was due first, yet -200's went through while it waited.
    assert [m.chat.chat_id for m, _, _ in actions.calls] == [-200, -100]


def _community(name: str, chat_id: int) -> object:
    only = parse_rules(
        f"version: 1\ncommunities: [{{name: {name}, telegram: {{chat_id: {chat_id}}}}}]\n"
        "moderators: {telegram_chat_id: -999}\n"
    )
    return only.communities[0]


def _chat(chat_id: int) -> ChatRef:
    return ChatRef(Platform.TELEGRAM, chat_id)
