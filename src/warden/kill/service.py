"""The kill switch service.

A kill is recorded in the store first (so it survives a restart and other replicas can read
it), then held in memory, where the kill analyser — the first on the decision path — finds it
with a dict probe: the next action by anything covered is denied, whichever surface asks.
Then its effects run: tokens revoked, the session suspended, the chain or mandates revoked,
held approvals cancelled, Shared Signals sent, open gateway sessions closed. An effect that
fails is logged and reported; it never undoes the kill (fail closed).

Revival is explicit and audited, and lifts only the kill itself: revoked tokens, mandates
and chain hops stay revoked; the agent must get a new token, the person issue a new mandate.

Replicas: each process keeps the active kills in memory and :meth:`KillSwitch.sync` (run by
housekeeping) reads the kills other replicas made or revived since its last look, so a kill
made elsewhere holds here within one housekeeping period; a pushed channel (Redis pub/sub)
can call :meth:`KillSwitch.apply` to make that immediate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from warden.kill.errors import InvalidKill, NotKilled
from warden.kill.models import Kill, KillKind
from warden.kill.store import SqlKillStore
from warden.registry.specs import person
from warden.registry.spiffe import spiffe_id_problem

log = logging.getLogger(__name__)

MAX_REASON = 500
KILLED = "kill:killed"
REVIVED = "kill:revived"

Effect = Callable[[Kill, datetime], Awaitable[str | None]]
"""Something a kill does beyond denying: returns a line for the record, or None."""


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class KillResult:
    kill: Kill
    effects: tuple[str, ...]  # what was done beyond denying
    problems: tuple[str, ...] = ()  # effects that failed (the kill holds regardless)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kill": self.kill.to_dict(),
            "effects": list(self.effects),
            "problems": list(self.problems),
        }


class KillSwitch:
    def __init__(self, engine: Any, audit: AuditSink) -> None:
        self._store = SqlKillStore(engine)
        self._audit = audit
        self._active: dict[KillKind, dict[str, Kill]] = {kind: {} for kind in KillKind}
        self._synced: datetime | None = None
        self._changed = asyncio.Event()  # set (and replaced) whenever memory changes
        self.effects: dict[KillKind, list[Effect]] = {kind: [] for kind in KillKind}
        self.revive_effects: dict[KillKind, list[Effect]] = {kind: [] for kind in KillKind}

    async def load(self, now: datetime) -> None:
        """Every active kill, into memory (at start)."""
        self._active = {kind: {} for kind in KillKind}
        for kill in await self._store.active():
            self._active[kill.kind][kill.target] = kill
        self._synced = now

    # -- the decision path ---------------------------------------------------------------

    def killed(self, kind: KillKind, target: str) -> Kill | None:
        """The active kill of ``target``, if any: a dict probe."""
        return self._active[kind].get(target)

    @property
    def any(self) -> bool:
        """Whether anything is killed at all (the analyser's fast exit)."""
        return any(self._active.values())

    # -- killing and reviving ------------------------------------------------------------

    async def kill(
        self, kind: KillKind, target: str, *, reason: str, actor: str, now: datetime
    ) -> KillResult:
        """Kill ``target``: denied from the next action on; then the kind's effects."""
        target, reason = _target(kind, target), _reason(reason)
        existing = self.killed(kind, target)
        if existing is not None:
            return KillResult(existing, ("already killed",))
        kill = Kill(secrets.token_hex(8), kind, target, reason, actor, now)
        kill = replace(kill, id=f"kil_{kill.id}")
        await self._store.insert(kill)  # durable first: a restart keeps it
        self._active[kind][target] = kill  # enforced from here on
        done, problems = await self._run(self.effects[kind], kill, now)
        await self._audit.record(
            KILLED, {**_event(kill), "effects": list(done), "problems": list(problems)}
        )
        return KillResult(kill, done, problems)

    async def revive(
        self, kind: KillKind, target: str, *, reason: str, actor: str, now: datetime
    ) -> KillResult:
        """Lift a kill. Revoked tokens, mandates and hops stay revoked."""
        target, reason = _target(kind, target), _reason(reason)
        kill = self.killed(kind, target)
        if kill is None or not await self._store.revive(
            kind, target, actor=actor, reason=reason, now=now
        ):
            raise NotKilled(f"{kind.value} `{target}` is not killed")
        revived = replace(kill, revived_at=now, revived_by=actor, revive_reason=reason)
        self._active[kind].pop(target, None)
        done, problems = await self._run(self.revive_effects[kind], revived, now)
        await self._audit.record(REVIVED, {**_event(revived), "effects": list(done)})
        return KillResult(revived, done, problems)

    async def _run(
        self, effects: list[Effect], kill: Kill, now: datetime
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        done: list[str] = []
        problems: list[str] = []
        for effect in effects:
            try:
                line = await effect(kill, now)
            except Exception as exc:  # the kill stands whatever an effect does
                log.exception("kill %s: an effect failed", kill.id)
                problems.append(f"{getattr(effect, '__name__', 'effect')}: {type(exc).__name__}")
                continue
            if line:
                done.append(line)
        return tuple(done), tuple(problems)

    # -- replicas ------------------------------------------------------------------------

    async def heard(self, kill_id: str) -> None:
        """Another replica killed or revived (a PostgreSQL notification): apply it now."""
        kill = await self._store.get(kill_id)
        if kill is not None:
            self.apply(kill)

    def apply(self, kill: Kill) -> None:
        """A kill or revival made elsewhere (another replica), into memory."""
        if kill.active:
            self._active[kill.kind][kill.target] = kill
        elif (current := self._active[kill.kind].get(kill.target)) and current.id == kill.id:
            del self._active[kill.kind][kill.target]
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, kind: KillKind, target: str, *, killed: bool, timeout: float) -> bool:
        """Wait (bounded) until ``target`` is (or is no longer) killed here — for a replica
        that hears of it from another. True if it came to pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self.killed(kind, target) is not None) is not killed:
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def sync(self, now: datetime) -> None:
        """Housekeeping: apply what other replicas killed or revived since the last look."""
        since = self._synced or now
        for kill in await self._store.changed_since(since):
            self.apply(kill)
        self._synced = now

    async def list(self, *, active_only: bool = True, limit: int = 100) -> list[Kill]:
        return await self._store.recent(active_only=active_only, limit=limit)


def _target(kind: KillKind, target: str) -> str:
    target = target.strip()
    if not target:
        raise InvalidKill(f"name the {kind.value} to kill", field="target")
    if kind is KillKind.AGENT and (problem := spiffe_id_problem(target)):
        raise InvalidKill(f"agent: {problem}", field="target")
    if kind is KillKind.PERSON:
        try:
            return person(target, "person")
        except ValueError as exc:
            raise InvalidKill(str(exc), field="target") from None
    if kind is KillKind.SESSION and not target.startswith("ses_"):
        raise InvalidKill("a session id starts with `ses_`", field="target")
    if kind is KillKind.CHAIN and not target.startswith(("chn_", "hop_")):
        raise InvalidKill("a chain id starts with `chn_` (a hop id with `hop_`)", field="target")
    if len(target) > 2048:
        raise InvalidKill("the target is longer than 2048 characters", field="target")
    return target


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidKill("say why (`reason`): it goes in the audit trail", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidKill(f"the reason is longer than {MAX_REASON} characters", field="reason")
    return reason


def _event(kill: Kill) -> dict[str, Any]:
    return {
        "kill_id": kill.id,
        "kind": kill.kind.value,
        "target": kill.target,
        "reason": kill.reason,
        "actor": kill.actor,
        "revived_by": kill.revived_by,
        "revive_reason": kill.revive_reason,
    }
