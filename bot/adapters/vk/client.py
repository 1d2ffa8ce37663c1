"""An async wrapper over the synchronous vk_api with bounded, classified error handling.

Two clients in one: the community token (`VkApiGroup`, ~20 req/s) for long poll, messages and
comments, and an optional admin user token (`VkApi`, ~3 req/s) for the user-only methods
(`wall/photos/video/market.deleteComment`, `groups.ban`). Each has its own `VkSession`, so no
requests session is shared across threads; vk_api's per-instance lock serialises and rate-limits
calls made from `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jconfig
import requests
import vk_api
from vk_api.exceptions import ApiError, ApiHttpError, Captcha

from bot.adapters.vk.session import DEFAULT_API_BASE, DEFAULT_TIMEOUT, VkSession

__all__ = [
    "API_VERSION",
    "AlertSink",
    "RetryPolicy",
    "VkClient",
    "VkResult",
    "guid_for",
    "random_id_for",
]

log = logging.getLogger(__name__)

API_VERSION = "5.199"
INT63 = 2**63 - 1

# An async callback with the shape of `Intake.record_event`: (kebab-case event, detail).
AlertSink = Callable[[str, dict[str, Any]], Awaitable[None]]

ALERT_EVENTS = {
    5: "vk-token-invalid",
    14: "vk-captcha",
    15: "vk-access-denied",
    27: "vk-method-needs-user-token",
}
NO_RETRY_CODES = {5, 15, 27, 100}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for every retry the client makes; tests set the delays to zero."""

    rps_retries: int = 3  # error 6, retried inside vk_api's handler slot
    rps_backoff: float = 0.5
    server_retries: int = 2  # error 10, and transport errors on idempotent calls
    server_backoff: float = 1.0
    # Error 9 (the same action too often) gives no retry time: pause that method for
    # flood_backoff, doubling while it keeps coming back, up to flood_backoff_max; never loop.
    flood_backoff: float = 60.0
    flood_backoff_max: float = 600.0
    captcha_pause: float = 900.0  # error 14: a bot cannot solve it; pause that method
    jitter: float = 0.1
    rps_delay: float | None = None  # None keeps vk_api's limiter (20 rps group, 3 rps user)


@dataclass(frozen=True, slots=True)
class VkResult:
    """The outcome of one API call: the response, or the error as data."""

    ok: bool
    response: Any = None
    error: str | None = None
    code: int | None = None  # VK error code; None for transport errors
    retryable: bool = False
    retry_after: float | None = None
    uncertain: bool = False  # a non-idempotent call may have been executed before the failure


def random_id_for(idempotency_key: str) -> int:
    """A `messages.send` random_id derived from the action's key (positive int64, never 0).

    VK drops a send whose random_id it has seen from the same sender, across the whole history,
    so a retried send with the same key cannot post twice.
    """
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") & INT63 or 1


def guid_for(idempotency_key: str) -> str:
    """The `guid` of a comment, derived from the action's key (VK documents it as dedupe)."""
    return hashlib.sha256(("guid:" + idempotency_key).encode()).hexdigest()[:32]


class BoundedRpsHandler:
    """Replaces vk_api's error-6 handler, which retries recursively without limit.

    vk_api calls `error_handlers[6](error)`; `error.try_method()` re-enters `VkApi.method`, which
    calls the handler again on another error 6. A per-thread depth counter bounds that recursion;
    returning None makes vk_api raise the ApiError, which the client turns into a result.
    """

    def __init__(self, retries: int, backoff: float, jitter: float) -> None:
        self.retries = retries
        self.backoff = backoff
        self.jitter = jitter
        self._local = threading.local()

    def __call__(self, error: ApiError) -> Any:
        depth = getattr(self._local, "depth", 0)
        if depth >= self.retries:
            return None
        time.sleep(self.backoff * 2**depth * (1 + random.uniform(0, self.jitter)))
        self._local.depth = depth + 1
        try:
            return error.try_method()
        finally:
            self._local.depth = depth


