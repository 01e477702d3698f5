"""Token introspection (RFC 7662).

The caller must authenticate as a client (§2.1). A client sees only its own tokens; a client
registered as a resource server (metadata ``resource_server: true``) sees any token. Every
other token answers ``{"active": false}`` (§2.2), as do revoked and expired tokens and tokens
of an agent that is no longer ``active`` — the agent's status is read at introspection time,
so suspending an agent deactivates its tokens at once. ``token_type_hint`` (§2.1) only orders
the search.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from warden.tokens.minter import Minter
from warden.tokens.models import Client
from warden.tokens.store import ClientStore, TokenRecord

if TYPE_CHECKING:
    from warden.tokens.service import AgentDirectory

INACTIVE: Mapping[str, Any] = {"active": False}
_HIDDEN = frozenset({"cnf"})  # re-added below in RFC 7662's own shape


def may_see(requester: Client, record: TokenRecord) -> bool:
    """A client sees its own tokens; a resource server client sees all."""
    if requester.metadata.get("resource_server") is True:
        return True
    return hmac.compare_digest(requester.client_id, record.client_id)


class Introspection:
    def __init__(self, clients: ClientStore, agents: AgentDirectory) -> None:
        self._clients = clients
        self._agents = agents

    async def introspect(
        self, token: str, hint: str | None, requester: Client, minter: Minter
    ) -> Mapping[str, Any]:
        record = await minter.find(token, hint)
        if record is None or not may_see(requester, record):
            return INACTIVE
        if not record.active_at(minter.now) or not await self.agents_active(record):
            return INACTIVE
        return describe(record)

    async def agents_active(self, record: TokenRecord) -> bool:
        """Whether every agent the token speaks for (subject, its client's agent, the
        current actor) is still registered and ``active``."""
        ids = await self.agents_of(record)
        return ids is not None and self.all_active(ids)

    async def agents_of(self, record: TokenRecord) -> frozenset[str] | None:
        """The principals a token speaks for (subject, its client's agent, the current actor);
        None when its client is gone."""
        client = await self._clients.get_client(record.client_id)
        if client is None:
            return None
        actor = record.claims.get("act")
        current = actor.get("sub") if isinstance(actor, Mapping) else None
        ids = {record.subject, client.agent_id, current}
        return frozenset(i for i in ids if isinstance(i, str))

    def all_active(self, ids: frozenset[str]) -> bool:
        """Whether each of ``ids`` is active now (memory only: the registry's snapshot)."""
        return all(self._active(i) for i in ids)

    def _active(self, principal: str) -> bool:
        if not principal.startswith("spiffe://"):
            return True  # a person or a non-agent client; not the registry's to judge
        return self._agents.agent_status(principal) == "active"


def describe(record: TokenRecord) -> dict[str, Any]:
    """The §2.2 response of an active token."""
    if record.kind == "refresh":
        return {
            "active": True,
            "client_id": record.client_id,
            "sub": record.subject,
            "scope": " ".join(record.scope),
            "exp": int(record.expires_at.timestamp()),
            "iat": int(record.issued_at.timestamp()),
        }
    body = {k: v for k, v in record.claims.items() if k not in _HIDDEN}
    body.update(active=True, token_type="DPoP" if record.jkt else "Bearer")
    if record.jkt:
        body["cnf"] = {"jkt": record.jkt}  # RFC 9449 §6.2
    return body
