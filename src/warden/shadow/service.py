"""Shadow agents: record sightings, list them, promote one to an agent, block or unblock one.

Recording (:meth:`ShadowService.record`) is on the request path of every surface, so it only
updates an in-memory :class:`~warden.shadow.tally.Tally`; :meth:`ShadowService.flush` stores
the tally (the runtime's ``shadow-flush`` housekeeping job, on close, and before every read)
and appends one ``agent:sighting:unknown`` ledger event per sighting stored for the first
time. Blocked identifiers are held in memory too, so checking one costs no I/O.

Promoting and blocking act on an *identifier*: every sighting of it, whatever the kind.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from warden.registry.errors import AgentNotFound
from warden.registry.models import Agent, AgentStatus
from warden.registry.service import RegistryService
from warden.registry.specs import AgentSpec
from warden.registry.spiffe import spiffe_id_problem
from warden.shadow.errors import (
    InvalidShadowInput,
    NotPromotable,
    ShadowConflict,
    SightingNotFound,
)
from warden.shadow.models import (
    MAX_IDENTIFIER,
    Observation,
    Sighting,
    SightingKind,
    SightingStatus,
    sighting_id,
)
from warden.shadow.store import SightingPage, SqlSightingStore
from warden.shadow.tally import DEFAULT_MAX_KEYS, Pending, Tally

log = logging.getLogger("warden.shadow")

MAX_NEW_PER_FLUSH = 1_000
"""New sightings stored per flush: a flood of made-up client ids cannot fill the store
faster than this (the rest are dropped and logged)."""
_ID = re.compile(r"[0-9a-f]{12}")
_KINDS = frozenset(k.value for k in SightingKind)


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class ShadowService:
    """Sightings of identifiers that are not registered, active agents."""

    def __init__(
        self,
        store: SqlSightingStore,
        audit: AuditSink,
        registry: RegistryService,
        *,
        max_pending: int = DEFAULT_MAX_KEYS,
        max_new_per_flush: int = MAX_NEW_PER_FLUSH,
    ) -> None:
        self._store = store
        self._audit = audit
        self._registry = registry
        self._tally = Tally(max_pending)
        self._max_new = max_new_per_flush
        self._blocked: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()  # flushes and block changes, one at a time

    async def load(self) -> None:
        """Read the blocked identifiers (at start)."""
        self._blocked = frozenset(await self._store.blocked_identifiers())

    # -- the request path: memory only ------------------------------------------------------

    def record(
        self,
        kind: SightingKind | str,
        identifier: str,
        *,
        where: str,
        tool: str | Sequence[str] | None = None,
        human: str | None = None,
        registry_status: str | None = None,
        now: datetime | None = None,
        decision_id: str | None = None,
    ) -> None:
        """Note that ``identifier`` (of ``kind``) reached ``where`` without being a registered,
        active agent: ``tool`` is what it tried (one or several tools or resources), ``human``
        whom it acted for, ``registry_status`` the agent's status if registered but inactive.

        The entry point of every enforcement point (the MCP gateway calls it with
        ``SightingKind.MCP_CLIENT`` and ``Surface.MCP``). No I/O: stored at the next flush.
        """
        at = now or datetime.now(UTC)
        seen = Observation(
            SightingKind(kind), identifier, where, at, tool, human, registry_status, decision_id
        )
        self.observe(seen)

    def observe(self, seen: Observation) -> None:
        """:meth:`record` for an :class:`Observation` already made."""
        if seen.identifier:
            self._tally.add(seen)

    def is_blocked(self, identifier: str) -> bool:
        """Whether ``identifier`` is blocked (in memory: for the decision hot path)."""
        return identifier in self._blocked

    @property
    def pending(self) -> int:
        """Identifiers seen since the last flush."""
        return len(self._tally)

    # -- storing ----------------------------------------------------------------------------

    async def flush(self, now: datetime | None = None) -> list[Sighting]:
        """Store what was seen since the last flush; return the sightings that are new.

        ``now`` is unused: the signature is a housekeeping job's. On a store error the batch
        is kept for the next flush and the error raised."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> list[Sighting]:
        batch, dropped = self._tally.take()
        if dropped:
            log.warning("shadow sightings: %d new identifiers dropped (tally full)", dropped)
        if not batch:
            return []
        try:
            created, skipped = await self._store.merge(batch, self._blocked, max_new=self._max_new)
        except BaseException:
            self._tally.restore(batch)
            raise
        if skipped:
            log.warning("shadow sightings: %d new identifiers over the limit not stored", skipped)
        await self._announce(created, {(p.kind, p.identifier): p for p in batch})
        return created

    async def _announce(
        self, created: list[Sighting], batch: Mapping[tuple[SightingKind, str], Pending]
    ) -> None:
        """One ``agent:sighting:unknown`` per new sighting, appended together (the ledger
        commits them as one group). The sightings are stored either way."""
        appended = await asyncio.gather(
            *(
                self._audit.record(
                    "agent:sighting:unknown", _sighted(s, batch[(s.kind, s.identifier)])
                )
                for s in created
            ),
            return_exceptions=True,
        )
        failed = [e for e in appended if isinstance(e, BaseException)]
        if failed:
            log.error(
                "%d of %d new shadow sightings not in the ledger: %s",
                len(failed), len(created), type(failed[0]).__name__,
            )  # fmt: skip

    # -- reading (each flushes first, so what was just seen is there) -----------------------

    async def sightings(
        self, status: SightingStatus | None = None, *, limit: int = 100, offset: int = 0
    ) -> SightingPage:
        """Sightings, the most recently seen first."""
        await self.flush()
        return await self._store.page(status, limit=limit, offset=offset)

    async def find(self, ref: str) -> list[Sighting]:
        """The sightings ``ref`` names: a sighting id, a key (``<kind>:<identifier>``), or an
        identifier (its sightings of every kind). Raises :class:`SightingNotFound`."""
        await self.flush()
        return await self._find(ref)

    async def _find(self, ref: str) -> list[Sighting]:
        for ids in _readings(ref):
            found = await self._store.get(ids)
            if found:
                return found
        raise SightingNotFound(f"no sighting `{ref[:200]}`")

    async def _identifier(self, ref: str) -> tuple[str, list[Sighting]]:
        """The identifier ``ref`` names and its sightings of every kind (lock held)."""
        await self._flush()
        identifier = (await self._find(ref))[0].identifier
        return identifier, await self._store.get(_ids_of(identifier))

    # -- administration ---------------------------------------------------------------------
    # Under the flush lock: a flush must not store a new sighting as blocked (or not) while
    # an identifier's block is being changed.

    async def promote(
        self,
        ref: str,
        *,
        owner: str,
        team: str,
        name: str | None = None,
        actor: str,
        now: datetime,
    ) -> tuple[Agent, list[Sighting]]:
        """Register the sighted SPIFFE ID as an agent, ``provisioned`` (an administrator
        activates it), and mark its sightings promoted."""
        async with self._lock:
            identifier, sightings = await self._identifier(ref)
            _check_promotable(identifier, sightings)
            await self._check_unregistered(identifier)
            spec = _agent_spec(identifier, owner=owner, team=team, name=name)
            agent = await self._registry.register_agent(spec, actor=actor, now=now)
            ids = [s.id for s in sightings]
            await self._store.set_status(
                ids, SightingStatus.PROMOTED, reason="", by=actor, at=now, agent_id=identifier
            )
            await self._audit.record(
                "shadow:agent:promoted",
                {"actor": actor, "agent_id": identifier, "sightings": ids,
                 "owner": agent.owner, "team": agent.team},
            )  # fmt: skip
            return agent, await self._store.get(ids)

    async def block(
        self, ref: str, *, reason: str, actor: str, now: datetime
    ) -> tuple[str, list[Sighting]]:
        """Deny the identifier everywhere (decisions: ``agent.blocked``; the token endpoint)
        until unblocked, even once it is registered. Effective on the very next request."""
        async with self._lock:
            identifier, sightings = await self._identifier(ref)
            if identifier in self._blocked:
                raise ShadowConflict(f"`{identifier}` is already blocked", code="already_blocked")
            ids = [s.id for s in sightings]
            was = "promoted" if any(s.agent_id for s in sightings) else "open"
            await self._store.set_status(
                ids, SightingStatus.BLOCKED, reason=reason, by=actor, at=now
            )
            self._blocked = self._blocked | {identifier}
            await self._audit.record(
                "shadow:agent:blocked",
                {"actor": actor, "id": identifier, "blocked": True, "from": was,
                 "to": "blocked", "reason": reason, "sightings": ids},
            )  # fmt: skip
            return identifier, await self._store.get(ids)

    async def unblock(
        self, ref: str, *, reason: str, actor: str, now: datetime
    ) -> tuple[str, list[Sighting]]:
        """Lift a block: its sightings go back to ``open``, or ``promoted`` if they were."""
        async with self._lock:
            identifier, sightings = await self._identifier(ref)
            if identifier not in self._blocked:
                raise ShadowConflict(f"`{identifier}` is not blocked", code="not_blocked")
            promoted = [s.id for s in sightings if s.agent_id is not None]
            others = [s.id for s in sightings if s.agent_id is None]
            for ids, status in ((promoted, SightingStatus.PROMOTED), (others, SightingStatus.OPEN)):
                if ids:
                    await self._store.set_status(ids, status, reason=reason, by=actor, at=now)
            self._blocked = self._blocked - {identifier}
            await self._audit.record(
                "shadow:agent:unblocked",
                {"actor": actor, "id": identifier, "blocked": False, "from": "blocked",
                 "to": "promoted" if promoted else "open", "reason": reason,
                 "sightings": [*promoted, *others]},
            )  # fmt: skip
            return identifier, await self._store.get([*promoted, *others])

    async def _check_unregistered(self, identifier: str) -> None:
        try:
            agent = await self._registry.agent(identifier)
        except AgentNotFound:
            return
        raise ShadowConflict(
            f"agent `{identifier}` is already registered ({agent.status.value}); "
            "change it with `warden agents`",
            code="agent_exists",
        )


