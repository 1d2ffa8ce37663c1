"""`smmbot run` as a real process, SIGKILLed mid-batch and started again on the same database.

Effectively-once toward Telegram: every update ends up stored and decided, and no reply is
posted twice. A reply whose call was in flight at the kill is marked `uncertain`, never repeated.
(One call per chat can be in flight at once: chats act side by side.)
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import query, service_env, spawn
from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from tests.e2e.conftest import WITHIN, eventually

CHATS = (-1001000000001, -1001000000002, -1001000000003, -1001000000004)
CITIES = ("Казань", "Москву", "Омск", "Тверь")
SPAM = "Заработок без вложений, пиши в лс!"
RULES = "\n".join(
    [
        "version: 1",
        "language: ru",
        "communities:",
        *[
            f"  - {{name: chat {n}, telegram: {{chat_id: {chat}}}}}"
            for n, chat in enumerate(CHATS)
        ],
        "spam: {stop_words: [заработок без вложений]}",
        "questions:",
        "  answers:",
        "    - {id: delivery-time, keywords: [доставк], reply: 'Доставка 2–5 дней'}",
    ]
)
BATCH = 20  # 16 questions and 4 spam messages, spread over four chats (1 msg/s per chat)
IN_FLIGHT = 4  # the reply the process is killed in the middle of

pytestmark = pytest.mark.slow  # two process starts: about 15 s on a 2-core machine


def push_batch(fake: FakeTelegram) -> list[dict[str, Any]]:
    """Questions from distinct customers and a few spam messages, round-robin over the chats."""
    pushed = []
    for n in range(BATCH):
        chat, author = CHATS[n % len(CHATS)], make_user(5000 + n, f"User {n}")
        text = SPAM if n % 5 == 4 else f"Сколько идёт доставка в {CITIES[n % 4]}?"
        pushed.append(fake.push_message(chat, author, text)["message"])
    return pushed


def reply_calls(fake: FakeTelegram, message: dict[str, Any]) -> int:
    """sendMessage calls (delivered or not) replying to one message."""
    return sum(
        1
        for call in fake.calls_to("sendMessage")
        if int(call.params["chat_id"]) == message["chat"]["id"]
        and call.params["reply_parameters"]["message_id"] == message["message_id"]
    )


def settled(db: Path) -> bool:
    """Every pushed update stored and decided, and no planned action still due or running."""
    inbox = query(db, "SELECT count(*), count(processed_at) FROM inbox")
    busy = query(db, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')")
    return inbox == [(BATCH, BATCH)] and busy == [(0,)]


async def test_service_killed_mid_batch_processes_every_update_once_after_restart(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as fake:
        for n, chat in enumerate(CHATS):
            fake.add_chat(chat, title=f"chat {n}")
        env = service_env(tmp_path, RULES, fake)
        db = tmp_path / "service.db"
        first = await spawn(env, tmp_path)
        try:
            await fake.wait_for_calls("getUpdates", within=60)  # imports take a while
            # The first replies go through; the next one hangs at "Telegram" until after the kill.
            fake.fail_next("sendMessage", delay=0.01, times=IN_FLIGHT - 1)
            fake.fail_next("sendMessage", delay=3)
            pushed = push_batch(fake)
            await eventually(lambda: len(fake.calls_to("sendMessage")) >= IN_FLIGHT, 60)
        finally:
            first.kill()  # SIGKILL: no shutdown, no cleanup
            await first.wait()
        await _restart_until_settled(env, tmp_path, db)
    _assert_effectively_once(fake, db, pushed)


async def _restart_until_settled(env: dict[str, str], cwd: Path, db: Path) -> None:
    second = await spawn(env, cwd)
    try:
        async with asyncio.timeout(60):
            while not await asyncio.to_thread(settled, db):  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), WITHIN)
    assert code == 0, (cwd / "service.log").read_text()


def _assert_effectively_once(fake: FakeTelegram, db: Path, pushed: list[dict[str, Any]]) -> None:
    assert query(db, "SELECT count(DISTINCT inbox_id) FROM decisions") == [(BATCH,)]
    replies = dict(
        query(
            db,
            "SELECT i.message_id || ':' || i.chat_id, o.state FROM outbox o "
            "JOIN inbox i ON o.inbox_id = i.id WHERE o.kind = 'reply'",
        )
    )
    questions = [m for m in pushed if m["text"] != SPAM]
    spam = [m for m in pushed if m["text"] == SPAM]
    assert len(replies) == len(questions)
    for message in questions:
        state = replies[f"{message['message_id']}:{message['chat']['id']}"]
        calls = reply_calls(fake, message)
        # Done: posted once. Uncertain: the call was in flight at the kill and was not repeated.
        assert (state, calls) in {("done", 1), ("uncertain", 1), ("uncertain", 0)}, message
    # The four chats act side by side, so each may have had one call in flight at the kill;
    # the reply that hung is one of them. Every such call was recovered exactly once.
    uncertain = list(replies.values()).count("uncertain")
    assert 1 <= uncertain <= len(CHATS)
    ((recovered,),) = query(db, "SELECT count(*) FROM audit WHERE event = 'action-recovered'")
    assert uncertain <= recovered <= len(CHATS)
    assert all(fake.is_deleted(m["chat"]["id"], m["message_id"]) for m in spam)
    assert all(reply_calls(fake, m) == 0 for m in spam)


async def test_a_second_process_with_the_same_worker_id_is_refused(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        fake.add_chat(CHATS[0], title="chat 0")
        env = service_env(tmp_path, RULES, fake) | {"SMMBOT_WORKER_ID": "shop:main"}
        first = await spawn(env, tmp_path)
        try:
            await fake.wait_for_calls("getUpdates", within=60)
            second = await spawn(env, tmp_path, log_name="second.log")
            code = await asyncio.wait_for(second.wait(), WITHIN)
        finally:
            first.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(first.wait(), WITHIN) == 0
    assert code == 1
    refusal = (tmp_path / "second.log").read_text(encoding="utf-8")
    assert "shop:main" in refusal and "задайте каждому процессу" in refusal  # rules: ru
