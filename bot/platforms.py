"""Which platforms to connect, from rules.yaml and the credentials in the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from bot.core.rules import RuleSet
from bot.i18n import t
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VkCommunity:
    """One VK community with its tokens."""

    name: str
    group_id: int
    group_token: SecretStr
    user_token: SecretStr | None


@dataclass(frozen=True, slots=True)
class PlatformPlan:
    """What the service will connect to, and what it had to skip."""

    telegram_token: SecretStr | None
    telegram_communities: tuple[str, ...]
    vk: tuple[VkCommunity, ...]
    skipped: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """Nothing to connect to: the service must not start."""
        return self.telegram_token is None and not self.vk


def plan_platforms(
    settings: Settings, rules: RuleSet, environ: Mapping[str, str] | None = None
) -> PlatformPlan:
    """Match the communities in rules.yaml with the tokens that are set; skip the rest loudly."""
    environ = os.environ if environ is None else environ
    skipped: list[str] = []
    telegram = [c.name for c in rules.communities if c.telegram]
    token = settings.telegram.token
    if telegram and token is None:
        skipped += [_skip("telegram", name, rules.language) for name in telegram]
    vk = []
    for index, community in enumerate(c for c in rules.communities if c.vk):
        found = _vk_community(settings, community.name, community.vk, index, environ)  # type: ignore[arg-type]
        if found is None:
            skipped.append(_skip("vk", community.name, rules.language))
        else:
            vk.append(found)
    return PlatformPlan(token if telegram else None, tuple(telegram), tuple(vk), tuple(skipped))


def _vk_community(
    settings: Settings, name: str, target: object, index: int, environ: Mapping[str, str]
) -> VkCommunity | None:
    group_id = target.group_id  # type: ignore[attr-defined]
    token_env, user_env = target.token_env, target.user_token_env  # type: ignore[attr-defined]
    if token_env:  # tokens named per community in rules.yaml
        token = environ.get(token_env)
        user = environ.get(user_env) if user_env else None
        return _community(name, group_id, token and SecretStr(token), user and SecretStr(user))
    # SMMBOT_VK__* configure one community: the one with that group id, or the first one.
    single = settings.vk
    if single.group_id not in (None, group_id) or (single.group_id is None and index > 0):
        return None
    return _community(name, group_id, single.group_token, single.user_token)


def _community(
    name: str, group_id: int, token: SecretStr | str | None, user: SecretStr | str | None
) -> VkCommunity | None:
    if not isinstance(token, SecretStr):
        return None
    return VkCommunity(name, group_id, token, user if isinstance(user, SecretStr) else None)


def _skip(platform: str, community: str, language: str) -> str:
    message = t("platform-skipped", language, platform=platform, community=community)
    log.warning("%s", message)
    return message
