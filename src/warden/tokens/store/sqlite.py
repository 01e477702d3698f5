"""The token store on SQLite, with revocation checks read through one direct connection.

Every token a resource server or a token exchange presents is checked against
``oauth_tokens`` (revoked? which grant?). Through aiosqlite that read is a thread round trip
of ~1 ms under load; in WAL mode a reader never waits for the writer, so a direct ``sqlite3``
read on the event loop costs tens of microseconds and cannot block it on a lock. Writes keep
going through the async engine (group-committed). The answer is read from the database every
time — nothing is cached, so a revocation is seen at once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.tokens.store.sql import SqlTokenStore

_STATE = "SELECT revoked_at, grant_id FROM oauth_tokens WHERE jti = ?"


class SqliteTokenStore(SqlTokenStore):
    def __init__(self, engine: AsyncEngine, path: str) -> None:
        super().__init__(engine)
        self._path = path
        self._reader: sqlite3.Connection | None = None

    async def state(self, jti: str) -> tuple[str, str | None]:
        try:
            row = self._connection().execute(_STATE, (jti,)).fetchone()
        except sqlite3.Error:
            self.close()
            return await super().state(jti)  # e.g. mid-recovery: the engine's path waits
        if row is None:
            return "unknown", None
        return ("active" if row[0] is None else "revoked"), str(row[1])

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _connection(self) -> sqlite3.Connection:
        if self._reader is None:
            # read-only, autocommit: each SELECT sees the latest committed state
            uri = Path(self._path).resolve().as_uri() + "?mode=ro"
            self._reader = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._reader.execute("PRAGMA busy_timeout=0")
        return self._reader