def _check_promotable(identifier: str, sightings: list[Sighting]) -> None:
    if spiffe_id_problem(identifier):
        raise NotPromotable(
            f"`{identifier[:200]}` is not a spiffe id; only a spiffe id can become an agent "
            "(register the workload with its spiffe id, or block this one)"
        )
    if any(s.status is SightingStatus.BLOCKED for s in sightings):
        raise ShadowConflict(f"`{identifier}` is blocked; unblock it first", code="blocked")
    if any(s.status is SightingStatus.PROMOTED for s in sightings):
        raise ShadowConflict(f"`{identifier}` was already promoted", code="already_promoted")


def _agent_spec(identifier: str, *, owner: str, team: str, name: str | None) -> AgentSpec:
    try:
        return AgentSpec(
            id=identifier,
            display_name=name or identifier.rsplit("/", 1)[-1],
            owner=owner,
            team=team,
            status=AgentStatus.PROVISIONED,
            purpose="promoted from a shadow sighting",
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = {"display_name": "name"}.get(str(error["loc"][0]), str(error["loc"][0]))
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidShadowInput(f"`{field}`: {message}", field=field) from None


def _readings(ref: str) -> list[list[str]]:
    """The sighting ids ``ref`` may name, most specific first: a sighting id, a key
    ``<kind>:<identifier>``, an identifier (every kind)."""
    readings = [[ref]] if _ID.fullmatch(ref) else []
    kind, _, rest = ref.partition(":")
    if kind in _KINDS and rest and not rest.startswith("//"):  # `spiffe://…` is an identifier
        readings.append([sighting_id(SightingKind(kind), rest[:MAX_IDENTIFIER])])
    readings.append(_ids_of(ref[:MAX_IDENTIFIER]))
    return readings


def _ids_of(identifier: str) -> list[str]:
    return [sighting_id(kind, identifier) for kind in SightingKind]


def _sighted(sighting: Sighting, pending: Pending) -> dict[str, Any]:
    """The ledger's ``agent:sighting:unknown``: identifiers, never people or tool names."""
    payload: dict[str, Any] = {
        "id": sighting.identifier,
        "kind": sighting.kind.value,
        "sighting_id": sighting.id,
        "where": list(sighting.surfaces),
        "first_seen": sighting.first_seen.isoformat(),
        "registry_status": sighting.registry_status,
        "status": sighting.status.value,
    }
    if sighting.kind is SightingKind.SUBJECT:
        payload["subject"] = {"type": "agent", "id": sighting.identifier}
    if pending.decision_id is not None:
        payload["decision_id"] = pending.decision_id
    return payload