class VkClient:
    """Calls VK API methods from asyncio; errors come back as `VkResult`, never raised."""

    def __init__(
        self,
        group_token: str,
        *,
        user_token: str | None = None,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        alert: AlertSink | None = None,
        api_version: str = API_VERSION,
    ) -> None:
        self.api_base = api_base
        self.timeout = timeout
        self.api_version = api_version
        self.policy = policy or RetryPolicy()
        self._alert = alert
        self.group_api = self._make(vk_api.VkApiGroup, group_token)
        self.user_api = self._make(vk_api.VkApi, user_token) if user_token else None
        self._disabled: dict[str, str] = {}  # "user", "group" or a method → reason
        self._paused: dict[str, tuple[float, str]] = {}  # method → (monotonic until, reason)
        self._floods: dict[str, int] = {}  # method → error 9s since its last success

    @property
    def has_user_token(self) -> bool:
        """True when an admin user token was configured."""
        return self.user_api is not None

    async def check_tokens(self, group_id: int) -> list[str]:
        """Problems with the configured tokens, checked before polling (empty when all is well)."""
        problems = []
        own = await self.call("groups.getById", {})
        if not own.ok:
            problems.append(f"the community token does not work: {own.error}")
        elif _first_group(own.response).get("id") != group_id:
            problems.append(f"the community token belongs to another community, not {group_id}")
        if self.user_api is not None:
            admin = await self.call("groups.getById", {"group_id": group_id}, user=True)
            if not admin.ok or not _first_group(admin.response).get("is_admin"):
                problems.append(f"the user token is not an admin of community {group_id}")
        return problems

    def _make(self, cls: type[vk_api.VkApi], token: str) -> vk_api.VkApi:
        api = cls(
            token=token,
            api_version=self.api_version,
            config=jconfig.MemoryConfig,  # the default Config reads vk_config.v2.json from the CWD
            session=VkSession(self.api_base, self.timeout),
        )
        p = self.policy
        api.error_handlers[6] = BoundedRpsHandler(p.rps_retries, p.rps_backoff, p.jitter)
        if p.rps_delay is not None:
            api.RPS_DELAY = p.rps_delay
        return api

    async def call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        user: bool = False,
        idempotent: bool = True,
    ) -> VkResult:
        """Call a method with the community token (or the user token when `user`)."""
        api = self.user_api if user else self.group_api
        if api is None:
            return VkResult(False, error="needs an admin user token")
        blocked = self._blocked(method, user)
        if blocked is not None:
            return blocked
        result = await self._attempt(api, method, params, idempotent)
        for attempt in range(1, self.policy.server_retries + 1):
            if not _worth_retrying(result):
                break
            await asyncio.sleep(self.policy.server_backoff * 2 ** (attempt - 1))
            result = await self._attempt(api, method, params, idempotent)
        await self._after(method, user, result)
        return result

    async def _attempt(
        self, api: vk_api.VkApi, method: str, params: Mapping[str, Any], idempotent: bool
    ) -> VkResult:
        try:
            return VkResult(True, await asyncio.to_thread(api.method, method, dict(params)))
        except Captcha:
            pause = self.policy.captcha_pause
            return VkResult(
                False, error="[14] captcha needed", code=14, retryable=True, retry_after=pause
            )
        except ApiError as exc:
            return self._api_error(method, exc)
        except (ApiHttpError, requests.RequestException, ValueError) as exc:
            return _transport_error(method, exc, idempotent)

    def _api_error(self, method: str, exc: ApiError) -> VkResult:
        code = int(exc.code)
        message = f"[{code}] {exc.error.get('error_msg', '')}"
        if code in NO_RETRY_CODES:
            return VkResult(False, error=message, code=code)
        if code == 9:
            retry_after = self._flood_pause(method)
        else:
            retry_after = self.policy.rps_backoff * 4 if code == 6 else self.policy.server_backoff
        return VkResult(False, error=message, code=code, retryable=True, retry_after=retry_after)

    def _flood_pause(self, method: str) -> float:
        """Seconds to pause `method` after an error 9: doubling while VK keeps refusing."""
        floods = self._floods[method] = self._floods.get(method, 0) + 1
        return min(self.policy.flood_backoff * 2 ** (floods - 1), self.policy.flood_backoff_max)

    def _blocked(self, method: str, user: bool) -> VkResult | None:
        reason = self._disabled.get("user" if user else "group") or self._disabled.get(method)
        if reason:
            return VkResult(False, error=f"disabled until restart: {reason}")
        until, why = self._paused.get(method, (0.0, ""))
        remaining = until - time.monotonic()
        if remaining > 0:
            return VkResult(False, error=f"paused: {why}", retryable=True, retry_after=remaining)
        return None

    async def _after(self, method: str, user: bool, result: VkResult) -> None:
        if result.ok:
            self._floods.pop(method, None)
        if result.ok or result.code is None:
            return
        log.warning("VK %s failed: %s", method, result.error)
        if result.code == 5:
            self._disabled["user" if user else "group"] = result.error or "token invalid"
        elif result.code == 27:
            self._disabled[method] = result.error or "needs a user token"
        elif result.code in (9, 14):
            self._paused[method] = (
                time.monotonic() + (result.retry_after or 0),
                result.error or "",
            )
        if result.code in ALERT_EVENTS:
            await self._raise_alert(ALERT_EVENTS[result.code], method, user, result)

    async def _raise_alert(self, event: str, method: str, user: bool, result: VkResult) -> None:
        detail = {"method": method, "token": "user" if user else "group", "error": result.error}
        if self._alert is None:
            log.error("VK alert %s: %s", event, detail)
            return
        try:
            await self._alert(event, detail)
        except Exception:
            log.exception("could not record VK alert %s", event)


def _first_group(response: Any) -> dict[str, Any]:
    # groups.getById answers {"groups": [...]} since API 5.194 and a bare list before it.
    groups = response.get("groups", []) if isinstance(response, dict) else response
    return dict(groups[0]) if groups else {}


def _worth_retrying(result: VkResult) -> bool:
    # VK error 10 is an explicit failure (nothing was done), so it is retried for every method;
    # transport errors come back retryable only for idempotent calls.
    return not result.ok and result.retryable and result.code in (10, None)


_SECRET_PARAMS = re.compile(r"(access_token|key)=[^&\s]+")


def _transport_error(method: str, exc: Exception, idempotent: bool) -> VkResult:
    detail = _SECRET_PARAMS.sub(r"\1=***", f"{type(exc).__name__}: {exc}")
    log.warning("VK %s transport error: %s", method, detail)
    if idempotent:
        return VkResult(False, error=detail, retryable=True)
    # The request may have been executed: repeating a non-idempotent call could do it twice.
    return VkResult(False, error=f"outcome unknown: {detail}", uncertain=True)
