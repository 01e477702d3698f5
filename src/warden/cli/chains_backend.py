"""The accountability queries for CLI commands: over HTTP the routes of
:mod:`warden.chains.api`, on the local store :class:`~warden.chains.queries.Accountability`
over the runtime's ledger store and hop table. Either way the same JSON comes back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from warden.chains.queries import Accountability
from warden.chains.store import SqlChainStore
from warden.cli.backend import CLI_AUTHOR, call_or_run

if TYPE_CHECKING:
    from warden.runtime import Runtime


def accountability(rt: Runtime) -> Accountability:
    return Accountability(rt.ledger_store, SqlChainStore(rt.engine))


def trace(url: str | None, decision_id: str) -> Any:
    async def work(rt: Runtime) -> Any:
        return (await accountability(rt).trace(decision_id)).to_dict()

    return call_or_run(url, "GET", f"/v1/decisions/{_part(decision_id)}/trace", work)


def tree(url: str | None, chain_id: str) -> Any:
    async def work(rt: Runtime) -> Any:
        return await accountability(rt).tree(chain_id)

    return call_or_run(url, "GET", f"/v1/chains/{_part(chain_id)}", work)


def blast_radius(url: str | None, chain_id: str) -> Any:
    async def work(rt: Runtime) -> Any:
        return await accountability(rt).blast_radius(chain_id)

    return call_or_run(url, "GET", f"/v1/chains/{_part(chain_id)}/blast-radius", work)


def person_actions(
    url: str | None, person: str, start: datetime | None, end: datetime | None, limit: int
) -> Any:
    async def work(rt: Runtime) -> Any:
        return await accountability(rt).on_behalf_of(person, start, end, limit)

    params: dict[str, Any] = {"limit": limit}
    params.update({k: v.isoformat() for k, v in (("from", start), ("to", end)) if v})
    return call_or_run(url, "GET", f"/v1/people/{_part(person)}/actions", work, params=params)


def revoke(url: str | None, hop_or_chain: str, reason: str) -> Any:
    async def work(rt: Runtime) -> Any:
        now = datetime.now(UTC)
        revoked = await rt.chains.revoke(hop_or_chain, actor=CLI_AUTHOR, reason=reason, now=now)
        return {"revoked": revoked}

    path = f"/v1/chains/{_part(hop_or_chain)}/revoke"
    return call_or_run(url, "POST", path, work, change=True, json={"reason": reason})


def _part(value: str) -> str:
    """A path segment: ids and people (``alice@…``, SPIFFE ids) quoted whole."""
    return quote(value, safe="@")
