"""The registry's agents as SCIM ``Agent`` resources (:mod:`warden.scim.models`).

The registry stays the only source of truth: a SCIM write is a registry call (audited
there, and in effect on the very next decision), a SCIM read is the registry's agent.

- ``id`` is the agent's SPIFFE ID, base64url-encoded (a SPIFFE ID holds ``/``, which a
  resource URL cannot); ``name`` is the SPIFFE ID relative to ``spiffe://<trust
  domain>/agent/``, or the whole SPIFFE ID for an agent elsewhere.
- ``active: true`` activates a provisioned or suspended agent; ``active: false`` suspends an
  active one (a provisioned agent stays provisioned). The governance extension's
  ``status`` shows the lifecycle state.
- DELETE retires the agent: it keeps its history in the registry and the ledger, can never
  act again, and is gone from SCIM (RFC 7644 §3.6: 404 afterwards).
- The version (ETag) is a digest of everything the resource shows, so it changes whenever
  the agent does, whoever changed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any, cast

import orjson
from pydantic import ValidationError
from scim2_models import Meta, Resource, SearchRequest
from scim2_server.storage import SearchPage
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.registry.errors import AgentNotFound
from warden.registry.models import Agent, AgentStatus
from warden.registry.service import RegistryService
from warden.registry.specs import AgentSpec, AgentUpdate
from warden.scim import models as scim
from warden.scim.errors import AgentChanged, InvalidAgent
from warden.scim.models import AgentGovernance
from warden.scim.store import page_of
from warden.store.schema import scim_agents

RESOURCE_TYPE = "Agent"

# AgentSpec / AgentUpdate fields → the SCIM attributes they come from.
_ATTRIBUTES = {
    "id": "name",
    "display_name": "displayName",
    "owner": "owner",
    "co_owners": "coOwners",
    "owners": "owner",
    "team": "team",
    "purpose": "purpose",
    "risk_tier": "riskTier",
}


def scim_id(agent_id: str) -> str:
    """The SCIM ``id`` of the agent with SPIFFE ID ``agent_id``."""
    return base64.urlsafe_b64encode(agent_id.encode()).decode().rstrip("=")


def agent_id_of(resource_id: str) -> str:
    """The SPIFFE ID a SCIM ``id`` stands for; :class:`AgentNotFound` if it stands for none."""
    try:
        decoded = base64.urlsafe_b64decode(resource_id + "=" * (-len(resource_id) % 4))
        agent_id = decoded.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AgentNotFound(f"no agent `{resource_id}`") from None
    if not agent_id.startswith("spiffe://") or scim_id(agent_id) != resource_id:
        raise AgentNotFound(f"no agent `{resource_id}`")
    return agent_id


class AgentResources:
    """``/Agents`` over the registry. ``model`` is the composed Agent resource model."""

    def __init__(
        self,
        registry: RegistryService,
        engine: AsyncEngine,
        model: type[scim.Agent],
        trust_domain: str,
    ) -> None:
        self._registry = registry
        self._engine = engine
        self._model = model
        self._prefix = f"spiffe://{trust_domain}/agent/"

    async def get(self, resource_id: str) -> scim.Agent:
        agent = await self._live(resource_id)
        return self._resource(agent, await self._external_id(agent.id))

    async def search(self, search_request: SearchRequest[Any]) -> SearchPage:
        if search_request.filter is None and search_request.sort_by is None:
            # Only the page becomes SCIM resources, in the order page_of gives (by id).
            agents = sorted(await self._listed(), key=lambda a: scim_id(a.id))
            start = search_request.start_index_0 or 0
            count = search_request.count
            page = agents[start : None if count is None else start + count]
            resources: list[Resource[Any]] = [*await self._resources(page)]
            return SearchPage(len(agents), resources)
        return page_of(search_request, await self.every())

    async def every(self) -> list[scim.Agent]:
        """Every agent SCIM shows (all but the retired)."""
        return await self._resources(await self._listed())

    async def _listed(self) -> list[Agent]:
        return [a for a in await self._registry.agents() if a.status is not AgentStatus.RETIRED]

    async def _resources(self, agents: list[Agent]) -> list[scim.Agent]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(scim_agents))
            external = {row.agent_id: row.external_id for row in rows}
        return [self._resource(a, external.get(a.id)) for a in agents]

    async def create(self, resource: scim.Agent, *, actor: str, now: datetime) -> scim.Agent:
        governance = _governance(resource)
        spec = _valid(
            AgentSpec,
            id=self._spiffe_id(str(resource.name or "")),
            display_name=resource.display_name,
            owner=governance.owner,
            co_owners=governance.co_owners or [],
            team=governance.team,
            purpose=governance.purpose or "",
            risk_tier=governance.risk_tier,
            status=AgentStatus.ACTIVE if resource.active else AgentStatus.PROVISIONED,
        )
        agent = await self._registry.register_agent(spec, actor=actor, now=now)
        await self._set_external_id(agent.id, resource.external_id)
        return self._resource(agent, resource.external_id)

    async def update(
        self,
        resource: scim.Agent,
        *,
        expected_version: str | None,
        actor: str,
        now: datetime,
    ) -> scim.Agent:
        """Store ``resource`` (the agent's whole new state, PUT or PATCH applied)."""
        agent = await self._live(str(resource.id))
        external_id = await self._external_id(agent.id)
        self._check_version(agent, external_id, expected_version)
        was_active = agent.status is AgentStatus.ACTIVE
        changes = _changes(agent, resource)
        if changes:
            update = _valid(AgentUpdate, **changes)
            agent = await self._registry.update_agent(agent.id, update, actor=actor, now=now)
        if resource.external_id != external_id:
            await self._set_external_id(agent.id, resource.external_id)
        # Only a change of `active` moves the agent: new owners may have resumed an
        # orphaned agent above, and the unchanged `active: false` must not undo that.
        if bool(resource.active) != was_active:
            agent = await self._activate(agent, bool(resource.active), actor=actor, now=now)
        return self._resource(agent, resource.external_id)

    async def delete(
        self, resource_id: str, *, expected_version: str | None, actor: str, now: datetime
    ) -> Agent:
        """Retire the agent (its history stays); returns it."""
        agent = await self._live(resource_id)
        self._check_version(agent, await self._external_id(agent.id), expected_version)
        return await self._registry.transition(
            agent.id, AgentStatus.RETIRED, actor=actor, reason="deleted through SCIM", now=now
        )

    async def _activate(self, agent: Agent, active: bool, *, actor: str, now: datetime) -> Agent:
        if active and agent.status in (AgentStatus.PROVISIONED, AgentStatus.SUSPENDED):
            to, reason = AgentStatus.ACTIVE, "activated through SCIM"
        elif not active and agent.status is AgentStatus.ACTIVE:
            to, reason = AgentStatus.SUSPENDED, "deactivated through SCIM"
        else:
            return agent
        return await self._registry.transition(agent.id, to, actor=actor, reason=reason, now=now)

    async def _live(self, resource_id: str) -> Agent:
        agent = await self._registry.agent(agent_id_of(resource_id))
        if agent.status is AgentStatus.RETIRED:
            raise AgentNotFound(f"agent `{agent.id}` is retired")
        return agent

    def _check_version(self, agent: Agent, external_id: str | None, expected: str | None) -> None:
        current = _version(agent, external_id)
        if expected is not None and expected != current:
            raise AgentChanged(f"agent `{agent.id}` has changed (version {current})")

    def _spiffe_id(self, name: str) -> str:
        return name if name.startswith("spiffe://") else self._prefix + name

    def _name(self, agent_id: str) -> str:
        return agent_id.removeprefix(self._prefix)

    def _resource(self, agent: Agent, external_id: str | None) -> scim.Agent:
        resource = self._model(
            id=scim_id(agent.id),
            external_id=external_id,
            name=self._name(agent.id),
            spiffe_id=agent.id,
            display_name=agent.display_name,
            active=agent.status is AgentStatus.ACTIVE,
            status=agent.status,
            status_reason=agent.status_reason or None,
            expires_at=agent.expires_at,
            last_active_at=agent.last_active_at,
            meta=Meta(
                resource_type=RESOURCE_TYPE,
                created=agent.created_at,
                last_modified=agent.updated_at,
                version=_version(agent, external_id),
            ),
        )
        resource[AgentGovernance] = AgentGovernance(
            owner=agent.owner,
            co_owners=list(agent.co_owners) or None,
            team=agent.team,
            purpose=agent.purpose or None,
            risk_tier=agent.risk_tier,
        )
        return resource

    async def _external_id(self, agent_id: str) -> str | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(scim_agents.c.external_id).where(scim_agents.c.agent_id == agent_id)
                )
            ).first()
        return None if row is None else cast(str | None, row.external_id)

    async def _set_external_id(self, agent_id: str, external_id: str | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(scim_agents).where(scim_agents.c.agent_id == agent_id))
            if external_id is not None:
                await conn.execute(
                    insert(scim_agents).values(agent_id=agent_id, external_id=external_id)
                )


