"""How Warden intervenes, wired across its services: what a kill does beyond denying
(:class:`KillEffects`), the Shared Signals it sends and when (:class:`Signals`), and a step-up
decision held for, or released by, a person's approval (:func:`step_up`).

Each piece is given the services it acts on; the runtime builds them once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from warden.approvals.models import action_hash
from warden.approvals.service import ApprovalService
from warden.audit.models import EventType
from warden.chains.errors import ChainNotFound
from warden.chains.service import ChainService
from warden.decisions.models import Decision, DecisionRequest, Outcome, Reason
from warden.kill.models import Kill, KillKind
from warden.kill.service import KillSwitch
from warden.mandates.errors import MandateNotFound
from warden.mandates.service import MandateService
from warden.sessions.errors import SessionError
from warden.sessions.models import session_id
from warden.sessions.service import SessionService
from warden.ssf.set import agent_subject, person_subject, session_subject

if TYPE_CHECKING:
    from warden.ssf.transmitter import SsfTransmitter
    from warden.tokens.service import AuthorizationServer

log = logging.getLogger("warden")


class Signals:
    """CAEP events for what Warden changed (see docs/ssf.md): each is queued durably on every
    stream that asked for it. A failure is logged, never raised: the change it reports has
    happened whatever becomes of the signal."""

    def __init__(self) -> None:
        self.transmitter: SsfTransmitter | None = None  # set once the keys are open

    async def send(self, kind: str, subject: Mapping[str, Any], **fields: Any) -> int:
        """``session_revoked``, ``credential_change`` or ``token_claims_change``; the number
        of streams it was queued on."""
        if self.transmitter is None:
            return 0
        try:
            sent: int = await getattr(self.transmitter, kind)(subject, **fields)
        except Exception:
            log.exception("could not queue the %s signal", kind)
            return 0
        return sent

    async def entitlement_changed(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """An entitlement granted, revoked, pruned or restored: token-claims-change for the
        agent, its claims naming the grant and its new state."""
        grant = payload.get("entitlement")
        if not event_type.startswith("entitlement:") or not isinstance(grant, Mapping):
            return
        fields = ("id", "action", "resource_type", "resource_id", "state")
        await self.send(
            "token_claims_change",
            agent_subject(str(grant["agent_id"])),
            claims={"warden_entitlement": {k: grant.get(k) for k in fields}},
            reason_admin=f"{event_type.split(':', 1)[1]} by {payload.get('actor', 'warden')}",
        )

    async def session_suspended(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """A session suspended (by a person, or by a drift policy): session-revoked."""
        if event_type != EventType.SESSION_SUSPENDED.value:
            return
        actor = str(payload.get("actor", "warden"))
        await self.send(
            "session_revoked",
            session_subject(str(payload["session"])),
            reason_admin=f"session suspended: {payload.get('reason', '')}",
            initiating_entity="policy" if actor == "warden" else "admin",
        )

    async def credential_issued(self, event: Mapping[str, Any]) -> None:
        """A new X.509-SVID for an agent (its credential rotated): credential-change. JWT-SVIDs
        are short-lived bearer credentials that CAEP's credential types do not name."""
        if event.get("kind") != "x509":
            return
        await self.send(
            "credential_change",
            agent_subject(str(event["spiffe_id"])),
            credential_type="x509",
            change_type="create",
            reason_admin="X.509-SVID issued",
            x509_serial=str(event.get("serial", "")),
        )

    async def killed(self, kill: Kill, now: datetime) -> str | None:
        """Any kill: session-revoked for what was killed (chains and mandates by opaque id)."""
        subject = {
            KillKind.AGENT: agent_subject,
            KillKind.SESSION: session_subject,
            KillKind.PERSON: person_subject,
        }.get(kill.kind, session_subject)(kill.target)
        reason = f"{kill.kind.value} killed: {kill.reason}"
        sent = await self.send("session_revoked", subject, reason_admin=reason, at=now)
        return f"signalled {sent} stream{_s(sent)}" if sent else None


