"""The mandate analyser: judges each action against the person's intent (``context.mandate``).

It reads the token from the request's ``context.mandate`` (a client cannot write the
``mandate`` block itself: the pipeline reserves the name), verifies it in memory, and asks:
is this tool within the mandate's purpose profile; how related is it to what the person
asked; where did each argument's value come from; does it break a profile rule or exceed a
cumulative budget; did an argument come from content that carried injected instructions?

Findings, each naming the mandate and the rule:

- an expired, forged, foreign, revoked or unknown mandate → deny (``mandate.<why>``);
- a tool outside the profile → deny (``mandate.out_of_scope``);
- an unmatched mandate (no profile reached the threshold) → step-up for anything that is not
  read-only (``mandate.unmatched``);
- a profile rule broken → the rule's outcome (``budget.exceeded``, ``argument.*``, ``flow.*``...);
- an argument from injected content in an action that is not read-only → deny
  (``mandate.injected``).

A request without a mandate gets ``present: false`` and no finding: the policy decides (the
shipped mandate policies deny it, ``mandate.missing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from warden.decisions.analysers import Feature, is_agent, is_tool
from warden.decisions.models import DecisionRequest, Outcome, Reason
from warden.mandates.errors import InvalidMandate
from warden.mandates.models import Mandate, Source
from warden.registry.models import ToolAnnotations

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView
    from warden.mandates.service import MandateService

BLOCK = "mandate"
HEADER = "txn-token"  # enforcement points' header; the AuthZEN API maps it to context.mandate

ABSENT: dict[str, Any] = {
    "present": False,
    "valid": False,
    "id": "",
    "matched": False,
    "profile": "",
    "confidence": 0,
    "in_scope": False,
    "relevance": 0,
    "sources": [],
    "untrusted_arguments": [],
    "provenance": {},
    "labels_in": [],
    "injected": False,
    "violations": [],
    "step_up": [],
    "budget_left": {},
    "charges": [],
}


class MandateAnalyser:
    name = BLOCK

    def __init__(self, service: MandateService) -> None:
        self._service = service

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        if not is_agent(request.subject):
            return None
        token = request.context.get(BLOCK)
        if token is None:
            return Feature(BLOCK, ABSENT)
        try:
            mandate = self._service.verify(token, now)
        except InvalidMandate as exc:
            block = {**ABSENT, "present": True}
            return Feature(BLOCK, block, (Reason(exc.code, exc.message, "analyser", Outcome.DENY),))
        bound = mandate.extra.get("agent")
        if bound and bound != request.subject.id:
            message = (
                f"mandate `{mandate.id}` was given to `{bound}`; `{request.subject.id}` may not "
                "act on it"
            )
            block = {**ABSENT, "present": True}
            return Feature(BLOCK, block, (_deny("mandate.wrong_agent", message),))
        return self._judge(mandate, request, view)

    def _judge(self, mandate: Mandate, request: DecisionRequest, view: DecisionView) -> Feature:
        service = self._service
        tool = request.resource.id if is_tool(request.resource) else request.resource.type
        registered = view.registry.tools.get(tool)
        hints = registered.annotations if registered else ToolAnnotations()
        description = registered.description if registered else ""
        arguments = request.context.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            arguments = {"value": arguments}
        chain_depth = _int(request.context.get("chain_depth"))
        provenance, labels_in = (
            service.provenance.assess(mandate, arguments)
            if service.provenance
            else ({}, frozenset())
        )
        matcher = service.matcher
        relevance = matcher.relevance(mandate.request, tool, description) if matcher else 0.0
        purpose = _purpose(mandate)
        findings: list[Reason] = []
        violations: list[str] = []
        step_up: list[str] = []
        charges: list[dict[str, Any]] = []
        budget_left: dict[str, str] = {}
        profile = service.profile_of(mandate)
        in_scope = False
        if mandate.profile is None:
            if not hints.read_only:
                step_up.append("mandate.unmatched")
                findings.append(
                    Reason(
                        "mandate.unmatched",
                        f"mandate `{mandate.id}` ({purpose}) matched no purpose profile "
                        f"(confidence {mandate.confidence:.2f}); `{tool}` is not read-only, so "
                        "a person must approve it",
                        "analyser",
                        Outcome.STEP_UP,
                    )
                )
        elif profile is None:
            violations.append("mandate.profile_missing")
            findings.append(
                _deny(
                    "mandate.profile_missing",
                    f"mandate `{mandate.id}` names purpose profile `{mandate.profile}`, which "
                    "Warden no longer has",
                )
            )
        else:
            in_scope = profile.in_scope(tool)
            if not in_scope:
                violations.append("mandate.out_of_scope")
                findings.append(
                    _deny(
                        "mandate.out_of_scope",
                        f"`{tool}` is outside the purpose `{profile.name}` of mandate "
                        f"`{mandate.id}` ({purpose})",
                    )
                )
            else:
                spent = service.spent(mandate.id)
                judged = profile.judge(
                    tool,
                    arguments,
                    provenance=provenance,
                    spent=spent,
                    chain_depth=chain_depth,
                    read_only=hints.read_only,
                    external=hints.external,
                    labels_in=labels_in,
                )
                for v in judged.violations:
                    violations.append(v.rule)
                    outcome = Outcome.STEP_UP if v.outcome == "step_up" else Outcome.DENY
                    findings.append(Reason(v.rule, _named(v.message, mandate), "analyser", outcome))
                for v in judged.step_up:
                    step_up.append(v.rule)
                    findings.append(
                        Reason(v.rule, _named(v.message, mandate), "analyser", Outcome.STEP_UP)
                    )
                for c in judged.charges:
                    charges.append(
                        {"budget": c.budget, "amount": str(c.amount), "limit": str(c.limit)}
                    )
                    left = c.limit - spent.get(c.budget, 0.0)
                    budget_left[c.budget] = _num(left)
        injected = [a for a, p in provenance.items() if p.injected]
        if injected and not hints.read_only:
            violations.append("mandate.injected")
            names = ", ".join(f"`{a}`" for a in injected)
            findings.append(
                _deny(
                    "mandate.injected",
                    f"{names} of `{tool}` came from content that carried instructions aimed at "
                    f"the agent, not from the person behind mandate `{mandate.id}` ({purpose})",
                )
            )
        untrusted = [
            a for a, p in provenance.items() if p.source in (Source.TOOL_OUTPUT, Source.UNKNOWN)
        ]
        block = {
            "present": True,
            "valid": True,
            "id": mandate.id,
            "matched": mandate.profile is not None,
            "profile": mandate.profile or "",
            "confidence": round(mandate.confidence * 100),
            "in_scope": in_scope,
            "relevance": round(relevance * 100),
            "sources": sorted({p.source.value for p in provenance.values()}),
            "untrusted_arguments": sorted(untrusted),
            "provenance": {a: p.source.value for a, p in provenance.items()},
            "labels_in": sorted(labels_in),
            "injected": bool(injected),
            "violations": violations,
            "step_up": step_up,
            "budget_left": budget_left,
            "charges": charges,
        }
        return Feature(BLOCK, block, tuple(findings))


def _purpose(mandate: Mandate) -> str:
    text = " ".join(mandate.request.split())
    quoted = text if len(text) <= 80 else text[:79] + "…"
    return f"“{quoted}”"


def _named(message: str, mandate: Mandate) -> str:
    return message if mandate.id in message else f"{message} (mandate `{mandate.id}`)"


def _deny(code: str, message: str) -> Reason:
    return Reason(code, message, "analyser", Outcome.DENY)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
