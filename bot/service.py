"""`smmbot run`: wire the platforms around the core and run until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiogram import Bot

from bot.adapters.telegram.actions import TelegramActions
from bot.adapters.telegram.client import CallStats, build_bot
from bot.adapters.telegram.errors import TelegramConfigError
from bot.adapters.telegram.mapping import MappingContext
from bot.adapters.telegram.moderators import TelegramModeratorsChat
from bot.adapters.telegram.runner import TelegramRunner
from bot.adapters.telegram.webhook import WebhookConfig
from bot.adapters.vk.actions import VkActions, VkCommunityActions
from bot.adapters.vk.client import VkClient
from bot.adapters.vk.mapping import VkContext
from bot.adapters.vk.runner import VkRunner
from bot.app import Core, StartupError, build_core
from bot.core.model import Platform
from bot.core.ports import Actions, AuditEntry, EscalationCard
from bot.i18n import t
from bot.leadership import Leases, WorkerIdInUse, lead
from bot.moderation.commands import Commands
from bot.ops import OpsServer, PollSource
from bot.platforms import PlatformPlan, VkCommunity, plan_platforms
from bot.positions import StoredPositions
from bot.routing import ActionRouter
from bot.rules_file import RulesError, RulesSource
from bot.settings import Settings

log = logging.getLogger(__name__)

RULES_POLL_SECONDS = 2.0
SHUTDOWN_GRACE_SECONDS = 20.0


@dataclass
class Connections:
    """The platform clients and runners of one service."""

    bot: Bot | None = None
    telegram_stats: CallStats | None = None
    moderators: TelegramModeratorsChat | None = None
    telegram: TelegramRunner | None = None
    vk_runners: list[VkRunner] = field(default_factory=list)
    actions: dict[Platform, Actions] = field(default_factory=dict)


async def run_service(
    settings: Settings, *, dry_run: bool = False, stop: asyncio.Event | None = None
) -> int:
    """Start everything, run until stopped, shut down in order; the exit code says how it went."""
    try:
        rules = RulesSource(settings.rules)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    plan = plan_platforms(settings, rules.rules)
    if plan.empty:
        print(t("no-platform", rules.rules.language), file=sys.stderr)
        return 2
    try:
        return await _serve(settings, rules, plan, dry_run, stop or _signal_event())
    except WorkerIdInUse as exc:
        language = rules.rules.language
        error = t("worker-id-in-use", language, worker=exc.worker, holder=exc.holder)
        print(t("config-error", language, error=error), file=sys.stderr)
        return 1
    except (StartupError, TelegramConfigError) as exc:
        print(t("config-error", rules.rules.language, error=exc), file=sys.stderr)
        return 1


def _signal_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve(
    settings: Settings, rules: RulesSource, plan: PlatformPlan, dry_run: bool, stop: asyncio.Event
) -> int:
    router = ActionRouter({}, None)  # adapters are attached once the core can receive alerts
    core = await build_core(settings, rules, router, dry_run=dry_run)
    links, ops = Connections(), None
    try:
        # Before anything runs: recovery and leases are keyed by the worker id.
        leases = Leases(core.store, settings.worker_id, core.pipeline.clock)
        await leases.register()
        _connect(settings, rules, plan, core, links)
        router.attach(links.actions, links.moderators)
        await _start_runners(links)
        ops = await _start_ops(settings, core, links)
        await _run_until(stop, core, links, rules, leases)
    finally:
        await _shutdown(links, core)
    if ops is not None:
        await ops.stop()
    return 0


async def _start_ops(settings: Settings, core: Core, links: Connections) -> OpsServer | None:
    if settings.http_port is None:
        return None
    server = OpsServer(core.store, _poll_sources(settings, links), settings.http_port)
    await server.start()
    return server


def _poll_sources(settings: Settings, links: Connections) -> list[PollSource]:
    # A poll is stale after three long-poll periods plus a minute of backoff.
    sources = []
    if links.telegram_stats is not None:
        sources.append(_telegram_source(settings, links, links.telegram_stats))
    for runner in links.vk_runners:
        sources.append(
            PollSource(
                f"vk:{runner.ctx.group_id}",
                lambda r=runner: r.last_success,  # type: ignore[misc]
                lambda r=runner: r.errors,  # type: ignore[misc]
                settings.vk.longpoll_wait * 3 + 60,
            )
        )
    return sources


def _telegram_source(settings: Settings, links: Connections, stats: CallStats) -> PollSource:
    def errors() -> int:
        return sum(stats.errors.values())

    webhook = links.telegram.webhook if links.telegram is not None else None
    if webhook is None:
        stale = settings.telegram.polling_timeout * 3 + 60
        return PollSource("telegram", lambda: stats.last_success.get("getUpdates"), errors, stale)
    # A quiet chat sends no updates, so a registration confirmed by getWebhookInfo counts too.
    stale_webhook = webhook.config.check_every * 3 + 60
    return PollSource("telegram", lambda: webhook.last_success, errors, stale_webhook)


def _connect(
    settings: Settings, rules: RulesSource, plan: PlatformPlan, core: Core, links: Connections
) -> None:
    if plan.telegram_token is not None:
        links.telegram_stats = CallStats()
        token = plan.telegram_token.get_secret_value()
        links.bot = build_bot(token, settings.telegram.api_base, stats=links.telegram_stats)
        chat_id = rules.rules.moderators.telegram_chat_id
        if chat_id is not None:
            links.moderators = TelegramModeratorsChat(links.bot, chat_id, rules.rules.language)
        links.actions[Platform.TELEGRAM] = TelegramActions(links.bot, links.moderators)
        links.telegram = _telegram_runner(settings, rules, links, core)
    if plan.vk:
        positions = StoredPositions(core.store)
        clients = {c.name: _vk_client(settings, c, core) for c in plan.vk}
        by_community = {c.name: VkActions(clients[c.name], c.group_id) for c in plan.vk}
        links.actions[Platform.VK] = VkCommunityActions(by_community)
        links.vk_runners = [
            VkRunner(
                clients[c.name],
                core.pipeline,
                positions,
                VkContext(c.group_id, c.name),
                wait=settings.vk.longpoll_wait,
            )
            for c in plan.vk
        ]


def _vk_client(settings: Settings, community: VkCommunity, core: Core) -> VkClient:
    user = community.user_token.get_secret_value() if community.user_token else None
    return VkClient(
        community.group_token.get_secret_value(),
        user_token=user,
        api_base=settings.vk.api_base,
        alert=core.pipeline.record_event,
    )


async def _start_runners(links: Connections) -> None:
    # Telegram first: an invalid token must stop the start before anything else runs.
    if links.telegram is not None:
        await links.telegram.prepare()
    for runner in links.vk_runners:
        for problem in await runner.client.check_tokens(runner.ctx.group_id):
            log.error("VK %s: %s", runner.ctx.community, problem)


def _telegram_runner(
    settings: Settings, rules: RulesSource, links: Connections, core: Core
) -> TelegramRunner:
    assert links.bot is not None
    ruleset = rules.rules
    linked = {c.telegram.linked_channel_id for c in ruleset.communities if c.telegram}
    direct = next((c.name for c in ruleset.communities if c.telegram and c.private_messages), None)
    context = MappingContext(
        bot_id=links.bot.id,
        communities=ruleset.telegram_chats(),
        linked_channels=frozenset(c for c in linked if c is not None),
        direct_community=direct,
    )
    commands = Commands(
        rules, core.scoring, core.store, core.pipeline.clock, lambda: _reload(rules, core, links)
    )
    return TelegramRunner(
        links.bot,
        intake=core.pipeline,
        desk=core.desk,
        context=context,
        moderators=links.moderators,
        commands=commands,
        moderator_ids=frozenset(ruleset.moderators.user_ids),
        polling_timeout=settings.telegram.polling_timeout,
        webhook=_webhook_config(settings),
    )


def _webhook_config(settings: Settings) -> WebhookConfig | None:
    telegram = settings.telegram
    if telegram.webhook_url is None or telegram.webhook_secret is None:
        return None  # settings refuse a URL without a secret
    return WebhookConfig(telegram.webhook_url, telegram.webhook_secret, telegram.webhook_listen)


async def _run_until(
    stop: asyncio.Event, core: Core, links: Connections, rules: RulesSource, leases: Leases
) -> None:
    tasks: list[Awaitable[Any]] = [
        core.pipeline.run(stop),
        _watch_rules(stop, rules, core, links),
        _remind(stop, rules, core, links),
        leases.keep(stop),
        *_pollers(links, leases, stop),
    ]
    running = [asyncio.ensure_future(task) for task in tasks]
    await stop.wait()
    if links.telegram is not None:
        await links.telegram.stop()
    done, pending = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.error("a service task failed: %r", task.exception())


def _pollers(links: Connections, leases: Leases, stop: asyncio.Event) -> list[Awaitable[Any]]:
    # Each platform connection is polled by the one worker holding its lease.
    pollers: list[Awaitable[Any]] = []
    telegram = links.telegram
    if telegram is not None and telegram.webhook is not None:
        # Telegram posts to whichever worker the proxy picks: every worker serves, no lease.
        pollers.append(_poll_telegram(telegram.serve, stop))
    elif telegram is not None and links.bot is not None:
        poll = functools.partial(_poll_telegram, telegram.poll, stop)
        pollers.append(lead(leases, f"telegram:{links.bot.id}", poll, stop))
    for runner in links.vk_runners:
        pollers.append(lead(leases, f"vk:{runner.ctx.group_id}", runner.start, stop))
    return pollers


async def _poll_telegram(receive: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    # prepare() already ran; polling or serving ends with runner.stop() from _run_until.
    try:
        await receive()
    finally:
        stop.set()


async def _shutdown(links: Connections, core: Core) -> None:
    for runner in links.vk_runners:
        with contextlib.suppress(Exception):
            await runner.stop()
    await core.close()
    if links.bot is not None:
        await links.bot.session.close()


async def _watch_rules(
    stop: asyncio.Event, rules: RulesSource, core: Core, links: Connections
) -> None:
    while not stop.is_set():
        if rules.changed():
            await _reload(rules, core, links)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RULES_POLL_SECONDS)


async def _reload(rules: RulesSource, core: Core, links: Connections) -> str:
    """Reload rules.yaml; a broken file is refused (logged, audited, moderators told once)."""
    problems = rules.reload()
    lang = rules.rules.language
    if not problems:
        log.info("rules reloaded from %s", rules.path)
        await core.pipeline.record_event("rules-reloaded", {"path": str(rules.path)})
        return t("rules-reloaded", lang, communities=len(rules.rules.communities))
    text = "\n".join(str(p) for p in problems)
    for problem in problems:
        log.error("rules refused: %s", problem)
    await core.pipeline.record_event("rules-rejected", {"problems": text.splitlines()})
    message = t("rules-rejected", lang, problems=text)
    if links.moderators is not None:
        await links.moderators.notify(message)
    return message


async def _remind(stop: asyncio.Event, rules: RulesSource, core: Core, links: Connections) -> None:
    while not stop.is_set():
        wait = rules.rules.moderators.remind_after
        if links.moderators is not None:
            await _remind_once(core, links.moderators, wait, rules.rules.language)
        pause = max(5.0, min(60.0, wait.total_seconds() / 4))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def _remind_once(
    core: Core, moderators: TelegramModeratorsChat, wait: timedelta, lang: str
) -> None:
    now = core.pipeline.clock.now()
    async with core.store.begin() as uow:
        waiting = await uow.escalations.waiting(now - wait)
        cards = [
            EscalationCard(
                e, await uow.inbox.get(e.inbox_id), await uow.inbox.verdict(e.inbox_id), e.reason
            )
            for e in waiting
        ]
    for card in cards:
        age = int((now - card.escalation.created_at).total_seconds() // 60)
        await moderators.notify(t("reminder", lang, age=age))
        result = await moderators.post(card)
        async with core.store.begin() as uow:
            await uow.escalations.reminded(card.escalation.id, now)
            if result.ok and result.platform_ref:
                chat_id, _, message_id = result.platform_ref.partition(":")
                await uow.escalations.set_card(card.escalation.id, int(chat_id), int(message_id))
            detail = {"escalation": card.escalation.id, "posted": result.ok}
            await uow.audit.record(
                AuditEntry("escalation-reminded", detail, card.escalation.inbox_id), now
            )
