"""A requests session for vk_api: a configurable API base URL and a default timeout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["DEFAULT_API_BASE", "DEFAULT_TIMEOUT", "VkSession"]

DEFAULT_API_BASE = "https://api.vk.ru"
DEFAULT_TIMEOUT = 15.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

# vk_api posts to a hard-coded https://api.vk.ru/method/… (vk_api.py:904) and sets no timeout,
# so a hung server would block its thread forever. The session is the public hook for both.
_HARDCODED_PREFIXES = ("https://api.vk.ru", "https://api.vk.com")


class VkSession(requests.Session):
    """Rewrites vk_api's hard-coded API host to `api_base` and applies a default timeout."""

    def __init__(self, api_base: str = DEFAULT_API_BASE, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")
        self.default_timeout = timeout
        # Environment proxies must not capture loopback traffic (tests, the demo emulator).
        if urlsplit(self.api_base).hostname in LOOPBACK_HOSTS:
            self.trust_env = False

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send a request with the API host rewritten and a timeout set."""
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, self._rewrite(url), *args, **kwargs)

    def _rewrite(self, url: str) -> str:
        for prefix in _HARDCODED_PREFIXES:
            if url.startswith(prefix + "/"):
                return self.api_base + url[len(prefix) :]
        return url
