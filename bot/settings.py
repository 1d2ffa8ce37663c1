"""Service settings from the environment (prefix SMMBOT_, `__` for nesting) or a .env file."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///smmbot.db"
# The Bot API's rule for setWebhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramSettings(BaseModel):
    """SMMBOT_TELEGRAM__*: the bot token, the Bot API server and, optionally, a webhook."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    api_base: str = "https://api.telegram.org"
    polling_timeout: int = Field(25, ge=1, le=50)
    # Set: Telegram POSTs updates to this public URL (its path is the path we serve); unset: poll.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1:8081"  # host:port behind the operator's reverse proxy

    @field_validator("webhook_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if not value:
            return None  # an empty variable switches back to polling
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute https:// URL")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8081")
        return value

    @model_validator(mode="after")
    def _secret_with_webhook(self) -> TelegramSettings:
        # Without the secret anyone who learns the URL could inject updates.
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("SMMBOT_TELEGRAM__WEBHOOK_SECRET is required with a webhook URL")
        return self


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
    # heads (slower, ~0.7 GB); "e5-lora": e5 fine-tuned with low-rank adapters (better on spam
    # and questions, torch float32); "heuristics": the rule checks alone.
    model: Literal["cascade", "e5", "e5-lora", "heuristics"] = "cascade"
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
  SMMBOT_TELEGRAM__WEBHOOK_URL
                             receive updates at this public HTTPS URL (unset: long polling)
  SMMBOT_TELEGRAM__WEBHOOK_SECRET
                             sent by Telegram with every webhook request; required with the
                             URL (1-256 characters of A-Z a-z 0-9 _ -; secret)
  SMMBOT_TELEGRAM__WEBHOOK_LISTEN
                             host:port the webhook server binds (default 127.0.0.1:8081)
  SMMBOT_VK__GROUP_ID        VK community id for the single-community setup
  SMMBOT_VK__GROUP_TOKEN     VK community token (secret)
  SMMBOT_VK__USER_TOKEN      VK admin user token for deleting comments and bans (secret)
  SMMBOT_VK__API_BASE        VK API root URL (default https://api.vk.ru)
  SMMBOT_CLASSIFIER__MODEL   cascade (default: rule checks, then the n-gram model),
                             e5 (also the multilingual encoder), e5-lora (the encoder
                             fine-tuned with LoRA) or heuristics (rule checks)
  SMMBOT_CLASSIFIER__THREADS CPU threads for the model (default 2)
More VK communities: name the variables holding their tokens in rules.yaml
(communities[].vk.token_env and user_token_env)."""
