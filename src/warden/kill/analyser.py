"""The kill analyser: first on the decision path. An action by a killed agent, in a killed
session, chain or mandate (or below a killed mandate or hop), or on behalf of a killed person
is denied before anything else is judged.

Everything it reads is already in memory and cached for this request (the mandate and chain
verifications are the mandate and chain analysers' own caches), and nothing at all is done
while nothing is killed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from warden.chains.models import VerifiedChain
from warden.chains.service import ChainService
from warden.decisions.analysers import Feature, is_agent
from warden.decisions.models import DecisionRequest, Outcome, Reason
from warden.decisions.view import DecisionView
from warden.kill.models import Kill, KillKind
from warden.kill.service import KillSwitch
from warden.mandates.models import Mandate
from warden.mandates.service import MandateService
from warden.sessions.models import session_id

BLOCK = "kill"


class KillAnalyser:
    name = BLOCK

    def __init__(self, kills: KillSwitch, chains: ChainService, mandates: MandateService) -> None:
        self._kills = kills
        self._chains = chains
        self._mandates = mandates

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        if not self._kills.any or not is_agent(request.subject):
            return None
        kill = next(self._hits(request, now), None)
        if kill is None:
            return None
        message = (
            f"{kill.kind.value} `{kill.target}` was stopped by {kill.actor} at "
            f"{kill.created_at.isoformat(timespec='seconds')}: {kill.reason} (kill `{kill.id}`)"
        )
        block = {"killed": True, "kind": kill.kind.value, "target": kill.target, "id": kill.id}
        return Feature(
            BLOCK, block, (Reason(f"kill.{kill.kind.value}", message, "analyser", Outcome.DENY),)
        )

    def _hits(self, request: DecisionRequest, now: datetime) -> Iterator[Kill]:
        killed = self._kills.killed
        agent = request.subject.id
        mandate = self._mandate(request.context.get("mandate"), now)
        chain = self._chain(request.context.get("chain"), agent, now)
        for candidate in (agent, *(chain.agents if chain else ())):
            if kill := killed(KillKind.AGENT, candidate):
                yield kill
        if kill := killed(KillKind.SESSION, session_id(agent, mandate.id if mandate else "")):
            yield kill
        if chain is not None:
            for target in (chain.leaf.chain_id, *(h.id for h in chain.hops)):
                if kill := killed(KillKind.CHAIN, target):
                    yield kill
        for mandate_id in self._mandate_ids(mandate, chain):
            if kill := killed(KillKind.MANDATE, mandate_id):
                yield kill
        for who in {mandate.person if mandate else None, chain.root.person if chain else None}:
            if who and (kill := killed(KillKind.PERSON, who)):
                yield kill

    def _mandate_ids(self, mandate: Mandate | None, chain: VerifiedChain | None) -> Iterator[str]:
        """The mandate and every mandate above it (a delegate's parents up to the root)."""
        if chain is not None:
            yield chain.leaf.root_mandate_id
        current = mandate
        while current is not None:
            yield current.id
            parent = current.extra.get("parent")
            current = self._mandates.live(str(parent)) if parent else None

    def _mandate(self, token: object, now: datetime) -> Mandate | None:
        return self._mandates.identify(token, now)  # revoked ones too: name whom it was for

    def _chain(self, token: object, agent: str, now: datetime) -> VerifiedChain | None:
        chain = self._chains.identify(token, now)
        return chain if chain is not None and chain.leaf.to_agent == agent else None
