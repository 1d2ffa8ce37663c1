"""Webhook mode: FakeTelegram POSTs updates to the service, which stores them before its 200."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from pydantic import SecretStr

from bot.adapters.sandbox.telegram import SECRET_HEADER, FakeTelegram, make_user
from bot.adapters.telegram.mapping import MappingContext
from bot.adapters.telegram.runner import ALLOWED_UPDATES, TelegramRunner
from bot.adapters.telegram.webhook import WebhookConfig
from bot.service import run_service
from bot.settings import SettingsError, load_settings
from bot.storage.store import create_store
from tests.fakes.telegram import ALICE, GROUP, MODS, RecordingDesk, RecordingIntake

SECRET = "s3cret_Token-for-tests"
SPAMMER = make_user(1002, "Bob")
SPAM = "Заработок без вложений, пиши в лс"
WITHIN = 8.0  # seconds: a failure guard only, never a timing assertion
RULES = f"""
version: 1
language: en
communities:
  - {{name: Shop chat, telegram: {{chat_id: {GROUP}}}}}
moderators: {{telegram_chat_id: {MODS}}}
spam: {{stop_words: [заработок без вложений]}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """A service receiving Telegram by webhook, and where to reach it."""

    telegram: FakeTelegram
    hook: str
    health: str
    database_url: str
    stop: asyncio.Event
    task: asyncio.Task[int]

    async def inbox_rows(self) -> int:
        store = await create_store(self.database_url, migrate=False)
        try:
            async with store.begin() as uow:
                return await uow.inbox.count()
        finally:
            await store.close()


@pytest.fixture
async def served(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Served]:
    for name in ("bot", "aiogram", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)  # from the start: setWebhook included
    rules, port = tmp_path / "rules.yaml", free_port()
    rules.write_text(RULES, encoding="utf-8")
    hook, http_port = f"http://127.0.0.1:{port}/tg/hook", free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    settings = load_settings(
        {
            "SMMBOT_RULES": str(rules),
            "SMMBOT_DATABASE_URL": database_url,
            "SMMBOT_HTTP_PORT": str(http_port),
            "SMMBOT_TELEGRAM__TOKEN": fake.token,
            "SMMBOT_TELEGRAM__API_BASE": fake.base_url,
            "SMMBOT_TELEGRAM__WEBHOOK_URL": hook,
            "SMMBOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
            "SMMBOT_TELEGRAM__WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(settings, stop=stop))
    served = Served(fake, hook, f"http://127.0.0.1:{http_port}/healthz", database_url, stop, task)
    await _until_listening(served)
    yield served
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 20)


async def _until_listening(served: Served) -> None:
    # The webhook server binds after setWebhook; a GET answers 405 once it is up.
    async with asyncio.timeout(WITHIN), aiohttp.ClientSession() as http:
        while True:
            assert not served.task.done(), f"the service exited with {served.task.result()}"
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(served.hook) as response:
                    if response.status == 405:
                        return
            await asyncio.sleep(0.05)


async def _post(served: Served, body: Any, headers: dict[str, str], url: str = "") -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url or served.hook, data=body, headers=headers) as response,
    ):
        return response.status


async def _eventually(probe: Callable[[], object]) -> None:
    async with asyncio.timeout(WITHIN):
        while not probe():  # noqa: ASYNC110 - the ops server offers nothing to wait on
            await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------ the service


