"""Platform positions (the VK long-poll `ts`) kept in the database, so a restart resumes."""

from __future__ import annotations

from bot.storage.store import SqlStore


class StoredPositions:
    """Implements the VK runner's TsStore on the kv table."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def load_ts(self, group_id: int) -> str | None:
        """The last long-poll position stored for a community."""
        async with self._store.begin() as uow:
            return await uow.kv.get(_key(group_id))

    async def save_ts(self, group_id: int, ts: str) -> None:
        """Store the position after its batch was stored in the inbox."""
        async with self._store.begin() as uow:
            await uow.kv.set(_key(group_id), ts)


def _key(group_id: int) -> str:
    return f"vk:{group_id}:longpoll-ts"
