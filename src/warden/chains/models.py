"""A delegation chain's vocabulary: hops, the verified chain an action presents, and what
the ledger records of both (the contract between the chain service, the chain analyser and
the accountability queries).

A chain is a tree rooted at a person's mandate. Hop 0 links the person to the root agent
that holds the mandate; each deeper hop is one agent → agent delegation made by RFC 8693
token exchange, with a child mandate that can only narrow its parent's. ``depth`` is the
number of agent → agent delegations above an agent, the same as the nesting of the ``act``
claim in its token (RFC 8693 §4.1): the root agent acts at depth 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

# Ledger event types (warden.audit.models.EventType holds the same strings).
DELEGATED = "chain:delegated"
REFUSED = "chain:refused"
REVOKED = "chain:revoked"


@dataclass(frozen=True, slots=True)
class Hop:
    """One delegation: ``from_party`` (the person at depth 0, else an agent) gave
    ``to_agent`` the hop's mandate. ``tools`` is the hop's allow-list (None: whatever its
    parent may use); ``limits`` caps numeric arguments ({tool: {argument: max}}), never above
    the parent's."""

    id: str
    chain_id: str
    parent_id: str | None
    depth: int
    person: str
    from_party: str
    to_agent: str
    mandate_id: str
    root_mandate_id: str
    exchange_jti: str | None
    task: str
    tools: tuple[str, ...] | None
    limits: Mapping[str, Mapping[str, float]]
    digest: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    entry_id: str | None = None

    def body(self) -> dict[str, Any]:
        """What the digest covers: every field that says what the hop allows and to whom."""
        return {
            "id": self.id,
            "chain": self.chain_id,
            "parent": self.parent_id,
            "depth": self.depth,
            "person": self.person,
            "from": self.from_party,
            "to": self.to_agent,
            "mandate": self.mandate_id,
            "root": self.root_mandate_id,
            "jti": self.exchange_jti,
            "tools": list(self.tools) if self.tools is not None else None,
            "limits": {t: dict(a) for t, a in self.limits.items()},
            "iat": int(self.created_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
        }

    def to_dict(self) -> dict[str, Any]:
        """The hop as the API and the CLI show it."""
        return {
            "id": self.id,
            "chain_id": self.chain_id,
            "parent_id": self.parent_id,
            "depth": self.depth,
            "person": self.person,
            "from": self.from_party,
            "to": self.to_agent,
            "mandate_id": self.mandate_id,
            "root_mandate_id": self.root_mandate_id,
            "exchange_jti": self.exchange_jti,
            "task": self.task,
            "tools": list(self.tools) if self.tools is not None else None,
            "limits": {t: dict(a) for t, a in self.limits.items()},
            "digest": self.digest,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "entry_id": self.entry_id,
        }


def hop_digest(parent_digest: str | None, body: Mapping[str, Any]) -> str:
    """sha256 over the parent's digest and the hop's canonical JSON: a hash chain, root first."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256((parent_digest or "").encode() + b"\n" + canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A chain assertion whose signature, issuer, audience and expiry checked out: the hops
    from the person (hop 0) down to the presenting delegate (the last hop)."""

    hops: tuple[Hop, ...]
    expires_at: int  # the assertion's ``exp``
    token: str = field(repr=False)

    @property
    def leaf(self) -> Hop:
        return self.hops[-1]

    @property
    def root(self) -> Hop:
        return self.hops[0]

    @property
    def depth(self) -> int:
        return self.leaf.depth

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents from the root agent down to the delegate."""
        return tuple(h.to_agent for h in self.hops)


# The ``chain`` block of a decision's features, as the ledger records it:
#   present: bool            a chain assertion came with the action
#   valid: bool              it verified and was the presenting agent's own
#   id: str                  the chain (tree) id, "" when absent or invalid
#   hop: str                 the presenting delegate's hop id
#   depth: int               agent → agent delegations above the subject (0: the root agent)
#   person: str              who the chain acts for
#   root_mandate: str        the person's mandate at the root
#   mandate: str             the hop's own (child) mandate
#   purpose: str             the root mandate's purpose profile ("" when unmatched)
#   agents: [str]            root agent first, the subject last
#   path: [str]              hop ids, hop 0 first
#   labels: [str]            data labels this action touches (tool labels + labels in)
#   destinations: [str]      external destinations in its arguments
# Decision entries also carry ``on_behalf_of`` (the person, from the chain or the mandate;
# None when neither) at the top level of their payload, for the ledger index.
