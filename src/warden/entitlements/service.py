"""Entitlements: grant, revoke, prune and restore what agents may do. Every change is audited
and takes effect on the very next decision (``on_change`` rebuilds the decision view).

Grants in force become Cedar permits merged with the active bundle (:mod:`.cedar`);
provisioning templates grant a purpose's set at once (:mod:`.templates`); right-sizing reads
the ledger for grants nobody used (:mod:`.usage`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from warden.entitlements.cedar import EntitledPolicies, with_grants
from warden.entitlements.errors import (
    AgentNotEntitled,
    DuplicateEntitlement,
    EntitlementNotFound,
    EntitlementStateError,
    InvalidEntitlement,
)
from warden.entitlements.models import Entitlement, GrantState
from warden.entitlements.specs import GrantSpec, expiry, grant_spec
from warden.entitlements.store import EntitlementStore
from warden.entitlements.templates import Template
from warden.entitlements.usage import LedgerUsage
from warden.policy.engine import PreparedPolicies
from warden.registry.models import Agent, AgentStatus

MAX_DAYS = 3650


class _Pending:
    dirty = False


# The batch (if any) the current task is in; other tasks' changes are never deferred.
_BATCH: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar(
    "warden_entitlement_batch", default=None
)


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class Agents(Protocol):
    """The registry, as far as grants need it."""

    async def agent(self, agent_id: str) -> Agent:
        """The agent; raises ``AgentNotFound`` when none is registered under that id."""


@dataclass(frozen=True, slots=True)
class TemplateResult:
    """What applying a template did: new grants, and those the agent already held."""

    template: str
    granted: tuple[Entitlement, ...]
    already_held: tuple[Entitlement, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "granted": [g.to_dict() for g in self.granted],
            "already_held": [g.to_dict() for g in self.already_held],
        }


@dataclass(frozen=True, slots=True)
class UnusedReport:
    """Grants in force with no permitted decision in the ``days`` before ``until``.

    Grants younger than the window (``too_recent``) are not judged: they have not had
    ``days`` days to be used. A restored grant counts from its restoration, so restoring
    one is not undone by the next right-sizing run."""

    days: int
    since: datetime
    until: datetime
    unused: tuple[Entitlement, ...]
    too_recent: tuple[Entitlement, ...]
    in_use: int
    decisions: int  # permitted decisions read from the ledger

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "unused": [g.to_dict() for g in self.unused],
            "too_recent": [g.to_dict() for g in self.too_recent],
            "in_use": self.in_use,
            "decisions_read": self.decisions,
        }


class EntitlementService:
    """Grants of actions on resources to agents. ``on_change`` is awaited after every change."""

    def __init__(
        self,
        store: EntitlementStore,
        audit: AuditSink,
        on_change: Callable[[], Awaitable[None]],
        *,
        agents: Agents,
        usage: LedgerUsage,
    ) -> None:
        self._store = store
        self._audit = audit
        self._on_change = on_change
        self._agents = agents
        self._usage = usage
        self._writing = asyncio.Lock()  # one check-then-write at a time (no duplicate grants)
        self._compiled: PreparedPolicies | None = None  # what the decision view last got

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """Within this block, this task's changes refresh the decision view once, at the end
        (a review deadline revoking hundreds of grants). Until then the grants it revoked
        still permit: use it only where a moment's delay is acceptable."""
        if _BATCH.get() is not None:  # nested: the outer block refreshes
            yield
            return
        pending = _Pending()
        token = _BATCH.set(pending)
        try:
            yield
        finally:
            _BATCH.reset(token)
            if pending.dirty:
                await self._on_change()

    async def _changed(self) -> None:
        batch = _BATCH.get()
        if batch is not None:
            batch.dirty = True
            return
        await self._on_change()

    # -- changes ---------------------------------------------------------------------------

    async def grant(
        self,
        agent_id: str,
        action: str,
        resource_type: str,
        resource_id: str,
        *,
        justification: str,
        actor: str,
        now: datetime,
        expires_at: datetime | None = None,
        template: str | None = None,
    ) -> Entitlement:
        """Grant ``action`` on ``resource_type``/``resource_id`` (``*``: every one) to an agent.

        Refused for an unknown or retired agent, without a justification, or when the agent
        already holds that grant."""
        spec = grant_spec(action, resource_type, resource_id, justification)
        until = expiry(expires_at, now)
        async with self._writing:
            await self._eligible(agent_id)
            held = await self._held(agent_id, now)
            if _key(spec) in held:
                raise _duplicate(agent_id, held[_key(spec)])
            grant = _new(agent_id, spec, actor, now, until, template)
            await self._store.insert([grant])
            await self._granted(grant, actor)
        await self._changed()
        return grant

    async def apply_template(
        self,
        agent_id: str,
        template: Template,
        *,
        actor: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> TemplateResult:
        """Grant everything ``template`` lists that the agent does not already hold."""
        until = expiry(expires_at, now)
        async with self._writing:
            await self._eligible(agent_id)
            held = await self._held(agent_id, now)
            already = tuple(held[_key(s)] for s in template.grants if _key(s) in held)
            new = [
                _new(agent_id, spec, actor, now, until, template.name)
                for spec in template.grants
                if _key(spec) not in held
            ]
            await self._store.insert(new)
            for grant in new:
                await self._granted(grant, actor)
        if new:
            await self._changed()
        return TemplateResult(template.name, tuple(new), already)

    async def revoke(self, grant_id: str, *, actor: str, reason: str, now: datetime) -> Entitlement:
        """Withdraw a grant for good (it stays in the history as ``revoked``)."""
        reason = _reason(reason)
        async with self._writing:
            grant = await self.get(grant_id)
            if grant.state is GrantState.REVOKED:
                raise EntitlementStateError(f"entitlement `{grant_id}` is already revoked")
            revoked = _changed(grant, GrantState.REVOKED, actor, now, reason)
            await self._store.save([revoked])
            await self._record("entitlement:revoked", revoked, actor, reason)
        await self._changed()
        return revoked

    async def prune(
        self, grant_ids: Sequence[str], *, actor: str, reason: str, now: datetime
    ) -> builtins.list[Entitlement]:
        """Withdraw unused grants (right-sizing), all or none; :meth:`restore` undoes it."""
        reason = _reason(reason)
        async with self._writing:
            grants = [await self.get(i) for i in dict.fromkeys(grant_ids)]
            for grant in grants:
                if grant.state is not GrantState.ACTIVE:
                    raise EntitlementStateError(
                        f"entitlement `{grant.id}` is {grant.state.value}; "
                        "only active grants can be pruned"
                    )
            pruned = [_changed(g, GrantState.PRUNED, actor, now, reason) for g in grants]
            await self._store.save(pruned)
            for grant in pruned:
                await self._record("entitlement:pruned", grant, actor, reason)
        if pruned:
            await self._changed()
        return pruned

    async def restore(self, grant_id: str, *, actor: str, now: datetime) -> Entitlement:
        """Bring a pruned grant back, as it was (same id, justification and expiry)."""
        async with self._writing:
            grant = await self.get(grant_id)
            if grant.state is not GrantState.PRUNED:
                raise EntitlementStateError(
                    f"entitlement `{grant_id}` is {grant.state.value}; only pruned grants "
                    "can be restored"
                )
            await self._eligible(grant.agent_id)
            held = await self._held(grant.agent_id, now)
            if _key(grant) in held:
                raise _duplicate(grant.agent_id, held[_key(grant)])
            restored = _changed(grant, GrantState.ACTIVE, actor, now, "restored")
            await self._store.save([restored])
            await self._record("entitlement:restored", restored, actor, None)
        await self._changed()
        return restored

    # -- right-sizing ----------------------------------------------------------------------

    async def unused(self, days: int, *, now: datetime) -> UnusedReport:
        """Grants in force that no permitted decision used in the last ``days`` days."""
        if not 1 <= days <= MAX_DAYS:
            raise InvalidEntitlement(f"days must be from 1 to {MAX_DAYS}", field="days")
        since = now - timedelta(days=days)
        grants = [g for g in await self._store.list(state=GrantState.ACTIVE) if g.in_force(now)]
        judged = [g for g in grants if _in_force_since(g) <= since]
        usage = await self._usage.usage(since, now)
        unused = [
            g
            for g in judged
            if not usage.used(g.agent_id, g.action, g.resource_type, g.resource_id)
        ]
        return UnusedReport(
            days=days,
            since=since,
            until=now,
            unused=tuple(unused),
            too_recent=tuple(g for g in grants if _in_force_since(g) > since),
            in_use=len(judged) - len(unused),
            decisions=usage.decisions,
        )

    # -- the decision view -----------------------------------------------------------------

    async def decision_policies(self, base: PreparedPolicies, now: datetime) -> PreparedPolicies:
        """``base`` (the active bundle) with the grants in force at ``now`` (:mod:`.cedar`).

        Built off the event loop; a grant change reuses the policies prepared for ``base``."""
        active = await self._store.list(state=GrantState.ACTIVE)
        grants = [g for g in active if g.in_force(now)]
        self._compiled = await asyncio.to_thread(with_grants, base, grants, self._compiled)
        return self._compiled

    async def expire_due(self, now: datetime) -> builtins.list[Entitlement]:
        """Housekeeping: drop expired grants from the decision view. They stopped permitting
        at their very instant already; this only keeps the index small. Returns them."""
        compiled = self._compiled
        if not isinstance(compiled, EntitledPolicies):
            return []
        index = compiled.index
        if index.next_expiry is None or index.next_expiry > now:
            return []
        expired = [g for g in index.grants.values() if not g.in_force(now)]
        await self._changed()
        return expired

    # -- reads -----------------------------------------------------------------------------

    async def get(self, grant_id: str) -> Entitlement:
        grant = await self._store.get(grant_id)
        if grant is None:
            raise EntitlementNotFound(f"no entitlement `{grant_id}`")
        return grant

    async def list(
        self, *, agent_id: str | None = None, state: GrantState | None = None
    ) -> builtins.list[Entitlement]:
        """Grants, oldest first; of one agent and/or in one state when given."""
        return await self._store.list(agent_id=agent_id, state=state)

    # -- helpers ---------------------------------------------------------------------------

    async def _eligible(self, agent_id: str) -> Agent:
        agent = await self._agents.agent(agent_id)
        if agent.status is AgentStatus.RETIRED:
            raise AgentNotEntitled(f"agent `{agent_id}` is retired and cannot be granted anything")
        return agent

    async def _held(self, agent_id: str, now: datetime) -> dict[tuple[str, str, str], Entitlement]:
        grants = await self._store.list(agent_id=agent_id, state=GrantState.ACTIVE)
        return {_key(g): g for g in grants if g.in_force(now)}

    async def _granted(self, grant: Entitlement, actor: str) -> None:
        await self._audit.record(
            "entitlement:granted", {"actor": actor, "entitlement": grant.to_dict()}
        )

    async def _record(self, event: str, grant: Entitlement, actor: str, reason: str | None) -> None:
        payload: dict[str, Any] = {"actor": actor, "entitlement": grant.to_dict()}
        if reason is not None:
            payload["reason"] = reason
        await self._audit.record(event, payload)


def _in_force_since(grant: Entitlement) -> datetime:
    """When an active grant last became active: granted, or restored (an active grant's
    ``changed_at`` can only be its restoration)."""
    return grant.changed_at or grant.granted_at


def _key(grant: GrantSpec | Entitlement) -> tuple[str, str, str]:
    return (grant.action, grant.resource_type, grant.resource_id)


def _new(
    agent_id: str,
    spec: GrantSpec,
    actor: str,
    now: datetime,
    expires_at: datetime | None,
    template: str | None,
) -> Entitlement:
    return Entitlement(
        id=secrets.token_hex(8),
        agent_id=agent_id,
        action=spec.action,
        resource_type=spec.resource_type,
        resource_id=spec.resource_id,
        justification=spec.justification,
        granted_by=actor,
        granted_at=now,
        expires_at=expires_at,
        state=GrantState.ACTIVE,
        template=template,
    )


def _changed(
    grant: Entitlement, state: GrantState, actor: str, now: datetime, reason: str
) -> Entitlement:
    return replace(grant, state=state, changed_by=actor, changed_at=now, change_reason=reason)


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise InvalidEntitlement("a reason is required, for the audit trail", field="reason")
    return text[:1000]


def _duplicate(agent_id: str, held: Entitlement) -> DuplicateEntitlement:
    what = f'{held.resource_type}::"{held.resource_id}"'
    return DuplicateEntitlement(
        f"agent `{agent_id}` already holds `{held.action}` on `{what}` (entitlement `{held.id}`)"
    )


def describe(grants: Iterable[Entitlement]) -> str:
    """``invoke Tool::"a", invoke Tool::"b"``: grants in one line, for messages."""
    return ", ".join(f'{g.action} {g.resource_type}::"{g.resource_id}"' for g in grants)
