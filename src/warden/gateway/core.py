"""One decision call for every enforcement point Warden runs itself.

The MCP gateway (streamable HTTP and stdio) and the HTTP egress gateway are thin adapters: each
turns what arrived into a :class:`Call` — the verified caller, the tool as Warden knows it, the
full arguments, the mandate (``Txn-Token``) and the chain assertion (``Warden-Chain``) — and asks
:meth:`Gateway.decide`. Whatever the protocol, the call is judged by ``Runtime.decide`` under the
same session (one agent under one mandate), chain and ledger, so a sequence that crosses MCP and
HTTP is judged as one.

- ``allow``: the adapter forwards, then reports what came back (:meth:`Gateway.observe`).
- ``deny``: nothing is forwarded; :meth:`Verdict.explain` tells the agent why, so it can recover.
- ``step_up``: the call is held until a person approves it (then decided again with the
  approval, which releases it once) or ``hold_seconds`` pass (then it is refused, not forwarded).
- Anything that breaks on the way (an exception, a store down) is a deny: fail closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

from warden.approvals.models import ApprovalStatus
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome, Reason
from warden.shadow.models import Surface

if TYPE_CHECKING:
    from warden.runtime import Runtime

log = logging.getLogger("warden.gateway")

DEFAULT_HOLD_SECONDS = 300.0
"""Seconds a held (step-up) call waits for a person before it is refused
(``WARDEN_GATEWAY_HOLD``)."""

REPORT_WAIT = 5.0
"""Seconds a decision waits for the observations still being reported under its mandate."""

AGENT = "agent"
TOOL = "tool"
INVOKE = "invoke"


@dataclass(frozen=True, slots=True)
class Caller:
    """The agent behind a request, as its access token proved it."""

    agent: str  # the acting agent's SPIFFE id: the token's `act.sub`, else its `sub`
    token_id: str  # the token's `jti` (for the ledger and logs; never the token itself)
    hop: str | None = None  # the token's `wch`: the delegation hop it was minted for
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, claims: Mapping[str, Any]) -> Caller:
        """The caller of a verified token: a delegated token (RFC 8693 §4.1) is used by its
        current actor, ``act.sub``, on behalf of its ``sub``; the chain says who is behind."""
        hop = claims.get("wch")
        act = claims.get("act")
        actor = act.get("sub") if isinstance(act, Mapping) else None
        return cls(
            agent=str(actor if isinstance(actor, str) and actor else claims["sub"]),
            token_id=str(claims.get("jti", "")),
            hop=str(hop) if isinstance(hop, str) and hop else None,
            claims=claims,
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One action at an enforcement point."""

    caller: Caller
    tool: str  # Warden's tool id (e.g. ``payments.transfer``)
    arguments: Mapping[str, Any] = field(default_factory=dict)
    mandate: str | None = None  # the Txn-Token, as sent
    chain: str | None = None  # the Warden-Chain assertion, as sent
    action: str = INVOKE
    surface: str = Surface.MCP

    def request(self, approval: str | None = None) -> DecisionRequest:
        context: dict[str, Any] = {"arguments": dict(self.arguments)}
        if self.mandate is not None:
            context["mandate"] = self.mandate
        if self.chain is not None:
            context["chain"] = self.chain
        if approval is not None:
            context["approval"] = approval
        return DecisionRequest(
            subject=Entity(AGENT, self.caller.agent),
            action=Action(self.action),
            resource=Entity(TOOL, self.tool),
            context=context,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gateway does with a call, and why."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    decision_id: str | None  # the ledger entry of the deciding decision (None: none recorded)
    tool: str
    approval: str | None = None  # the approval request that held (or released) it

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def explain(self) -> str:
        """One paragraph for the agent: what was refused, why, and where it is recorded."""
        verb = "refused" if self.outcome is Outcome.DENY else "held"
        why = "; ".join(
            f"{r.code}: {r.message}" for r in self.reasons if r.outcome is not Outcome.ALLOW
        )
        recorded = f" (decision {self.decision_id})" if self.decision_id else ""
        return f"Warden {verb} `{self.tool}`{recorded}: {why or 'no reason given'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "decision_id": self.decision_id,
            "tool": self.tool,
            "approval": self.approval,
            "reasons": [r.to_dict() for r in self.reasons],
        }

    @classmethod
    def of(cls, decision: Decision, tool: str) -> Verdict:
        approval = decision.features.get("approval")
        return cls(
            outcome=decision.outcome,
            reasons=decision.reasons,
            decision_id=decision.decision_id,
            tool=tool,
            approval=str(approval["id"]) if approval else None,
        )


