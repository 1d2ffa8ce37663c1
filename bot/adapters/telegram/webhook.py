"""Receiving Telegram updates by webhook, with the same at-least-once delivery as polling.

Telegram POSTs each update to the public URL and repeats it until it gets a 2xx answer (the Bot
API gives up only "after a reasonable number of attempts"). We answer 200 only after the
Dispatcher's handlers returned, i.e. after `IntakeFeed.receive` stored the message in the inbox;
a crash, a timeout or a 5xx before that means redelivery, and the inbox drops the duplicate by
event key. `Dispatcher.feed_webhook_update` is not used on purpose: after 55 s it answers and
moves the handler to the background, which would confirm an update before it is stored.

Any number of workers may serve the same URL behind a load balancer: unlike `getUpdates`, the
webhook has no single-consumer rule, so no lease is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramBadRequest
from aiogram.types import Update
from aiohttp import web
from pydantic import SecretStr, ValidationError

from bot.adapters.telegram.errors import TelegramConfigError, attempt
from bot.core.model import ActionResult

__all__ = ["SECRET_HEADER", "TelegramWebhook", "WebhookConfig"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Where Telegram posts (public URL), the shared secret, and where we listen (host:port)."""

    url: str
    secret: SecretStr
    listen: str = "127.0.0.1:8081"
    check_every: float = 60.0  # seconds between getWebhookInfo checks
    # On stop, a handler still storing an update after this is cancelled: Telegram redelivers.
    shutdown_timeout: float = 10.0

    @property
    def path(self) -> str:
        """The URL's path: the reverse proxy forwards it unchanged."""
        return urlsplit(self.url).path or "/"

    @property
    def host_port(self) -> tuple[str, int]:
        """`listen` split into a bindable host (IPv6 brackets removed) and a port."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class TelegramWebhook:
    """An aiohttp server that feeds Telegram's webhook POSTs into the runner's Dispatcher."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        config: WebhookConfig,
        allowed_updates: Sequence[str],
    ) -> None:
        self.bot, self.dispatcher, self.config = bot, dispatcher, config
        self.allowed_updates = list(allowed_updates)
        self.last_update: float | None = None  # wall time of the last stored update
        self.last_confirmed: float | None = None  # Telegram last said the webhook is ours
        self.rejected = 0  # requests refused with 401 or 400
        self.port: int | None = None  # the bound port, once serving
        self._runner: web.AppRunner | None = None
        self._error_date: datetime | None = None

    @property
    def last_success(self) -> float | None:
        """When delivery last looked healthy: an update stored or the registration confirmed."""
        moments = [m for m in (self.last_update, self.last_confirmed) if m is not None]
        return max(moments, default=None)

    # ---------------------------------------------------------------------- registration

    async def register(self) -> None:
        """setWebhook with our URL, secret and update kinds; pending updates are kept.

        A refusal (not HTTPS, a port Telegram does not post to) is a configuration error; a
        network failure is only logged, and `watch` registers again later.
        """
        try:
            await self.bot.set_webhook(
                self.config.url,
                secret_token=self.config.secret.get_secret_value(),
                allowed_updates=self.allowed_updates,
                drop_pending_updates=False,
            )
        except TelegramBadRequest as error:
            raise TelegramConfigError(f"Telegram refused the webhook: {error.message}") from error
        except (TelegramAPIError, ClientDecodeError) as error:
            log.warning("setting the Telegram webhook failed, will retry: %r", error)
            return
        self.last_confirmed = time.time()
        log.info("Telegram webhook set to %s", self.config.url)

    async def watch(self, stop: asyncio.Event) -> None:
        """Until `stop`, check now and then that Telegram still posts to us."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.check_every)
            if not stop.is_set():
                await self.check()

    async def check(self) -> None:
        """getWebhookInfo: register again when unset, log new delivery errors."""
        info = await attempt(self.bot.get_webhook_info(), idempotent=True)
        if isinstance(info, ActionResult):
            return
        if not info.url:
            # Our registration failed at start, or a worker configured for polling deleted it.
            log.warning("Telegram webhook is unset: setting it again")
            await self.register()
            return
        if info.url != self.config.url:
            # Another URL is a deliberate change (a deploy in progress): do not fight over it,
            # but stop confirming, so /healthz turns degraded if it stays that way.
            log.error("Telegram webhook points to %s, not to %s", info.url, self.config.url)
            return
        if info.last_error_date is not None and info.last_error_date != self._error_date:
            self._error_date = info.last_error_date
            log.warning(
                "Telegram reports webhook delivery errors: %s (%s updates pending)",
                info.last_error_message,
                info.pending_update_count,
            )
        self.last_confirmed = time.time()

    # --------------------------------------------------------------------------- serving

    async def start(self) -> None:
        """Bind the server; only POST on the URL's path is routed (others get 404/405)."""
        app = web.Application()
        app.router.add_post(self.config.path, self._receive)
        timeout = self.config.shutdown_timeout
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=timeout)
        await self._runner.setup()
        host, port = self.config.host_port
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Telegram webhook: serving %s on %s:%s", self.config.path, host, self.port)

    async def stop(self) -> None:
        """Stop serving; the webhook stays set, for the other workers and for our restart."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            self.rejected += 1
            log.warning("webhook: refused a request without the right secret")
            return web.Response(status=401)
        update = await self._parse(request)
        if update is None:
            self.rejected += 1
            return web.Response(status=400)
        # Handlers run to the end (the message is stored) before Telegram hears 200.
        await self.dispatcher.feed_update(self.bot, update)
        self.last_update = time.time()
        return web.Response()

    def _authentic(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        expected = self.config.secret.get_secret_value().encode()
        return hmac.compare_digest(given, expected)

    async def _parse(self, request: web.Request) -> Update | None:
        try:
            data = await request.json()
            return Update.model_validate(data, context={"bot": self.bot})
        except ValidationError as error:
            log.warning("webhook: refused a body that is not an Update: %s", _fields(error))
        except ValueError as error:  # not JSON, or not UTF-8
            log.warning("webhook: refused a body that is not JSON: %s", type(error).__name__)
        return None


def _fields(error: ValidationError) -> str:
    # Field paths only: the values may be users' messages and do not belong in logs.
    locations = {".".join(str(p) for p in e["loc"]) or "<root>" for e in error.errors()}
    return ", ".join(sorted(locations)[:5])