async def test_webhook_service_deletes_spam_and_keeps_the_webhook_on_stop(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    fake = served.telegram
    assert fake.webhook_url == served.hook
    spam = fake.push_message(GROUP, SPAMMER, SPAM)
    await fake.wait_for_calls("deleteMessage", within=WITHIN)
    assert fake.is_deleted(GROUP, spam["message"]["message_id"])
    assert fake.accepted(spam["update_id"])
    assert not fake.calls_to("getUpdates") and not fake.calls_to("deleteWebhook")
    (registered,) = fake.calls_to("setWebhook")
    assert registered.params["url"] == served.hook
    assert registered.params["secret_token"] == SECRET
    assert registered.params["allowed_updates"] == ALLOWED_UPDATES
    assert not registered.params.get("drop_pending_updates")
    served.stop.set()
    assert await asyncio.wait_for(served.task, 20) == 0
    assert fake.webhook_url == served.hook  # other workers may still be serving it
    assert caplog.records and SECRET not in caplog.text


async def test_webhook_health_counts_the_registration_and_accepted_updates(
    served: Served,
) -> None:
    update = served.telegram.push_message(GROUP, ALICE, "Hello")
    await served.telegram.wait_until(lambda: bool(served.telegram.accepted(update["update_id"])))
    async with aiohttp.ClientSession() as http, http.get(served.health) as response:
        telegram = (await response.json())["platforms"]["telegram"]
    assert telegram["fresh"] and telegram["last_success"] is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}],
    ids=["missing", "wrong", "longer"],
)
async def test_webhook_refuses_a_missing_or_wrong_secret_and_stores_nothing(
    served: Served, headers: dict[str, str]
) -> None:
    forged = {"update_id": 900, "message": served.telegram.store_message(GROUP, SPAMMER, SPAM)}
    json_headers = {"Content-Type": "application/json", **headers}
    assert await _post(served, json.dumps(forged), json_headers) == 401
    # A genuine update afterwards goes through; the forged one never reached the inbox.
    genuine = served.telegram.push_message(GROUP, ALICE, "Hello")
    await served.telegram.wait_until(lambda: bool(served.telegram.accepted(genuine["update_id"])))
    assert await served.inbox_rows() == 1
    assert not served.telegram.calls_to("deleteMessage")


