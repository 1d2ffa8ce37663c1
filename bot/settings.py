"""Service settings from the environment (prefix SMMBOT_, `__` for nesting) or a .env file."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///smmbot.db"


class TelegramSettings(BaseModel):
    """SMMBOT_TELEGRAM__*: the bot token and the Bot API server."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    api_base: str = "https://api.telegram.org"
    polling_timeout: int = Field(25, ge=1, le=50)


class VkSettings(BaseModel):
    """SMMBOT_VK__*: one VK community; more are named per community in rules.yaml."""

    model_config = ConfigDict(extra="forbid")

    group_id: int | None = None
    group_token: SecretStr | None = None
    user_token: SecretStr | None = None
    api_base: str = "https://api.vk.ru"
    longpoll_wait: int = Field(25, ge=1, le=90)


class ClassifierSettings(BaseModel):
    """SMMBOT_CLASSIFIER__*: which model scores messages and how hard it may use the CPU."""

    model_config = ConfigDict(extra="forbid")

    # "cascade": rule checks + the n-gram model; "e5": also the multilingual encoder with trained
    # heads (slower, ~0.7 GB); "heuristics": the rule checks alone.
    model: Literal["cascade", "e5", "heuristics"] = "cascade"
    threads: int = Field(2, ge=1, le=64)
    cache_dir: Path | None = None


class Settings(BaseSettings):
    """Everything the service reads from its environment; tokens are secrets and never logged."""

    model_config = SettingsConfigDict(
        env_prefix="SMMBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
    )

    rules: Path = Path("rules.yaml")
    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    http_port: int | None = None  # /healthz and /metrics on 127.0.0.1 when set
    # Names this worker in platform leases; give each process on one host its own.
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}:main")
    telegram: TelegramSettings = TelegramSettings()
    vk: VkSettings = VkSettings()
    classifier: ClassifierSettings = ClassifierSettings()


class SettingsError(Exception):
    """The environment does not describe a usable configuration."""


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | None = ".env"
) -> Settings:
    """Read settings from a mapping (tests) or from the process environment and .env."""
    try:
        if environ is None:
            return Settings(_env_file=env_file)  # type: ignore[call-arg]
        return _from_mapping(environ)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def _from_mapping(environ: Mapping[str, str]) -> Settings:
    # Build the nested structure the same way pydantic-settings does for os.environ.
    data: dict[str, object] = {}
    for key, value in environ.items():
        if not key.upper().startswith("SMMBOT_"):
            continue
        parts = key[len("SMMBOT_") :].lower().split("__")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})  # type: ignore[assignment]
        target[parts[-1]] = value
    return Settings.model_validate(data)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = "SMMBOT_" + "__".join(str(p).upper() for p in error["loc"])
        lines.append(f"{name}: {error['msg']}")
    return "; ".join(lines)


ENVIRONMENT_HELP = """\
environment (or .env in the working directory):
  SMMBOT_RULES               path to rules.yaml (default: rules.yaml)
  SMMBOT_DATABASE_URL        SQLAlchemy URL: sqlite+aiosqlite:///smmbot.db (default)
                             or postgresql+asyncpg://user@host/db
  SMMBOT_LOG_LEVEL           DEBUG, INFO (default), WARNING
  SMMBOT_HTTP_PORT           serve /healthz and /metrics on 127.0.0.1:PORT
  SMMBOT_WORKER_ID           this worker's name when several share one database
                             (default: the host name; one per process on a host)
  SMMBOT_TELEGRAM__TOKEN     bot token from @BotFather (secret)
  SMMBOT_TELEGRAM__API_BASE  Bot API root URL (default https://api.telegram.org)
  SMMBOT_VK__GROUP_ID        VK community id for the single-community setup
  SMMBOT_VK__GROUP_TOKEN     VK community token (secret)
  SMMBOT_VK__USER_TOKEN      VK admin user token for deleting comments and bans (secret)
  SMMBOT_VK__API_BASE        VK API root URL (default https://api.vk.ru)
  SMMBOT_CLASSIFIER__MODEL   cascade (default: rule checks, then the n-gram model),
                             e5 (also the multilingual encoder) or heuristics (rule checks)
  SMMBOT_CLASSIFIER__THREADS CPU threads for the model (default 2)
More VK communities: name the variables holding their tokens in rules.yaml
(communities[].vk.token_env and user_token_env)."""
