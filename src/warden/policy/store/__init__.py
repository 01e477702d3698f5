"""Where policy revisions are kept: a protocol, one module per backend."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from warden.policy.models import Bundle, PolicyRevision


class PolicyStore(Protocol):
    """Append-only history of applied bundles; the newest revision is the active one."""

    async def latest(self) -> PolicyRevision | None:
        """The newest revision, ``None`` when none was ever applied."""
        ...

    async def get(self, revision: int) -> PolicyRevision | None:
        """Revision number ``revision``, ``None`` if there is none."""
        ...

    async def list(self) -> list[PolicyRevision]:
        """Every revision, newest first."""
        ...

    async def save(self, bundle: Bundle, author: str, created_at: datetime) -> PolicyRevision:
        """Store ``bundle`` as the next revision (the highest number plus one)."""
        ...


__all__ = ["PolicyStore"]