def _governance(resource: scim.Agent) -> AgentGovernance:
    governance = resource[AgentGovernance]
    return governance if governance is not None else AgentGovernance()


def _changes(agent: Agent, resource: scim.Agent) -> dict[str, Any]:
    """The AgentUpdate fields ``resource`` changes (owners as one list, primary first)."""
    governance = _governance(resource)
    owners = [governance.owner, *(governance.co_owners or [])]
    wanted: dict[str, Any] = {
        "display_name": resource.display_name,
        "team": governance.team,
        "purpose": governance.purpose or "",
        "risk_tier": governance.risk_tier,
    }
    current = {k: getattr(agent, k) for k in wanted}
    changes = {k: v for k, v in wanted.items() if v != current[k]}
    if [str(o or "").lower() for o in owners] != list(agent.owners):
        changes["owners"] = owners
    return changes


def _valid(spec: type[AgentSpec] | type[AgentUpdate], **fields: Any) -> Any:
    """``spec`` built from ``fields``; an :class:`InvalidAgent` naming the SCIM attribute."""
    try:
        return spec(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        attribute = _ATTRIBUTES.get(field, field)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidAgent(f"`{attribute}`: {message}", attribute=attribute) from None


def _version(agent: Agent, external_id: str | None) -> str:
    shown = {**agent.to_dict(), "external_id": external_id}
    digest = hashlib.sha256(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest[:16]}"'
