"""Accountability: from any action back to the person it was done for, and from a chain out to
everything it touched.

Every answer is built from the ledger (through its index, :mod:`warden.audit.index`) and the
hop rows, never from in-memory state, so it holds after a restart and for chains long
expired. The four queries:

* :meth:`Accountability.trace` — one decision: person → agents → action, each hop's
  delegation as recorded, the action's outcome and reasons;
* :meth:`Accountability.tree` — one chain as a tree of hops with per-hop action counts;
* :meth:`Accountability.on_behalf_of` — what was decided and delegated for a person in a
  time range;
* :meth:`Accountability.blast_radius` — every tool a chain's allowed actions touched, with
  labels, destinations and agents, its refused and held attempts apart.

Errors::

    WardenError
    └── AccountabilityError
        ├── UnknownDecision   no decision entry has this id
        ├── UnknownChain      no hop of this chain is stored
        └── BadTimeRange      from after to, or a time without a timezone
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from warden.audit.chain import format_timestamp
from warden.audit.index import IndexedLedger, decision_agent, decision_chain
from warden.audit.models import DECISION_EVENTS, LedgerEntry
from warden.chains.models import DELEGATED, REFUSED, REVOKED, Hop
from warden.errors import WardenError

UNKNOWN_PERSON = "unknown person"
MAX_PAGE = 1000
_DECISIONS = frozenset(str(e) for e in DECISION_EVENTS)
_OUTCOMES = ("allow", "step_up", "deny")
_PAGE = 1000  # entries read per round trip when walking a whole chain


class AccountabilityError(WardenError):
    code = "accountability_error"


class UnknownDecision(AccountabilityError):
    code = "unknown_decision"


class UnknownChain(AccountabilityError):
    code = "unknown_chain"


class BadTimeRange(AccountabilityError):
    code = "bad_time_range"


class HopSource(Protocol):
    """Where hops are read from (:class:`warden.chains.store.SqlChainStore`)."""

    async def get(self, hop_id: str) -> Hop | None: ...
    async def of_chain(self, chain_id: str) -> list[Hop]: ...


@dataclass(frozen=True, slots=True)
class TraceHop:
    """One link of the path: ``from_party`` gave ``to_agent`` a mandate; ``delegation`` is its
    ``chain:delegated`` entry as recorded (None when the hop or its entry is not stored)."""

    from_party: str
    to_agent: str
    depth: int
    hop_id: str | None = None
    mandate_id: str = ""
    task: str = ""
    revoked_at: str | None = None
    delegation: Mapping[str, Any] | None = None
    missing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "hop_id": self.hop_id,
            "depth": self.depth,
            "from": self.from_party,
            "to": self.to_agent,
            "mandate_id": self.mandate_id,
            "task": self.task,
            "revoked_at": self.revoked_at,
            "delegation": dict(self.delegation) if self.delegation is not None else None,
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class Trace:
    """A decision traced back to its person: the hops in path order (hop 0 first), then the
    action. ``chain_id`` is "" for a decision made without a (valid) chain."""

    decision_id: str
    person: str
    chain_id: str
    chain_presented: bool
    chain_valid: bool
    depth: int | None
    hops: tuple[TraceHop, ...]
    action: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "person": self.person,
            "chain_id": self.chain_id,
            "chain_presented": self.chain_presented,
            "chain_valid": self.chain_valid,
            "depth": self.depth,
            "hops": [h.to_dict() for h in self.hops],
            "action": dict(self.action),
        }


class Accountability:
    """The accountability queries over an indexed ledger store and the hop store."""

    def __init__(self, ledger: IndexedLedger, hops: HopSource) -> None:
        self._ledger = ledger
        self._hops = hops

    async def trace(self, decision_id: str) -> Trace:
        """The path from the person to the action of decision ``decision_id``."""
        entry = await self._ledger.get(decision_id)
        if entry is None or str(entry.event_type) not in _DECISIONS:
            raise UnknownDecision(f"no decision `{decision_id}` in the ledger")
        payload = entry.payload
        chain = decision_chain(payload)
        valid = chain.get("valid") is True and bool(chain.get("id"))
        person = _person(payload, chain)
        hops = await self._path(chain) if valid else (self._mandate_link(payload, person),)
        return Trace(
            decision_id=decision_id,
            person=person,
            chain_id=str(chain.get("id") or "") if valid else "",
            chain_presented=chain.get("present") is True,
            chain_valid=valid,
            depth=_int(chain.get("depth")) if valid else None,
            hops=hops,
            action=_action(entry),
        )

    async def tree(self, chain_id: str) -> dict[str, Any]:
        """Every hop of chain ``chain_id`` nested under its parent, with per-hop action counts
        by outcome and the chain's revocations."""
        hops = await self._chain_hops(chain_id)
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        revocations: list[dict[str, Any]] = []
        async for entry in self._walk(chain_id):
            kind = str(entry.event_type)
            if kind in _DECISIONS:
                hop = decision_chain(entry.payload).get("hop")
                counts[str(hop)][str(entry.payload.get("outcome", ""))] += 1
            elif kind == REVOKED:
                revocations.append(_revocation(entry))
        nodes = {h.id: _node(h, counts[h.id]) for h in hops}
        roots: list[dict[str, Any]] = []
        for h in hops:
            parent = nodes.get(h.parent_id) if h.parent_id else None
            (parent["children"] if parent is not None else roots).append(nodes[h.id])
        totals = sum((counts[h.id] for h in hops), Counter[str]())
        return {
            "chain_id": chain_id,
            "person": hops[0].person,
            "root_mandate_id": hops[0].root_mandate_id,
            "hops": len(hops),
            "max_depth": max(h.depth for h in hops),
            "actions": _by_outcome(totals),
            "revocations": revocations,
            "tree": roots,
        }

    async def on_behalf_of(
        self,
        person: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        after_seq: int = 0,
    ) -> dict[str, Any]:
        """Decisions and delegations for ``person`` recorded between ``start`` and ``end``
        (inclusive, either open), in ledger order; ``next_after`` pages on."""
        _check_range(start, end)
        limit = max(1, min(limit, MAX_PAGE))
        entries = await self._ledger.by_person(person, start, end, limit, after_seq)
        return {
            "person": person,
            "from": format_timestamp(start) if start else None,
            "to": format_timestamp(end) if end else None,
            "actions": [_activity(e) for e in entries],
            "next_after": entries[-1].seq if len(entries) == limit else None,
        }

    async def blast_radius(self, chain_id: str) -> dict[str, Any]:
        """What chain ``chain_id`` reached: each tool its allowed actions used (counts, data
        labels, external destinations, agents); denied and held attempts counted apart."""
        hops = await self._chain_hops(chain_id)
        reach = _Reach()
        async for entry in self._walk(chain_id):
            if str(entry.event_type) in _DECISIONS:
                reach.add(entry.payload)
        return {
            "chain_id": chain_id,
            "person": hops[0].person,
            "hops": len(hops),
            "agents_in_chain": sorted({h.to_agent for h in hops}),
            **reach.to_dict(),
        }

    async def _path(self, chain: Mapping[str, Any]) -> tuple[TraceHop, ...]:
        path = chain.get("path")
        hop_ids = [str(h) for h in path] if isinstance(path, list) else []
        agents = _strings(chain.get("agents"))
        out: list[TraceHop] = []
        for n, hop_id in enumerate(hop_ids):
            hop = await self._hops.get(hop_id)
            if hop is None:
                to = agents[n] if n < len(agents) else ""
                out.append(TraceHop("", to, n, hop_id=hop_id, missing=True))
                continue
            delegation = await self._ledger.get(hop.entry_id) if hop.entry_id else None
            out.append(_trace_hop(hop, delegation))
        return tuple(out)

    def _mandate_link(self, payload: Mapping[str, Any], person: str) -> TraceHop:
        """Without a chain, the only link is the person's mandate held by the agent itself."""
        features = payload.get("features")
        mandate = features.get("mandate") if isinstance(features, Mapping) else None
        mandate_id = mandate.get("id", "") if isinstance(mandate, Mapping) else ""
        subject = payload.get("subject")
        agent = subject.get("id", "") if isinstance(subject, Mapping) else ""
        return TraceHop(person, str(agent), 0, mandate_id=str(mandate_id or ""))

    async def _chain_hops(self, chain_id: str) -> list[Hop]:
        hops = await self._hops.of_chain(chain_id)
        if not hops:
            raise UnknownChain(f"no chain `{chain_id}`")
        return hops

    async def _walk(self, chain_id: str) -> AsyncIterator[LedgerEntry]:
        """Every indexed entry of the chain, in pages, in ledger order."""
        after = 0
        while True:
            page = await self._ledger.by_chain(chain_id, _PAGE, after)
            for entry in page:
                yield entry
            if len(page) < _PAGE:
                return
            after = page[-1].seq


