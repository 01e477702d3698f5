"""Delegation chains at the token endpoint: the RFC 8693 grant's view of :class:`ChainService`.

Warden's extension parameters of a token exchange request (form fields beside RFC 8693's):

- ``mandate``: the person's mandate (its Txn-Token), to start a chain from it;
- ``task``: the delegated sub-task in the delegator's words;
- ``tools``: the delegate's allow-list, space-separated (tool names or ``erp.*`` patterns);
- ``limits``: JSON ``{"payments.transfer": {"amount": 500}}``, caps on numeric arguments;
- ``expires_in``: seconds the delegation lasts (never past the delegator's).

The response gains ``chain`` (the assertion), ``chain_id``, ``hop_id``, ``chain_depth``,
``mandate`` (the delegate's own mandate) and ``mandate_id``. A refused delegation is
``invalid_request`` (RFC 8693 §2.2.2) whose description starts with the chain code
(``chain.widening: …``), and a ``chain:refused`` ledger event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from warden.chains.errors import DelegationRefused
from warden.chains.service import ChainService, DelegationRequest, Plan
from warden.tokens.errors import InvalidRequest
from warden.tokens.service import PlannedDelegation


class ChainDelegations:
    """Implements ``warden.tokens.service.Delegations`` over a :class:`ChainService`."""

    def __init__(self, chains: ChainService) -> None:
        self._chains = chains

    async def plan(
        self,
        *,
        subject: Mapping[str, Any],
        delegator: str,
        delegate: str,
        params: Mapping[str, str],
        now: datetime,
    ) -> PlannedDelegation | None:
        try:
            request = DelegationRequest.parse(params)
            return self._chains.plan(
                subject=subject, delegator=delegator, delegate=delegate, request=request, now=now
            )
        except DelegationRefused as exc:
            await self._chains.refused(exc, delegator=delegator, delegate=delegate, subject=subject)
            raise InvalidRequest(f"{exc.code}: {exc.message}") from None

    async def commit(self, plan: PlannedDelegation, jti: str, now: datetime) -> Mapping[str, Any]:
        assert isinstance(plan, Plan)
        delegation = await self._chains.commit(plan, jti, now)
        return delegation.response_fields()