class KillEffects:
    """What a kill does beyond denying the next action, per kind (see docs/kill-switch.md);
    registered on the kill switch when built."""

    def __init__(
        self,
        kills: KillSwitch,
        *,
        tokens: Callable[[], AuthorizationServer],
        sessions: SessionService,
        chains: ChainService,
        mandates: MandateService,
        approvals: ApprovalService,
        signals: Signals,
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._chains = chains
        self._mandates = mandates
        self._approvals = approvals
        for kind in KillKind:
            kills.effects[kind] += [self.cancel_approvals, signals.killed]
        kills.effects[KillKind.AGENT].append(self.revoke_agent_tokens)
        kills.effects[KillKind.SESSION].append(self.suspend_session)
        kills.effects[KillKind.CHAIN].append(self.revoke_chain)
        kills.effects[KillKind.MANDATE].append(self.revoke_mandate)
        kills.effects[KillKind.PERSON].append(self.revoke_person)
        kills.revive_effects[KillKind.SESSION].append(self.resume_session)

    async def revoke_agent_tokens(self, kill: Kill, now: datetime) -> str:
        count = await self._tokens().revoke_agent_tokens(kill.target, now)
        return f"revoked {count} token{_s(count)} of the agent"

    async def suspend_session(self, kill: Kill, now: datetime) -> str | None:
        try:
            await self._sessions.suspend(kill.target, actor=kill.actor, reason=kill.reason, now=now)
        except SessionError:  # unknown or already suspended: the kill denies anyway
            return None
        return f"suspended session {kill.target}"

    async def resume_session(self, kill: Kill, now: datetime) -> str | None:
        actor, reason = kill.revived_by or "warden", kill.revive_reason or "revived"
        try:
            await self._sessions.resume(kill.target, actor=actor, reason=reason, now=now)
        except SessionError:
            return None
        return f"resumed session {kill.target}"

    async def revoke_chain(self, kill: Kill, now: datetime) -> str:
        """A chain (or a branch): its hops, and the delegates' tokens minted for them."""
        try:
            hops = await self._chains.revoke(
                kill.target, actor=kill.actor, reason=kill.reason, now=now
            )
        except ChainNotFound:
            return f"no live chain `{kill.target}` to revoke"
        recorded = [self._chains.hop(h) for h in hops]
        jtis = [h.exchange_jti for h in recorded if h and h.depth and h.exchange_jti]
        await self._tokens().revoke_tokens(jtis, now)
        return f"revoked {len(hops)} hops of chain `{kill.target}` and {len(jtis)} delegated tokens"

    async def revoke_mandate(self, kill: Kill, now: datetime) -> str:
        return await self._revoke_mandates([kill.target], kill, now)

    async def revoke_person(self, kill: Kill, now: datetime) -> str:
        # The person's own mandates: their delegates' mandates follow them.
        mandates = self._mandates.of_person(kill.target)
        return await self._revoke_mandates(
            [m.id for m in mandates if not m.extra.get("parent")], kill, now
        )

    async def _revoke_mandates(self, mandate_ids: Sequence[str], kill: Kill, now: datetime) -> str:
        """Mandates (their delegates' mandates follow) and the chains rooted at them."""
        revoked = 0
        lines: list[str] = []
        for mandate_id in mandate_ids:
            try:
                await self._mandates.revoke(
                    mandate_id, actor=kill.actor, reason=kill.reason, now=now
                )
                revoked += 1
            except MandateNotFound:
                pass  # already revoked or unknown: the kill denies its actions anyway
            chain = self._chains.chain_of(mandate_id)
            if chain is not None:
                lines.append(await self.revoke_chain(dataclasses.replace(kill, target=chain), now))
        return "; ".join([f"revoked {revoked} mandate{_s(revoked)}", *lines])

    async def cancel_approvals(self, kill: Kill, now: datetime) -> str | None:
        """Held approvals in the kill's scope (a branch: its chain's)."""
        scope = {
            KillKind.AGENT: "agent",
            KillKind.SESSION: "session_id",
            KillKind.CHAIN: "chain_id",
            KillKind.MANDATE: "mandate_id",
            KillKind.PERSON: "person",
        }[kill.kind]
        target = kill.target
        if kill.kind is KillKind.CHAIN and (hop := self._chains.hop(target)) is not None:
            target = hop.chain_id
        cancelled = await self._approvals.cancel(
            reason=f"killed: {kill.reason}", actor=kill.actor, now=now, **{scope: target}
        )
        return (
            f"cancelled {len(cancelled)} held approval{_s(len(cancelled))}" if cancelled else None
        )


async def step_up(
    request: DecisionRequest,
    decision: Decision,
    now: datetime,
    *,
    approvals: ApprovalService,
    mandates: MandateService,
    mandate_id: str | None,
    person: str | None,
    learn: Callable[[DecisionRequest, datetime], None],
) -> Decision:
    """A step-up decision: released by the approval the request presents
    (``context.approval``) — once, and only for the exact action it was given for — or held
    for one, whose id the decision carries (``features.approval``). An approval that does not
    release this action denies it. Any other decision is returned as it is (the runtime
    calls it for step-ups only, so nothing is computed for the rest)."""
    if decision.outcome is not Outcome.STEP_UP:
        return decision
    chain = decision.features.get("chain") or {}
    hop = str(chain["hop"]) if chain.get("valid") else None
    arguments = request.context.get("arguments")
    resource = request.resource
    digest = action_hash(
        request.subject.id, request.action.name, resource.type, resource.id, arguments,
        mandate_id, hop,
    )  # fmt: skip
    presented = request.context.get("approval")
    if isinstance(presented, str) and presented:
        release = approvals.check(presented, digest, now)
        if release.ok and await approvals.consume(presented, now):
            learn(request, now)  # a person vouched for it: the baseline learns it
            granted = Reason(release.code, release.message, "approval", Outcome.ALLOW)
            features = {**decision.features, "approval": {"id": presented, "status": "used"}}
            return dataclasses.replace(
                decision, outcome=Outcome.ALLOW, reasons=(granted, *decision.reasons),
                features=features,
            )  # fmt: skip
        code = release.code if not release.ok else "approval.used"
        refused = Reason(code, release.message, "approval", Outcome.DENY)
        return dataclasses.replace(
            decision, outcome=Outcome.DENY, reasons=(refused, *decision.reasons)
        )
    live = mandates.live(mandate_id) if mandate_id else None
    profile = mandates.profile_of(live) if live is not None else None
    held = await approvals.hold(
        action_hash=digest,
        decision_id=decision.decision_id,
        agent=request.subject.id,
        person=person,
        tool=resource.id,
        mandate_id=mandate_id,
        chain_id=str(chain["id"]) if chain.get("valid") else None,
        session_id=session_id(request.subject.id, mandate_id or ""),
        reasons=[r.to_dict() for r in decision.reasons if r.outcome is Outcome.STEP_UP],
        held={
            "agent": request.subject.id,
            "action": request.action.name,
            "resource": {"type": resource.type, "id": resource.id},
            "arguments": arguments,
            "mandate_id": mandate_id,
            "hop_id": hop,
        },
        required=profile.approvals_required if profile else 1,
        separation_of_duties=profile.separation_of_duties if profile else False,
        now=now,
    )
    approval = {
        "id": held.id,
        "status": held.status.value,
        "required": held.required,
        "expires_at": held.expires_at.isoformat(),
    }
    return dataclasses.replace(decision, features={**decision.features, "approval": approval})


def _s(count: int) -> str:
    return "" if count == 1 else "s"