class _Reach:
    """The blast radius accumulated over a chain's decisions."""

    def __init__(self) -> None:
        self.allowed: Counter[str] = Counter()
        self.tool_labels: dict[str, set[str]] = defaultdict(set)
        self.tool_destinations: dict[str, set[str]] = defaultdict(set)
        self.tool_agents: dict[str, set[str]] = defaultdict(set)
        self.refused: dict[str, Counter[str]] = {"deny": Counter(), "step_up": Counter()}
        self.agents: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, payload: Mapping[str, Any]) -> None:
        tool, outcome = _tool(payload), str(payload.get("outcome", ""))
        agent = decision_agent(payload) or ""
        self.agents[agent][outcome] += 1
        if outcome in self.refused:
            self.refused[outcome][tool] += 1
            return
        if outcome != "allow":
            return
        chain = decision_chain(payload)
        self.allowed[tool] += 1
        self.tool_labels[tool].update(_strings(chain.get("labels")))
        self.tool_destinations[tool].update(_strings(chain.get("destinations")))
        self.tool_agents[tool].add(agent)

    def to_dict(self) -> dict[str, Any]:
        resources = [
            {
                "tool": tool,
                "allowed": n,
                "labels": sorted(self.tool_labels[tool]),
                "destinations": sorted(self.tool_destinations[tool]),
                "agents": sorted(self.tool_agents[tool]),
            }
            for tool, n in sorted(self.allowed.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        return {
            "allowed": sum(self.allowed.values()),
            "resources": resources,
            "labels": sorted(set().union(*self.tool_labels.values())),
            "destinations": sorted(set().union(*self.tool_destinations.values())),
            "agents": [{"agent": a, **_by_outcome(c)} for a, c in sorted(self.agents.items()) if a],
            "denied": _attempts(self.refused["deny"]),
            "held": _attempts(self.refused["step_up"]),
        }


def _attempts(counts: Counter[str]) -> dict[str, Any]:
    return {"total": sum(counts.values()), "by_tool": dict(sorted(counts.items()))}


def _by_outcome(counts: Mapping[str, int]) -> dict[str, int]:
    return {o: int(counts.get(o, 0)) for o in _OUTCOMES}


def _node(hop: Hop, counts: Mapping[str, int]) -> dict[str, Any]:
    return {
        "hop_id": hop.id,
        "depth": hop.depth,
        "from": hop.from_party,
        "to": hop.to_agent,
        "mandate_id": hop.mandate_id,
        "task": hop.task,
        "tools": list(hop.tools) if hop.tools is not None else None,
        "created_at": hop.created_at.isoformat(),
        "expires_at": hop.expires_at.isoformat(),
        "revoked_at": hop.revoked_at.isoformat() if hop.revoked_at else None,
        "entry_id": hop.entry_id,
        "actions": _by_outcome(counts),
        "children": [],
    }


def _trace_hop(hop: Hop, delegation: LedgerEntry | None) -> TraceHop:
    recorded: dict[str, Any] | None = None
    if delegation is not None:
        recorded = {
            "entry_id": delegation.entry_id,
            "seq": delegation.seq,
            "event_type": str(delegation.event_type),
            "outcome": _delegation_outcome(str(delegation.event_type)),
            "recorded_at": format_timestamp(delegation.recorded_at),
            "details": dict(delegation.payload),
        }
    return TraceHop(
        from_party=hop.from_party,
        to_agent=hop.to_agent,
        depth=hop.depth,
        hop_id=hop.id,
        mandate_id=hop.mandate_id,
        task=hop.task,
        revoked_at=hop.revoked_at.isoformat() if hop.revoked_at else None,
        delegation=recorded,
    )


def _delegation_outcome(event_type: str) -> str:
    return {DELEGATED: "delegated", REFUSED: "refused", REVOKED: "revoked"}.get(event_type, "")


def _action(entry: LedgerEntry) -> dict[str, Any]:
    payload, chain = entry.payload, decision_chain(entry.payload)
    action = payload.get("action")
    return {
        "seq": entry.seq,
        "recorded_at": format_timestamp(entry.recorded_at),
        "agent": decision_agent(payload) or _subject_id(payload),
        "action": action.get("name", "") if isinstance(action, Mapping) else "",
        "tool": _tool(payload),
        "outcome": str(payload.get("outcome", "")),
        "reasons": list(payload.get("reasons") or []),
        "errors": list(payload.get("errors") or []),
        "policy_revision": payload.get("policy_revision"),
        "labels": _strings(chain.get("labels")),
        "destinations": _strings(chain.get("destinations")),
    }


def _activity(entry: LedgerEntry) -> dict[str, Any]:
    """One line of a person's history: a decision, a delegation, a refusal, a revocation."""
    kind, payload = str(entry.event_type), entry.payload
    row: dict[str, Any] = {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "at": format_timestamp(entry.recorded_at),
        "event_type": kind,
    }
    if kind in _DECISIONS:
        chain = decision_chain(payload)
        valid = chain.get("valid") is True
        return row | {
            "kind": "decision",
            "agent": decision_agent(payload) or _subject_id(payload),
            "tool": _tool(payload),
            "outcome": str(payload.get("outcome", "")),
            "chain_id": str(chain.get("id") or "") if valid else "",
            "depth": _int(chain.get("depth")) if valid else None,
        }
    return row | {
        "kind": {DELEGATED: "delegation", REFUSED: "refusal"}.get(kind, kind),
        "agent": str(payload.get("to") or ""),
        "from": str(payload.get("from") or ""),
        "tool": None,
        "outcome": _delegation_outcome(kind) or kind,
        "chain_id": str(payload.get("chain_id") or ""),
        "depth": _int(payload.get("depth")),
        "code": payload.get("code"),
    }


def _revocation(entry: LedgerEntry) -> dict[str, Any]:
    payload = entry.payload
    return {
        "entry_id": entry.entry_id,
        "at": format_timestamp(entry.recorded_at),
        "hops": _strings(payload.get("hops")),
        "actor": str(payload.get("actor") or ""),
        "reason": str(payload.get("reason") or ""),
    }


def _person(payload: Mapping[str, Any], chain: Mapping[str, Any]) -> str:
    for value in (payload.get("on_behalf_of"), chain.get("person")):
        if isinstance(value, str) and value:
            return value
    return UNKNOWN_PERSON


def _tool(payload: Mapping[str, Any]) -> str:
    resource = payload.get("resource")
    return str(resource.get("id", "")) if isinstance(resource, Mapping) else ""


def _subject_id(payload: Mapping[str, Any]) -> str:
    subject = payload.get("subject")
    return str(subject.get("id", "")) if isinstance(subject, Mapping) else ""


def _strings(value: Any) -> list[str]:
    return (
        [str(v) for v in value]
        if isinstance(value, Sequence) and not isinstance(value, str)
        else []
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_range(start: datetime | None, end: datetime | None) -> None:
    for name, moment in (("from", start), ("to", end)):
        if moment is not None and moment.utcoffset() is None:
            raise BadTimeRange(f"`{name}` needs a timezone, got `{moment.isoformat()}`")
    if start is not None and end is not None and start > end:
        raise BadTimeRange(f"`from` ({start.isoformat()}) is after `to` ({end.isoformat()})")
