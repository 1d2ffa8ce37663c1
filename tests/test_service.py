"""`smmbot run` as composed by the service: both platform emulators, one database, real wiring."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from bot.adapters.sandbox.vk import FakeVK
from bot.service import run_service
from bot.settings import load_settings

GROUP, MODS, VK_GROUP = -1001234567890, -1009876543210, 77
SPAMMER = make_user(1002, "Bob")
CUSTOMER = make_user(1001, "Alice", language_code="ru")
RULES = f"""
version: 1
language: en
communities:
  - {{name: Shop chat, telegram: {{chat_id: {GROUP}}}}}
  - {{name: Shop VK, vk: {{group_id: {VK_GROUP}}}}}
moderators: {{telegram_chat_id: {MODS}}}
spam: {{stop_words: [заработок без вложений]}}
questions:
  threshold: 0.5
  answers:
    - id: delivery-time
      keywords: [доставк]
      reply: "Доставка 2–5 дней"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    port: int
    telegram: FakeTelegram
    vk: FakeVK
    rules: Path
    task: asyncio.Task[int]
    stop: asyncio.Event


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    telegram = await FakeTelegram().start()
    telegram.add_chat(GROUP, title="Shop chat")
    telegram.add_chat(MODS, title="Moderators")
    vk = FakeVK(group_id=VK_GROUP, max_wait=0.5)
    await vk.start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    settings = load_settings(
        {
            "SMMBOT_RULES": str(rules),
            "SMMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            "SMMBOT_TELEGRAM__TOKEN": telegram.token,
            "SMMBOT_TELEGRAM__API_BASE": telegram.base_url,
            "SMMBOT_TELEGRAM__POLLING_TIMEOUT": "1",
            "SMMBOT_VK__GROUP_TOKEN": vk.group_token,
            "SMMBOT_VK__USER_TOKEN": vk.user_token,
            "SMMBOT_VK__API_BASE": vk.base_url,
            "SMMBOT_VK__LONGPOLL_WAIT": "1",
            "SMMBOT_HTTP_PORT": str(free_port()),
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(settings, stop=stop))
    yield Running(settings.http_port or 0, telegram, vk, rules, task, stop)
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 30)
    await vk.stop()
    await telegram.stop()


async def test_service_acts_on_telegram_and_vk_and_stops_cleanly(running: Running) -> None:
    spam = running.telegram.push_message(GROUP, SPAMMER, "Заработок без вложений, пиши в лс")
    await running.telegram.wait_for_calls("deleteMessage", within=20)
    assert running.telegram.is_deleted(GROUP, spam["message"]["message_id"])

    # On its first start the VK long poll begins at the current ts, so wait until it listens.
    await _eventually(lambda: running.vk.calls_to("groups.getLongPollServer"), within=20)
    running.vk.wall_reply_new(5, 4242, "Сколько идёт доставка в Казань?")
    await _eventually(lambda: running.vk.calls_to("wall.createComment"), within=20)
    (reply,) = running.vk.calls_to("wall.createComment")
    assert reply.params["message"] == "Доставка 2–5 дней"

    running.stop.set()
    assert await asyncio.wait_for(running.task, 30) == 0


async def test_service_refuses_a_broken_rules_edit_and_tells_the_moderators(
    running: Running,
) -> None:
    await running.telegram.wait_for_calls("getUpdates", within=20)
    running.rules.write_text(RULES.replace("threshold: 0.5", "threshold: 5"), encoding="utf-8")
    await _eventually(lambda: running.telegram.sent_messages(MODS), within=20)
    (notice,) = running.telegram.sent_messages(MODS)
    assert "rules.yaml" in notice["text"] and "less than or equal to 1" in notice["text"]
    # The old rules still answer questions.
    running.telegram.push_message(GROUP, CUSTOMER, "Подскажите, сколько идёт доставка?")
    await running.telegram.wait_for_calls("sendMessage", count=2, within=20)
    assert running.telegram.sent_messages(GROUP)[0]["text"] == "Доставка 2–5 дней"


