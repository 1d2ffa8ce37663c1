"""FakeVK and a fast VkClient pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.client import RetryPolicy, VkClient
from tests.fakes.vk import RecordingAlerts

GID = 77

FAST = RetryPolicy(rps_backoff=0, server_backoff=0, jitter=0, rps_delay=0)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeVK]:
    fake = await FakeVK(group_id=GID, max_wait=0.5).start()
    yield fake
    await fake.stop()


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()


def make_client(
    fake: FakeVK,
    *,
    user: bool = True,
    alerts: RecordingAlerts | None = None,
    policy: RetryPolicy = FAST,
) -> VkClient:
    return VkClient(
        fake.group_token,
        user_token=fake.user_token if user else None,
        api_base=fake.base_url,
        timeout=5,
        policy=policy,
        alert=alerts,
    )


@pytest.fixture
def client(fake: FakeVK, alerts: RecordingAlerts) -> VkClient:
    return make_client(fake, alerts=alerts)
