"""Bot API failures → `ActionResult`: platform errors are data, never raised into the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.core.model import ActionResult

__all__ = ["TelegramConfigError", "attempt", "to_result"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# The request may or may not have reached Telegram: safe to repeat only when idempotent.
_AMBIGUOUS = (TelegramServerError, TelegramNetworkError, ClientDecodeError, TimeoutError)


class TelegramConfigError(Exception):
    """The bot cannot run as configured (invalid token, missing chat); the CLI exits non-zero."""


def to_result(error: BaseException, *, idempotent: bool) -> ActionResult:
    """Describe a failed call; retryable when repeating it is safe and may succeed."""
    if isinstance(error, TelegramRetryAfter):
        return ActionResult(
            ok=False, error=_describe(error), retryable=True, retry_after=error.retry_after
        )
    if isinstance(error, TelegramMigrateToChat):
        detail = f"group moved to supergroup {error.migrate_to_chat_id}"
        return ActionResult(ok=False, error=detail)
    if isinstance(error, _AMBIGUOUS):
        return ActionResult(
            ok=False, error=_describe(error), retryable=idempotent, uncertain=not idempotent
        )
    return ActionResult(ok=False, error=_describe(error))


async def attempt(call: Awaitable[T], *, idempotent: bool) -> T | ActionResult:
    """Await a Bot API call; return its result, or an `ActionResult` describing the failure."""
    try:
        return await call
    except (TelegramAPIError, *_AMBIGUOUS) as error:
        log.warning("telegram call failed: %s", _describe(error))
        return to_result(error, idempotent=idempotent)
    except Exception as error:  # the pipeline must never see a raw exception from a platform
        log.exception("unexpected error in a telegram call")
        return ActionResult(ok=False, error=f"{type(error).__name__}: {error}")


def _describe(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {message}"
