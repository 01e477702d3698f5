"""The chain analyser: ``context.chain``, and every action at any depth judged against the
root of its chain as well as its own hop.

An agent acting under a delegation presents its chain assertion (``context.chain`` or the
``Warden-Chain`` header) and its own mandate. The action is denied when:

- the assertion does not verify, or names hops Warden did not record or has revoked
  (``chain.malformed``, ``.forged``, ``.broken``, ``.expired``, ``.unknown``, ``.revoked``);
- it is not the presenting agent's (``chain.replayed``) or comes with another mandate than
  its hop's (``chain.mandate_mismatch``);
- a delegate's mandate, or a root mandate its holder delegated, is presented without the
  chain (``chain.skipped``);
- the tool is not among those a hop on the way delegated (``chain.tool_not_delegated``), an
  argument is above a hop's cap (``chain.limit``), or the agent's own entitlement covers
  what a delegator's does not (``chain.widening``);
- the tool is outside the person's purpose (``chain.laundering``): the reason names the
  root purpose and the hop whose delegation carried the action away from it.

The block records who the chain acts for, through which agents, and what the action touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from warden.chains.errors import InvalidChain
from warden.chains.models import Hop, VerifiedChain
from warden.chains.service import ChainService, describe_hop
from warden.decisions.analysers import Feature, is_agent, is_tool
from warden.decisions.models import DecisionRequest, Outcome, Reason
from warden.decisions.view import DecisionView
from warden.entitlements.cedar import EntitledPolicies
from warden.mandates.errors import InvalidMandate
from warden.mandates.models import Mandate
from warden.mandates.service import MandateService
from warden.policy.errors import InvalidValue
from warden.policy.values import cedar_entity_type

BLOCK = "chain"

ABSENT: Mapping[str, Any] = {
    "present": False,
    "valid": False,
    "id": "",
    "hop": "",
    "depth": 0,
    "person": "",
    "root_mandate": "",
    "mandate": "",
    "purpose": "",
    "attenuated": False,
    "agents": [],
    "path": [],
    "labels": [],
    "destinations": [],
}

Touches = Callable[
    [DecisionRequest, DecisionView, datetime], tuple[frozenset[str], tuple[str, ...]]
]


class ChainAnalyser:
    name = BLOCK

    def __init__(self, chains: ChainService, mandates: MandateService, touches: Touches) -> None:
        self._chains = chains
        self._mandates = mandates
        self._touches = touches  # the action's data labels and external destinations

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        if not is_agent(request.subject):
            return None
        token = request.context.get(BLOCK)
        mandate = self._mandate(request.context.get("mandate"), now)
        if token is None:
            return self._unchained(request.subject.id, mandate)
        try:
            chain = self._chains.verify(token, now)
        except InvalidChain as exc:
            return Feature(BLOCK, {**ABSENT, "present": True}, (_deny(exc.code, exc.message),))
        leaf = chain.leaf
        agent = request.subject.id
        if leaf.to_agent != agent:
            message = (
                f"the chain assertion delegates to `{leaf.to_agent}` ({describe_hop(leaf)}); "
                f"`{agent}` presented it"
            )
            return Feature(BLOCK, {**ABSENT, "present": True}, (_deny("chain.replayed", message),))
        if mandate is None or mandate.id != leaf.mandate_id:
            message = (
                f"the chain's hop {leaf.depth} carries mandate `{leaf.mandate_id}`; the action "
                f"came with {f'`{mandate.id}`' if mandate else 'no valid mandate'}"
            )
            return Feature(
                BLOCK, {**ABSENT, "present": True}, (_deny("chain.mandate_mismatch", message),)
            )
        hops = [self._chains.hop(h.id) or h for h in chain.hops]
        findings = self._judge(chain, hops, request, view, now)
        labels, destinations = self._touches(request, view, now)
        root = self._mandates.live(leaf.root_mandate_id)
        block = {
            "present": True,
            "valid": True,
            "id": leaf.chain_id,
            "hop": leaf.id,
            "depth": leaf.depth,
            "person": leaf.person,
            "root_mandate": leaf.root_mandate_id,
            "mandate": leaf.mandate_id,
            "purpose": (root.profile or "") if root else "",
            "attenuated": any(h.tools is not None or h.limits for h in hops),
            "agents": list(chain.agents),
            "path": [h.id for h in hops],
            "labels": sorted(labels),
            "destinations": list(destinations),
        }
        return Feature(BLOCK, block, tuple(findings))

    def _unchained(self, agent: str, mandate: Mandate | None) -> Feature:
        """No assertion: fine, unless the mandate belongs to a chain (a hop was skipped)."""
        if mandate is not None:
            hop_id = mandate.extra.get("hop")
            if hop_id:
                message = (
                    f"mandate `{mandate.id}` was delegated at hop `{hop_id}`; it is only "
                    "valid with its chain assertion"
                )
                return Feature(BLOCK, ABSENT, (_deny("chain.skipped", message),))
            holder = self._chains.holder(mandate.id)
            if holder is not None and holder != agent:
                message = (
                    f"mandate `{mandate.id}` was delegated through `{holder}`; `{agent}` "
                    "presented it without the chain it came through"
                )
                return Feature(BLOCK, ABSENT, (_deny("chain.skipped", message),))
        return Feature(BLOCK, ABSENT)

    def _judge(
        self,
        chain: VerifiedChain,
        hops: Sequence[Hop],
        request: DecisionRequest,
        view: DecisionView,
        now: datetime,
    ) -> list[Reason]:
        tool = request.resource.id if is_tool(request.resource) else request.resource.type
        arguments = request.context.get("arguments")
        arguments = arguments if isinstance(arguments, Mapping) else {}
        findings: list[Reason] = []
        for hop in hops[1:]:
            if hop.tools is not None and not _matches(tool, hop.tools):
                findings.append(
                    _deny(
                        "chain.tool_not_delegated",
                        f"`{tool}` is not among the tools {describe_hop(hop)} delegated "
                        f"({', '.join(f'`{t}`' for t in hop.tools) or 'none'})",
                    )
                )
                break
        findings.extend(_over_limits(tool, arguments, hops))
        laundering = self._laundering(tool, hops)
        if laundering is not None:
            findings.append(laundering)
        findings.extend(_widening(request, view, hops, now))
        return findings

    def _laundering(self, tool: str, hops: Sequence[Hop]) -> Reason | None:
        """The action is outside the person's purpose: name the purpose and the hop whose
        delegation carried the chain there."""
        root = self._mandates.live(hops[0].root_mandate_id)
        profile = self._mandates.profile_of(root) if root else None
        if root is None or profile is None or profile.in_scope(tool):
            return None
        diverged = _diverging_hop(tool, hops[1:], self._mandates)
        where = describe_hop(diverged) if diverged else f"hop 0 ({hops[0].to_agent})"
        return _deny(
            "chain.laundering",
            f"`{tool}` by `{hops[-1].to_agent}` is outside the person's purpose "
            f"`{profile.name}` (“{_short(root.request)}”, mandate `{root.id}`); the chain "
            f"diverged at {where}",
        )

    def _mandate(self, token: object, now: datetime) -> Mandate | None:
        if not isinstance(token, str):
            return None
        try:
            return self._mandates.verify(token, now)  # cached: the mandate analyser's too
        except InvalidMandate:
            return None  # the mandate analyser names why


def _diverging_hop(tool: str, hops: Sequence[Hop], mandates: MandateService) -> Hop | None:
    """The hop that delegated ``tool`` by name, else the one whose task reads most like it,
    else the last (the delegate acting)."""
    for hop in hops:
        if hop.tools is not None and _matches(tool, hop.tools):
            return hop
    matcher = mandates.matcher
    if matcher is not None:
        scored = [(matcher.relevance(h.task, tool), h) for h in hops if h.task]
        best = max(scored, key=lambda s: s[0], default=None)
        if best is not None and best[0] > 0:
            return best[1]
    return hops[-1] if hops else None


def _over_limits(tool: str, arguments: Mapping[str, Any], hops: Sequence[Hop]) -> list[Reason]:
    for hop in hops[1:]:
        for pattern, caps in hop.limits.items():
            if not fnmatchcase(tool, pattern):
                continue
            for argument, cap in caps.items():
                value = _number(arguments.get(argument))
                if value is not None and value > Decimal(str(cap)):
                    return [
                        _deny(
                            "chain.limit",
                            f"`{argument}` {_plain(value)} of `{tool}` exceeds the "
                            f"{_plain(Decimal(str(cap)))} that {describe_hop(hop)} allows",
                        )
                    ]
    return []


def _widening(
    request: DecisionRequest, view: DecisionView, hops: Sequence[Hop], now: datetime
) -> list[Reason]:
    """A delegate's entitlements only narrow its delegators': when its own grant permits the
    action, every agent that delegated to it must hold one for it too."""
    policies = view.policies
    if not isinstance(policies, EntitledPolicies):
        return []
    try:
        resource_type = cedar_entity_type(request.resource.type)
    except InvalidValue:
        return []
    action, resource = request.action.name, request.resource.id
    index = policies.index
    own = index.find(request.subject.id, action, resource_type, resource, now)
    if own is None:
        return []
    for hop in hops[1:]:
        if index.find(hop.from_party, action, resource_type, resource, now) is None:
            return [
                _deny(
                    "chain.widening",
                    f"`{request.subject.id}` holds entitlement `{own.id}` to `{action}` "
                    f"`{resource}`, but `{hop.from_party}`, which delegated at "
                    f"{describe_hop(hop)}, holds none: a delegate cannot do more than its "
                    "delegator",
                )
            ]
    return []


def _matches(tool: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(tool, p) for p in patterns)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).replace(",", "").strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _deny(code: str, message: str) -> Reason:
    return Reason(code, message, "analyser", Outcome.DENY)
