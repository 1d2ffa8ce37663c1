"""VkClient error handling against FakeVK, through the real vk_api."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest

from bot.adapters.sandbox.vk import FakeVK
from bot.adapters.vk.client import VkClient, VkResult, guid_for, random_id_for
from bot.adapters.vk.session import VkSession
from tests.adapters.vk.conftest import FAST, GID, make_client
from tests.fakes.vk import RecordingAlerts

SEND = {"peer_id": 5, "message": "hi"}


def send_params(key: str = "k") -> dict[str, object]:
    return SEND | {"random_id": random_id_for(key)}


def test_random_id_for_is_stable_positive_int64() -> None:
    rid = random_id_for("decision-1:reply")
    assert rid == random_id_for("decision-1:reply")
    assert rid != random_id_for("decision-1:delete")
    assert 0 < rid < 2**63
    assert len(guid_for("x")) == 32 and guid_for("x") != guid_for("y")


def test_session_rewrites_host_and_applies_timeout() -> None:
    session = VkSession("http://127.0.0.1:9", timeout=3)
    assert session._rewrite("https://api.vk.ru/method/x") == "http://127.0.0.1:9/method/x"
    assert session._rewrite("https://lp.vk.com/whp/1") == "https://lp.vk.com/whp/1"
    assert session.trust_env is False
    assert VkSession().trust_env is True


async def test_client_calls_with_group_token(fake: FakeVK, client: VkClient) -> None:
    result = await client.call("groups.getById", {"group_id": GID})
    assert result.ok and result.response["groups"][0]["id"] == GID
    assert fake.calls_to("groups.getById")[0].token_type == "group"


async def test_client_error_6_storm_is_bounded(fake: FakeVK, client: VkClient) -> None:
    fake.fail_next("messages.send", code=6, times=500)
    limit = sys.getrecursionlimit()
    result = await client.call("messages.send", send_params())
    assert not result.ok and result.code == 6 and result.retryable
    # vk_api alone would recurse until RecursionError (~325 calls); ours stops after 1 + 3.
    assert len(fake.calls_to("messages.send")) == 1 + client.policy.rps_retries
    assert sys.getrecursionlimit() == limit


async def test_client_error_6_recovers_within_bound(fake: FakeVK, client: VkClient) -> None:
    fake.fail_next("messages.send", code=6, times=2)
    result = await client.call("messages.send", send_params())
    assert result.ok
    assert len(fake.sent_messages) == 1


async def test_client_error_10_retried_then_ok(fake: FakeVK, client: VkClient) -> None:
    fake.fail_next("groups.getById", code=10, times=2)
    assert (await client.call("groups.getById", {})).ok
    assert len(fake.calls_to("groups.getById")) == 3


async def test_client_error_10_gives_up_retryable(fake: FakeVK, client: VkClient) -> None:
    fake.fail_next("groups.getById", code=10, times=10)
    result = await client.call("groups.getById", {})
    assert (result.ok, result.code, result.retryable) == (False, 10, True)
    assert len(fake.calls_to("groups.getById")) == 1 + client.policy.server_retries


async def test_client_error_9_backs_off_without_loop(fake: FakeVK, client: VkClient) -> None:
    fake.fail_next("messages.send", code=9)
    result = await client.call("messages.send", send_params())
    assert result.code == 9 and result.retryable
    assert result.retry_after == client.policy.flood_backoff
    again = await client.call("messages.send", send_params("other"))
    assert not again.ok and again.error and again.error.startswith("paused")
    assert len(fake.calls_to("messages.send")) == 1


async def test_client_error_9_pause_doubles_while_it_recurs_and_resets_on_success(
    fake: FakeVK,
) -> None:
    policy = dataclasses.replace(FAST, flood_backoff=0.01, flood_backoff_max=0.03)
    client = make_client(fake, policy=policy)

    async def send_after_pause() -> VkResult:
        await asyncio.sleep(0.05)  # past any pause this policy sets
        return await client.call("messages.send", send_params())

    fake.fail_next("messages.send", code=9, times=4)
    pauses = [(await send_after_pause()).retry_after for _ in range(4)]
    assert pauses == [0.01, 0.02, 0.03, 0.03]  # doubling, capped at flood_backoff_max
    assert (await send_after_pause()).ok
    fake.fail_next("messages.send", code=9)
    assert (await send_after_pause()).retry_after == 0.01  # a success starts over
    assert (await client.call("groups.getById", {})).ok  # other methods never paused


async def test_client_captcha_pauses_method_and_alerts(
    fake: FakeVK, client: VkClient, alerts: RecordingAlerts
) -> None:
    fake.fail_next("wall.createComment", code=14)
    params = {"owner_id": -GID, "post_id": 1, "message": "x"}
    result = await client.call("wall.createComment", params, idempotent=False)
    assert result.code == 14 and result.retry_after == client.policy.captcha_pause
    assert alerts.names() == ["vk-captcha"]
    paused = await client.call("wall.createComment", params, idempotent=False)
    assert paused.error and paused.error.startswith("paused")
    assert (await client.call("groups.getById", {})).ok  # other methods carry on


async def test_client_error_27_disables_method_and_alerts(
    fake: FakeVK, client: VkClient, alerts: RecordingAlerts
) -> None:
    params = {"owner_id": -GID, "comment_id": 3}
    result = await client.call("wall.deleteComment", params)  # group token: user-only method
    assert (result.ok, result.code, result.retryable) == (False, 27, False)
    assert alerts.names() == ["vk-method-needs-user-token"]
    again = await client.call("wall.deleteComment", params)
    assert again.error and again.error.startswith("disabled")
    assert len(fake.calls_to("wall.deleteComment")) == 1


async def test_client_error_5_disables_token_kind(
    fake: FakeVK, client: VkClient, alerts: RecordingAlerts
) -> None:
    fake.fail_next("groups.ban", code=5)
    ban = {"group_id": GID, "owner_id": 9}
    assert (await client.call("groups.ban", ban, user=True)).code == 5
    assert alerts.names() == ["vk-token-invalid"]
    assert alerts.alerts[0][1]["token"] == "user"
    assert not (await client.call("groups.unban", ban, user=True)).ok
    assert (await client.call("groups.getById", {})).ok  # the community token still works
    assert len(fake.calls_to("groups.unban")) == 0


async def test_client_error_15_recorded_not_retried(
    fake: FakeVK, client: VkClient, alerts: RecordingAlerts
) -> None:
    fake.fail_next("messages.delete", code=15)
    result = await client.call("messages.delete", {"peer_id": 5, "cmids": 1})
    assert (result.code, result.retryable) == (15, False)
    assert alerts.names() == ["vk-access-denied"]
    assert len(fake.calls_to("messages.delete")) == 1


@pytest.mark.parametrize(
    "fault",
    [{"http_status": 502}, {"http_status": 200, "body": "<html/>"}, {"drop": True}],
    ids=["http502", "html", "drop"],
)
async def test_client_transport_error_retried_when_idempotent(
    fake: FakeVK, client: VkClient, fault: dict[str, object]
) -> None:
    fake.fail_next("messages.send", **fault)
    result = await client.call("messages.send", send_params())
    assert result.ok
    assert len(fake.sent_messages) == 1


async def test_client_transport_error_not_retried_when_not_idempotent(
    fake: FakeVK, client: VkClient
) -> None:
    fake.fail_next("wall.createComment", http_status=502)
    params = {"owner_id": -GID, "post_id": 1, "message": "x"}
    result = await client.call("wall.createComment", params, idempotent=False)
    assert not result.ok and not result.retryable and result.uncertain
    assert result.error and result.error.startswith("outcome unknown")
    assert len(fake.calls_to("wall.createComment")) == 1


async def test_client_without_user_token(fake: FakeVK) -> None:
    client = make_client(fake, user=False)
    assert not client.has_user_token
    result = await client.call("groups.ban", {"group_id": GID}, user=True)
    assert result.error == "needs an admin user token"
    assert fake.calls == []


async def test_client_never_logs_tokens(
    fake: FakeVK, client: VkClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("messages.send", drop=True)
    fake.fail_next("groups.ban", code=5)
    await client.call("messages.send", send_params())
    await client.call("groups.ban", {"group_id": GID}, user=True)
    assert caplog.records
    assert fake.group_token not in caplog.text and fake.user_token not in caplog.text


async def test_client_check_tokens_ok(client: VkClient) -> None:
    assert await client.check_tokens(GID) == []


async def test_client_check_tokens_reports_problems(fake: FakeVK) -> None:
    client = make_client(fake)
    fake.fail_next("groups.getById", code=5, times=2)
    problems = await client.check_tokens(GID)
    assert len(problems) == 2
    assert "community token does not work" in problems[0]
    assert "not an admin" in problems[1]
    assert "another community" in (await make_client(fake).check_tokens(GID + 1))[0]
