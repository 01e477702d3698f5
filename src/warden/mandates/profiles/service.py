"""The versioned purpose profiles: apply (validated, audited), the active set, history.

Every version is kept prepared in memory for the decision path (a mandate keeps the version it
was issued under): :meth:`ProfileService.active`, :meth:`ProfileService.current` and
:meth:`ProfileService.versions` never touch the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from warden.audit.models import EventType
from warden.mandates.profiles.errors import ProfileNotFound
from warden.mandates.profiles.loader import digest_of, packaged_texts, parse
from warden.mandates.profiles.profile import PurposeProfile
from warden.mandates.profiles.store import ProfileRecord, SqlProfileStore

PROFILE_APPLIED = EventType.PROFILE_APPLIED.value
LIBRARY_ACTOR = "warden"
"""The actor the ledger names for the packaged library loaded on first start."""


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


ProfilesChanged = Callable[[list[PurposeProfile]], None]
"""Told every version after :meth:`ProfileService.load` and after each new version: e.g. to
hand them to the mandate analyser (``MandateService.use_profiles``)."""


class ProfileService:
    """Purpose profiles, versioned in ``store``; every applied version is audited."""

    def __init__(self, store: SqlProfileStore, audit: AuditSink) -> None:
        self._store = store
        self._audit = audit
        self._active: dict[str, PurposeProfile] = {}
        self._records: dict[str, ProfileRecord] = {}
        self._versions: dict[tuple[str, int], PurposeProfile] = {}
        self.on_change: ProfilesChanged | None = None

    async def load(self, now: datetime) -> None:
        """Read every stored version (a mandate keeps the version it was issued under); on
        first start (none stored) apply the packaged library."""
        records = await self._store.all()
        if not records:
            for source, text in packaged_texts():
                await self._store_version(text, LIBRARY_ACTOR, now, source)
        for record in records:  # oldest first: the newest of each name ends up active
            self._remember(
                record,
                parse(record.yaml, f"{record.name} v{record.version}", version=record.version),
            )
        self._changed()

    def active(self) -> list[PurposeProfile]:
        """The newest version of every profile, by name (from memory)."""
        return [self._active[name] for name in sorted(self._active)]

    def current(self, name: str) -> PurposeProfile | None:
        """The newest version of ``name`` (from memory), or None."""
        return self._active.get(name)

    def versions(self) -> list[PurposeProfile]:
        """Every stored version, by name then version."""
        return [self._versions[key] for key in sorted(self._versions)]

    def record(self, name: str) -> ProfileRecord | None:
        """Who applied the newest version of ``name``, and when."""
        return self._records.get(name)

    async def get(self, name: str, version: int | None = None) -> PurposeProfile:
        """Version ``version`` of ``name`` (default: the newest); :class:`ProfileNotFound`."""
        if version is None and name in self._active:
            return self._active[name]
        if version is not None and (name, version) in self._versions:
            return self._versions[(name, version)]
        record = await self._store.get(name, version)
        if record is None:
            which = f"version {version} of " if version is not None else ""
            raise ProfileNotFound(f"no {which}purpose profile `{name}`")
        profile = parse(record.yaml, f"{name} v{record.version}", version=record.version)
        self._versions[(name, record.version)] = profile
        self._changed()
        return profile

    async def text(self, name: str, version: int | None = None) -> ProfileRecord:
        """The stored YAML of a version (default: the newest)."""
        record = await self._store.get(name, version)
        if record is None:
            which = f"version {version} of " if version is not None else ""
            raise ProfileNotFound(f"no {which}purpose profile `{name}`")
        return record

    async def history(self, name: str) -> list[ProfileRecord]:
        """Every version of ``name``, newest first; :class:`ProfileNotFound` if none."""
        records = await self._store.history(name)
        if not records:
            raise ProfileNotFound(f"no purpose profile `{name}`")
        return records

    def validate(self, text: str, source: str = "profile") -> PurposeProfile:
        """Parse and validate without storing; :class:`ProfileInvalid` lists the problems."""
        return parse(text, source)

    async def apply(
        self, text: str, *, actor: str, now: datetime, source: str = "profile"
    ) -> PurposeProfile:
        """Validate ``text`` and store it as the next version of its profile.

        Applying the exact text of the newest version changes nothing and returns it."""
        stored = await self._store_version(text, actor, now, source)
        self._changed()
        return stored

    async def _store_version(
        self, text: str, actor: str, now: datetime, source: str
    ) -> PurposeProfile:
        profile = parse(text, source)
        latest = self._records.get(profile.name)
        if latest is not None and latest.digest == digest_of(text):
            return self._active[profile.name]
        record = await self._store.save(profile.name, text, profile.digest, actor, now)
        stored = replace(profile, version=record.version)
        self._remember(record, stored)
        await self._audit.record(
            PROFILE_APPLIED,
            {
                "actor": actor,
                "profile": record.name,
                "version": record.version,
                "digest": record.digest,
                "previous_version": latest.version if latest else None,
            },
        )
        return stored

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.versions())

    def _remember(self, record: ProfileRecord, profile: PurposeProfile) -> None:
        self._active[record.name] = profile
        self._records[record.name] = record
        self._versions[(record.name, record.version)] = profile
