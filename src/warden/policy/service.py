"""Applying policy bundles: validate, store as a new revision, prepare for evaluation."""

from __future__ import annotations

import asyncio
from datetime import datetime

from warden.policy.engine import PreparedPolicies, validate_bundle
from warden.policy.models import Bundle, PolicyProblem, PolicyRevision
from warden.policy.store import PolicyStore


class PolicyService:
    """Policy revisions over a :class:`PolicyStore`. Validation runs off the event loop."""

    def __init__(self, store: PolicyStore) -> None:
        self._store = store

    async def validate(self, bundle: Bundle) -> list[PolicyProblem]:
        """Every problem with ``bundle``; empty when it would apply."""
        return await asyncio.to_thread(validate_bundle, bundle)

    async def apply(
        self, bundle: Bundle, author: str, now: datetime
    ) -> tuple[PolicyRevision, PreparedPolicies]:
        """Validate, store and prepare ``bundle`` as the next revision.

        Raises :class:`PolicyValidationError` (and stores nothing) if the bundle is invalid.
        """
        prepared = await asyncio.to_thread(PreparedPolicies.prepare, bundle, 0)
        revision = await self._store.save(bundle, author, now)
        return revision, prepared.for_revision(revision.revision)

    async def active(self) -> PolicyRevision | None:
        """The newest revision, which is the one in force."""
        return await self._store.latest()

    async def get(self, revision: int) -> PolicyRevision | None:
        """Revision ``revision``, ``None`` if there is none."""
        return await self._store.get(revision)

    async def history(self) -> list[PolicyRevision]:
        """Every revision, newest first."""
        return await self._store.list()
