"""Everything ``/scim/v2`` serves, and what a SCIM write means for Warden.

Users and Groups live in Warden's database (:mod:`warden.scim.store`), Agents in the
registry (:mod:`warden.scim.agents`). Every write is audited (``scim:resource:created``,
``…:updated``, ``…:deleted``) with who made it, the resource type and id — never a
password or token. A write that changes whether a person is active in the IdP (a User set
``active: false``, deleted, or back) is then passed on to the registry, which orphans or
resumes that person's agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, cast

from scim2_models import Resource, ResourceType, ResponseParameters, ScimProvider, SearchRequest
from scim2_server.storage import AsyncScimStorage, SearchPage
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.models import EventType
from warden.registry.service import RegistryService
from warden.scim import models as scim
from warden.scim.agents import RESOURCE_TYPE as AGENT
from warden.scim.agents import AgentResources
from warden.scim.directory import ScimPeople
from warden.scim.models import scim_provider
from warden.scim.store import Clock, SqlScimStorage, identities, page_of, utcnow

CREATED = EventType.SCIM_RESOURCE_CREATED.value
UPDATED = EventType.SCIM_RESOURCE_UPDATED.value
DELETED = EventType.SCIM_RESOURCE_DELETED.value


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class ScimResources:
    """The SCIM resources of one Warden, shared by every request."""

    def __init__(
        self,
        engine: AsyncEngine,
        registry: RegistryService,
        audit: AuditSink,
        *,
        trust_domain: str,
        clock: Clock = utcnow,
    ) -> None:
        self.provider: ScimProvider = scim_provider()
        self.people = ScimPeople(engine)
        self.registry = registry
        self.audit = audit
        self.clock = clock
        self.sql = SqlScimStorage(engine, self.provider, clock)
        model = cast(type[scim.Agent], self.provider.model_for(AGENT))
        self.agents = AgentResources(registry, engine, model, trust_domain)
        # One write at a time: whether a person was active before a write and after it
        # must not interleave with another write about them.
        self.writes = asyncio.Lock()

    def acting_as(self, actor: str) -> RequestStorage:
        """The storage a request by ``actor`` (the ledger's name for them) works on."""
        return RequestStorage(self, actor)


class RequestStorage(AsyncScimStorage):
    """The :class:`AsyncScimStorage` of one request: reads, and audited writes by ``actor``."""

    supports_cursors = False

    def __init__(self, resources: ScimResources, actor: str) -> None:
        self._r = resources
        self.actor = actor

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == AGENT:
            return await self._r.agents.get(resource_id)
        return await self._r.sql.get(resource_type, resource_id)

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        names = {rt.name for rt in resource_types}
        if names == {AGENT}:
            return await self._r.agents.search(search_request)
        if AGENT not in names:
            return await self._r.sql.search(resource_types, search_request, position=position)
        # At the root (RFC 7644 §3.4.2.1): every type's matches, paged together.
        unpaged = search_request.model_copy(update={"start_index": 1, "count": None})
        people = [rt for rt in resource_types if rt.name != AGENT]
        found = (await self._r.sql.search(people, unpaged)).resources if people else []
        return page_of(search_request, [*found, *await self._r.agents.every()])

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        async with self._r.writes:
            now = self._r.clock()
            created: Resource[Any]
            if resource_type.name == AGENT:
                created = await self._r.agents.create(
                    cast(scim.Agent, resource), actor=self.actor, now=now
                )
                await self._audit(CREATED, created)
                return created
            people = identities(resource)
            settle = await self._settler(people)
            created = await self._r.sql.create(resource_type, resource)
            await self._audit(CREATED, created)
            await settle(now)
            return created

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        async with self._r.writes:
            now = self._r.clock()
            before = await self.get(resource_type, cast(str, resource.id))
            updated: Resource[Any]
            if resource_type.name == AGENT:
                updated = await self._r.agents.update(
                    cast(scim.Agent, resource),
                    expected_version=expected_version,
                    actor=self.actor,
                    now=now,
                )
                await self._audit(UPDATED, updated, before=before)
                return updated
            settle = await self._settler(identities(before) | identities(resource))
            updated = await self._r.sql.update(
                resource_type, resource, expected_version=expected_version
            )
            await self._audit(UPDATED, updated, before=before)
            await settle(now)
            return updated

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        async with self._r.writes:
            now = self._r.clock()
            before = await self.get(resource_type, resource_id)
            if resource_type.name == AGENT:
                await self._r.agents.delete(
                    resource_id, expected_version=expected_version, actor=self.actor, now=now
                )
                await self._audit(DELETED, before)
                return
            settle = await self._settler(identities(before))
            await self._r.sql.delete(resource_type, resource_id, expected_version=expected_version)
            await self._audit(DELETED, before)
            await settle(now)

    async def _settler(self, people: set[str]) -> Callable[[datetime], Awaitable[None]]:
        """Note which of ``people`` are inactive now; the returned coroutine, called after
        the write, tells the registry about each one whose state the write changed."""
        before = await self._r.people.inactive(people)

        async def settle(now: datetime) -> None:
            after = await self._r.people.inactive(people)
            for person in sorted(people):
                if person in after and person not in before:
                    await self._r.registry.owner_deactivated(person, actor=self.actor, now=now)
                elif person in before and person not in after:
                    await self._r.registry.owner_reactivated(person, actor=self.actor, now=now)

        return settle

    async def _audit(
        self, event_type: str, resource: Resource[Any], *, before: Resource[Any] | None = None
    ) -> None:
        await self._r.audit.record(event_type, audit_payload(self.actor, resource, before))


def audit_payload(
    actor: str, resource: Resource[Any], before: Resource[Any] | None
) -> dict[str, Any]:
    """What the ledger keeps of a SCIM write: who, which resource, which attributes changed
    (names only) and ``active`` — never values such as passwords."""
    assert resource.meta is not None
    payload: dict[str, Any] = {
        "actor": actor,
        "resource_type": resource.meta.resource_type,
        "id": resource.id,
    }
    for attribute, key in (("user_name", "user_name"), ("spiffe_id", "agent_id")):
        value = getattr(resource, attribute, None)
        if value is not None:
            payload[key] = value
    if getattr(resource, "active", None) is not None:
        payload["active"] = resource.active  # type: ignore[attr-defined]
    if before is not None:
        payload["attributes"] = _changed(before, resource)
    return payload


def _changed(before: Resource[Any], after: Resource[Any]) -> list[str]:
    old, new = _attributes(before), _attributes(after)
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _attributes(resource: Resource[Any]) -> dict[str, Any]:
    """Top-level attributes (an extension's as ``urn:…:name``), without meta."""
    dumped = resource.model_dump(mode="json")
    flat: dict[str, Any] = {}
    for key, value in dumped.items():
        if key in ("meta", "schemas", "id"):
            continue
        if key.startswith("urn:") and isinstance(value, dict):
            flat.update({f"{key}:{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat
