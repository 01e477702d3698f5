"""The ledger's accountability index: who an entry acted for, in which chain, by which agent.

Stores write these rows (table ``ledger_index``) in the same transaction as the entries they
index, so a query by person or by chain never misses a committed entry and never sees one
that was rolled back. Only entries naming a person or a chain get a row:

* decisions: ``on_behalf_of`` (the person) and ``features.chain.id`` when the chain verified;
  the agent is the subject when its type is an agent's;
* ``chain:delegated`` / ``chain:refused``: ``person``, ``chain_id``; the agent is ``to``;
* ``chain:revoked``: ``chain_id``;
* any other entry with a top-level ``on_behalf_of``.

A value too long for its column is left out of the row rather than failing the append: an
index that cannot hold a value must never cost the ledger an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from warden.audit.chain import format_timestamp
from warden.audit.models import DECISION_EVENTS, LedgerEntry

CHAIN_EVENTS = frozenset({"chain:delegated", "chain:refused", "chain:revoked"})
_PERSON_MAX, _CHAIN_MAX, _AGENT_MAX = 320, 64, 2048  # warden.store.schema.ledger_index
_DECISIONS = frozenset(str(e) for e in DECISION_EVENTS)


class IndexedLedger(Protocol):
    """A ledger store that also answers from its index (every store in warden.audit.store)."""

    async def get(self, entry_id: str) -> LedgerEntry | None: ...

    async def by_person(
        self,
        person: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        """Entries acting for ``person`` recorded in [start, end], ascending by seq."""
        ...

    async def by_chain(
        self, chain_id: str, limit: int = 100, after_seq: int = 0
    ) -> list[LedgerEntry]:
        """Entries of chain ``chain_id`` with seq > ``after_seq``, ascending by seq."""
        ...


def index_rows(entries: Iterable[LedgerEntry]) -> list[dict[str, Any]]:
    """The ``ledger_index`` rows for ``entries``: one per entry naming a person or a chain."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row = index_row(entry)
        if row is not None:
            rows.append(row)
    return rows


def index_row(entry: LedgerEntry) -> dict[str, Any] | None:
    """The index row of one entry, or None when it names neither a person nor a chain."""
    kind = str(entry.event_type)
    payload = entry.payload
    if kind in _DECISIONS:
        person, chain, agent = _decision_keys(payload)
    elif kind in CHAIN_EVENTS:
        person = _text(payload.get("person"))
        chain = _text(payload.get("chain_id"))
        agent = _text(payload.get("to"))
    else:
        person, chain, agent = _text(payload.get("on_behalf_of")), None, None
    person, chain = _fits(person, _PERSON_MAX), _fits(chain, _CHAIN_MAX)
    if person is None and chain is None:
        return None
    return {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "recorded_at": format_timestamp(entry.recorded_at),
        "event_type": kind,
        "person": person,
        "chain_id": chain,
        "agent": _fits(agent, _AGENT_MAX),
    }


def decision_chain(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """A decision's ``features.chain`` block, or an empty mapping."""
    features = payload.get("features")
    chain = features.get("chain") if isinstance(features, Mapping) else None
    return chain if isinstance(chain, Mapping) else {}


def _decision_keys(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    chain = decision_chain(payload)
    chain_id = _text(chain.get("id")) if chain.get("valid") is True else None
    person = _text(payload.get("on_behalf_of"))
    if person is None and chain_id is not None:
        person = _text(chain.get("person"))
    return person, chain_id, decision_agent(payload)


def decision_agent(payload: Mapping[str, Any]) -> str | None:
    """The subject's id when the subject is an agent (``agent``, ``Agent``, ``agent_``...)."""
    subject = payload.get("subject")
    if not isinstance(subject, Mapping):
        return None
    kind = subject.get("type")
    if not isinstance(kind, str) or kind.replace("_", "").lower() != "agent":
        return None
    return _text(subject.get("id"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _fits(value: str | None, limit: int) -> str | None:
    return value if value is not None and len(value) <= limit else None
