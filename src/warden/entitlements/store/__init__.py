"""Where entitlements are kept: a protocol, one module per backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from warden.entitlements.models import Entitlement, GrantState


class EntitlementStore(Protocol):
    async def insert(self, grants: Sequence[Entitlement]) -> None:
        """Store new grants, all or none."""

    async def save(self, grants: Sequence[Entitlement]) -> None:
        """Replace the state and change fields of stored grants, all or none."""

    async def get(self, grant_id: str) -> Entitlement | None: ...

    async def list(
        self, *, agent_id: str | None = None, state: GrantState | None = None
    ) -> list[Entitlement]:
        """Grants, oldest first, optionally of one agent and/or in one state."""


__all__ = ["EntitlementStore"]