class Decider(TypingProtocol):
    """What an adapter needs: :class:`Gateway` in the server's process, or a client of the
    server's gateway API (the stdio proxy in an agent's process)."""

    async def decide(self, call: Call) -> Verdict: ...

    async def observe(self, call: Call, result: Any) -> dict[str, Any] | None: ...

    async def report(self, call: Call, result: Any) -> None: ...

    async def listable(
        self, caller: Caller, tools: Sequence[str], *, action: str = INVOKE
    ) -> set[str]: ...


class Gateway:
    """Decide, hold, observe: what every adapter asks of Warden."""

    def __init__(self, runtime: Runtime, *, hold_seconds: float = DEFAULT_HOLD_SECONDS) -> None:
        self.runtime = runtime
        self.hold_seconds = hold_seconds
        self._reporting: dict[str, set[asyncio.Task[Any]]] = {}  # by mandate (Txn-Token)

    async def decide(self, call: Call) -> Verdict:
        """The verdict on ``call``, recorded in the ledger before it is returned. A step-up is
        held here until it is approved (then decided again, releasing it once), refused, or
        ``hold_seconds`` pass. Never raises: a failure is a deny (``gateway.undecidable``)."""
        try:
            await self._reported(call.mandate)
            mismatch = self._chain_mismatch(call)
            if mismatch is not None:
                return await self.refuse(call, mismatch)
            decision = await self.runtime.decide(call.request(), where=call.surface)
            verdict = Verdict.of(decision, call.tool)
            if verdict.outcome is Outcome.STEP_UP:
                return await self._hold(call, verdict)
            return verdict
        except Exception:
            log.exception("gateway could not decide `%s` for %s", call.tool, call.caller.agent)
            return _undecidable(call.tool)

    async def _hold(self, call: Call, held: Verdict) -> Verdict:
        if held.approval is None or self.hold_seconds <= 0:
            return _refused_hold(held, "approval.unavailable", "the call needs a person's approval")
        request = await self.runtime.approvals.wait(held.approval, self.hold_seconds)
        if request.status is ApprovalStatus.PENDING:
            message = (
                f"approval `{held.approval}` was not given within {self.hold_seconds:g} s; "
                "the call was not forwarded (send it again once a person approves it)"
            )
            return _refused_hold(held, "approval.timeout", message)
        # Approved, denied, expired or cancelled: the pipeline says which, and releases an
        # approved call once, for exactly this action (approval.granted).
        decision = await self.runtime.decide(call.request(held.approval), where=call.surface)
        verdict = Verdict.of(decision, call.tool)
        if verdict.outcome is Outcome.STEP_UP:  # held again: never forwarded from here
            return _refused_hold(verdict, "approval.required", "the call is still held")
        return dataclasses.replace(verdict, approval=held.approval)

    def _chain_mismatch(self, call: Call) -> Reason | None:
        """A delegated token names its hop (``wch``): the chain assertion sent with it must end
        at that hop, and a token minted for a hop must come with its chain."""
        hop = call.caller.hop
        if hop is None:
            return None
        if call.chain is None:
            return Reason(
                "chain.skipped",
                f"the token was delegated at hop `{hop}`; send its chain in `Warden-Chain`",
                "gateway",
                Outcome.DENY,
            )
        try:
            leaf = self.runtime.chains.verify(call.chain, _now()).leaf
        except Exception:
            return None  # the chain analyser judges a bad assertion, with its own reason
        if leaf.id != hop:
            return Reason(
                "chain.replayed",
                f"the chain assertion ends at hop `{leaf.id}`, the token was minted for `{hop}`",
                "gateway",
                Outcome.DENY,
            )
        return None

    async def refuse(self, call: Call, reason: Reason) -> Verdict:
        """Deny ``call`` for a reason the adapter found before any decision (an unlisted route,
        a token that does not match its chain), recorded like any decision. Never raises: an
        unrecorded refusal is still a refusal (``decision_id`` None)."""
        try:
            decision = await self.runtime.refuse(call.request(), reason, where=call.surface)
        except Exception:
            log.exception("could not record the refusal of `%s`", call.tool)
            return Verdict(Outcome.DENY, (reason,), None, call.tool)
        return Verdict.of(decision, call.tool)

    async def observe(self, call: Call, result: Any) -> dict[str, Any] | None:
        """Report what the forwarded call returned (labels, values as digests, injected
        instructions) to the call's mandate; None without a mandate. The call already ran, so
        a failure here is logged, never raised."""
        if call.mandate is None:
            return None
        try:
            return await self.runtime.mandates.observe(
                call.mandate, agent=call.caller.agent, tool=call.tool, result=result, now=_now()
            )
        except Exception:
            log.exception("could not observe `%s` for %s", call.tool, call.caller.agent)
            return None

    async def report(self, call: Call, result: Any) -> None:
        """:meth:`observe_later` (the :class:`Decider` method)."""
        self.observe_later(call, result)

    def observe_later(self, call: Call, result: Any) -> None:
        """:meth:`observe` in the background: the adapter answers the agent at once. The next
        decision under the same mandate first waits (up to ``REPORT_WAIT`` seconds) for it, so
        a value the agent just read is known to have come from a tool when it is used."""
        if call.mandate is None:
            return
        task = asyncio.get_running_loop().create_task(self.observe(call, result))
        pending = self._reporting.setdefault(call.mandate, set())
        pending.add(task)
        mandate = call.mandate

        def forget(finished: asyncio.Task[Any]) -> None:
            pending.discard(finished)
            if not pending and self._reporting.get(mandate) is pending:
                del self._reporting[mandate]

        task.add_done_callback(forget)

    async def _reported(self, mandate: str | None) -> None:
        pending = self._reporting.get(mandate) if mandate else None
        if pending:
            await asyncio.wait(set(pending), timeout=REPORT_WAIT)

    async def settled(self) -> None:
        """Wait for the reports under way (shutdown, tests)."""
        while self._reporting:
            pending = {t for tasks in self._reporting.values() for t in tasks}
            await asyncio.wait(pending, timeout=REPORT_WAIT)

    async def listable(
        self, caller: Caller, tools: Sequence[str], *, action: str = INVOKE
    ) -> set[str]:
        """The tools ``caller`` may be shown: those its identity and entitlements do not rule
        out (kills, blocks, suspension, grants and the bundle's policies), judged without the
        call's arguments, mandate or session, and recorded nowhere. A call to a listed tool is
        still decided in full. Fails closed: an error lists nothing."""
        try:
            now, subject, verb = _now(), Entity(AGENT, caller.agent), Action(action)
            return {
                tool
                for tool in tools
                if self.runtime.preview(DecisionRequest(subject, verb, Entity(TOOL, tool)), now)
                is not Outcome.DENY
            }
        except Exception:
            log.exception("could not filter tools for %s", caller.agent)
            return set()


def _undecidable(tool: str) -> Verdict:
    reason = Reason(
        "gateway.undecidable",
        "Warden could not decide this call, so it was not forwarded",
        "gateway",
        Outcome.DENY,
    )
    return Verdict(Outcome.DENY, (reason,), None, tool)


def _refused_hold(held: Verdict, code: str, message: str) -> Verdict:
    reason = Reason(code, message, "gateway", Outcome.DENY)
    return dataclasses.replace(held, outcome=Outcome.DENY, reasons=(reason, *held.reasons))


def _now() -> datetime:
    return datetime.now(UTC)