async def test_service_exits_non_zero_on_an_invalid_telegram_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeTelegram() as telegram:
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        settings = load_settings(
            {
                "SMMBOT_RULES": str(rules),
                "SMMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                "SMMBOT_TELEGRAM__TOKEN": "123:wrong",
                "SMMBOT_TELEGRAM__API_BASE": telegram.base_url,
            }
        )
        assert await run_service(settings, stop=asyncio.Event()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Configuration error: Telegram rejected the bot token (401 Unauthorized)"]


async def _eventually(probe: Callable[[], object], within: float) -> None:
    # The emulators record calls without a condition to wait on, so poll their state.
    async with asyncio.timeout(within):
        while not probe():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_service_never_logs_a_token(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("bot", "aiogram", "vk_api", "urllib3", "aiohttp", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    running.telegram.push_message(GROUP, CUSTOMER, "Подскажите, сколько идёт доставка?")
    await running.telegram.wait_for_calls("sendMessage", within=20)
    # On its first start the VK long poll begins at the current ts, so wait until it listens.
    await _eventually(lambda: running.vk.calls_to("groups.getLongPollServer"), within=20)
    running.vk.wall_reply_new(5, 4242, "Сколько идёт доставка в Казань?")
    await _eventually(lambda: running.vk.calls_to("wall.createComment"), within=20)
    running.stop.set()
    await asyncio.wait_for(running.task, 30)
    secrets = [
        running.telegram.token.split(":", 1)[1],
        running.vk.group_token,
        running.vk.user_token,
    ]
    assert caplog.records, "the service logs at DEBUG"
    for secret in secrets:
        assert secret not in caplog.text


async def test_service_reports_health_and_metrics(running: Running) -> None:
    running.telegram.push_message(GROUP, SPAMMER, "Заработок без вложений, пиши в лс")
    await running.telegram.wait_for_calls("deleteMessage", within=20)
    await _eventually(lambda: running.vk.calls_to("groups.getLongPollServer"), within=20)
    base = f"http://127.0.0.1:{running.port}"
    async with aiohttp.ClientSession() as http:
        health = await _get_json_when(http, f"{base}/healthz", lambda body: body["status"] == "ok")
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert set(health["platforms"]) == {"telegram", f"vk:{VK_GROUP}"}
    assert health["queues"]["inbox_unprocessed"] == 0
    assert 'smmbot_decisions_total{label="spam"} 1' in metrics
    assert 'smmbot_actions_total{kind="delete",state="done"} 1' in metrics
    assert 'smmbot_platform_last_poll_timestamp_seconds{platform="telegram"} 0\n' not in metrics


async def _get_json_when(
    http: aiohttp.ClientSession, url: str, ready: Callable[[dict], bool]
) -> dict:
    # The VK long poll reports its first good check a moment after it connects.
    async with asyncio.timeout(20):
        while True:
            async with http.get(url) as response:
                body = await response.json()
            if ready(body):
                return body
            await asyncio.sleep(0.1)


async def test_service_re_announces_a_card_nobody_handled(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram:
        telegram.add_chat(GROUP, title="Shop chat")
        telegram.add_chat(MODS, title="Moderators")
        rules = tmp_path / "rules.yaml"
        body = RULES.replace(
            f"moderators: {{telegram_chat_id: {MODS}}}",
            f"moderators: {{telegram_chat_id: {MODS}, remind_after: 1s}}",
        )
        rules.write_text(
            body.replace(f"  - {{name: Shop VK, vk: {{group_id: {VK_GROUP}}}}}\n", ""),
            encoding="utf-8",
        )
        settings = load_settings(
            {
                "SMMBOT_RULES": str(rules),
                "SMMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'remind.db'}",
                "SMMBOT_TELEGRAM__TOKEN": telegram.token,
                "SMMBOT_TELEGRAM__API_BASE": telegram.base_url,
                "SMMBOT_TELEGRAM__POLLING_TIMEOUT": "1",
            }
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_service(settings, stop=stop))
        telegram.push_message(GROUP, CUSTOMER, "What colour is the sky over your warehouse?")
        await telegram.wait_until(lambda: len(_cards(telegram)) >= 2, within=30)
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    first, again = _cards(telegram)[:2]
    assert first["text"] == again["text"]
    assert any("⏰" in m["text"] for m in telegram.sent_messages(MODS))


def _cards(telegram: FakeTelegram) -> list[dict]:
    return [m for m in telegram.sent_messages(MODS) if m.get("reply_markup")]