@pytest.mark.parametrize(
    "body",
    ["not json at all", "[1, 2]", '{"update_id": "x"}', '{"message": {}}', b"\xff\xfe"],
    ids=["text", "list", "bad-id", "no-id", "not-utf8"],
)
async def test_webhook_answers_400_to_a_malformed_body_and_logs_it(
    served: Served, body: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.adapters.telegram.webhook")
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    assert await _post(served, body, headers) == 400
    assert "refused a body" in caplog.text
    assert await served.inbox_rows() == 0


async def test_webhook_serves_only_post_on_its_path(served: Served) -> None:
    headers = {SECRET_HEADER: SECRET}
    other = served.hook.replace("/tg/hook", "/elsewhere")
    assert await _post(served, "{}", headers, url=other) == 404
    async with aiohttp.ClientSession() as http, http.put(served.hook, headers=headers) as put:
        assert put.status == 405


async def test_webhook_redelivery_of_a_stored_update_is_dropped_as_a_duplicate(
    served: Served,
) -> None:
    fake = served.telegram
    fake.lose_next_answers(1)  # stored, but Telegram never hears the 200
    spam = fake.push_message(GROUP, SPAMMER, SPAM)
    await fake.wait_until(lambda: bool(fake.accepted(spam["update_id"])))
    deliveries = [d for d in fake.deliveries if d.update_id == spam["update_id"]]
    assert [d.accepted for d in deliveries] == [False, True]
    assert await served.inbox_rows() == 1
    await fake.wait_for_calls("deleteMessage", within=WITHIN)
    assert len(fake.calls_to("deleteMessage")) == 1


async def test_service_exits_non_zero_when_telegram_refuses_the_webhook(
    fake: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    settings = load_settings(
        {
            "SMMBOT_RULES": str(rules),
            "SMMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'refused.db'}",
            "SMMBOT_TELEGRAM__TOKEN": fake.token,
            "SMMBOT_TELEGRAM__API_BASE": fake.base_url,
            "SMMBOT_TELEGRAM__WEBHOOK_URL": "http://bot.example.com/tg/hook",  # not HTTPS
            "SMMBOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
        }
    )
    assert await run_service(settings, stop=asyncio.Event()) == 1
    assert "HTTPS URL must be provided" in capsys.readouterr().err


# ------------------------------------------------------------------------- runner and fake


async def test_runner_sets_the_webhook_or_deletes_it_when_back_to_polling(
    fake: FakeTelegram, bot: Bot
) -> None:
    context = MappingContext(bot_id=bot.id, communities={GROUP: "Brand chat"})
    config = WebhookConfig("http://127.0.0.1:9/hook", SecretStr(SECRET))
    services: dict[str, Any] = {"intake": RecordingIntake(), "desk": RecordingDesk()}
    await TelegramRunner(bot, context=context, webhook=config, **services).prepare()
    assert fake.webhook_url == config.url and not fake.calls_to("deleteWebhook")
    await TelegramRunner(bot, context=context, **services).prepare()
    assert fake.webhook_url is None and fake.calls_to("deleteWebhook")


async def test_runner_answers_only_after_storing_so_a_crash_means_redelivery(
    fake: FakeTelegram, bot: Bot
) -> None:
    port, intake = free_port(), RecordingIntake()
    config = WebhookConfig(
        f"http://127.0.0.1:{port}/hook", SecretStr(SECRET), f"127.0.0.1:{port}", 60, 0.1
    )
    context = MappingContext(bot_id=bot.id, communities={GROUP: "Brand chat"})
    services: dict[str, Any] = {"intake": intake, "desk": RecordingDesk(), "context": context}
    intake.gates["stuck"] = asyncio.Event()
    first = TelegramRunner(bot, webhook=config, **services)
    running = asyncio.create_task(first.run())
    update = fake.push_message(GROUP, ALICE, "stuck")
    await intake.wait_for(1)
    await first.stop()  # dies while the update is being stored
    await asyncio.wait_for(running, WITHIN)
    assert not fake.accepted(update["update_id"]) and fake.pending_updates
    intake.gates["stuck"].set()
    second = TelegramRunner(bot, webhook=config, **services)
    running = asyncio.create_task(second.run())
    await fake.wait_until(lambda: bool(fake.accepted(update["update_id"])), within=WITHIN)
    await second.stop()
    await asyncio.wait_for(running, WITHIN)
    assert [m.text for m in intake.received] == ["stuck"]
    assert len(intake.offered) >= 2 and not fake.pending_updates


async def test_runner_sets_the_webhook_again_when_someone_deleted_it(
    fake: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    config = WebhookConfig(url, SecretStr(SECRET), f"127.0.0.1:{port}", check_every=0.05)
    context = MappingContext(bot_id=bot.id, communities={GROUP: "Brand chat"})
    runner = TelegramRunner(
        bot, intake=RecordingIntake(), desk=RecordingDesk(), context=context, webhook=config
    )
    running = asyncio.create_task(runner.run())
    await fake.wait_for_calls("getWebhookInfo", within=WITHIN)
    await bot.delete_webhook()  # e.g. a worker started without the webhook settings
    await fake.wait_until(lambda: len(fake.calls_to("setWebhook")) == 2, within=WITHIN)
    await runner.stop()
    await asyncio.wait_for(running, WITHIN)
    assert fake.webhook_url == url
    assert "setting it again" in caplog.text


async def test_fake_conflicts_on_get_updates_while_a_webhook_is_set(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.push_message(GROUP, ALICE, "waiting")
    await bot.set_webhook("http://127.0.0.1:9/hook", secret_token=SECRET)  # nobody listens
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await fake.wait_until(lambda: bool(fake.deliveries))
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook" and info.pending_update_count == 1
    assert info.last_error_message
    await bot.delete_webhook()
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["waiting"]


async def test_fake_refuses_a_plain_http_webhook_off_loopback_and_a_bad_secret(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://bot.example.com/hook")
    with pytest.raises(TelegramBadRequest, match="secret token"):
        await bot.set_webhook("https://bot.example.com/hook", secret_token="not allowed!")


# -------------------------------------------------------------------------------- settings


def test_settings_refuse_a_webhook_url_without_a_secret() -> None:
    with pytest.raises(SettingsError, match="SMMBOT_TELEGRAM__WEBHOOK_SECRET is required"):
        load_settings({"SMMBOT_TELEGRAM__WEBHOOK_URL": "https://bot.example.com/tg/hook"})


@pytest.mark.parametrize(
    "secret", ["", "has space", "ü", "x" * 257], ids=["empty", "space", "non-ascii", "too-long"]
)
def test_settings_refuse_a_secret_telegram_would_refuse(secret: str) -> None:
    environ = {
        "SMMBOT_TELEGRAM__WEBHOOK_URL": "https://bot.example.com/tg/hook",
        "SMMBOT_TELEGRAM__WEBHOOK_SECRET": secret,
    }
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(environ)


def test_settings_keep_the_webhook_secret_out_of_their_text() -> None:
    settings = load_settings(
        {
            "SMMBOT_TELEGRAM__WEBHOOK_URL": "https://bot.example.com/tg/hook",
            "SMMBOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
            "SMMBOT_TELEGRAM__WEBHOOK_LISTEN": "0.0.0.0:8443",
        }
    )
    assert settings.telegram.webhook_listen == "0.0.0.0:8443"
    assert SECRET not in repr(settings) and SECRET not in str(settings)
