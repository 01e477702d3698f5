"""An in-memory policy store, for tests and embedded use without a database."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime

from warden.policy.models import Bundle, PolicyRevision


class MemoryPolicyStore:
    """Revisions in a list; lost when the process ends."""

    def __init__(self) -> None:
        self._revisions: builtins.list[PolicyRevision] = []
        self._lock = asyncio.Lock()

    async def latest(self) -> PolicyRevision | None:
        return self._revisions[-1] if self._revisions else None

    async def get(self, revision: int) -> PolicyRevision | None:
        return next((r for r in self._revisions if r.revision == revision), None)

    async def list(self) -> builtins.list[PolicyRevision]:
        return self._revisions[::-1]

    async def save(self, bundle: Bundle, author: str, created_at: datetime) -> PolicyRevision:
        async with self._lock:
            number = len(self._revisions) + 1
            saved = PolicyRevision(number, created_at, author, bundle.digest, bundle)
            self._revisions.append(saved)
            return saved
