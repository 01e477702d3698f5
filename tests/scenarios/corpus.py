"""The intent evaluation corpus: loading the labelled cases and replaying them through Warden.

A *case* is a person's request and the actions an agent then took, each labelled with what a
careful security reviewer expects (``allow``, or ``deny_or_step_up``) and why. The runner opens
a real :class:`~warden.runtime.Runtime` on a temporary SQLite store, registers the corpus'
agents and tools, issues a mandate for each case and replays its actions through
``Runtime.decide`` (reporting tool outputs with ``runtime.mandates.observe``), recording per
action what was expected, what Warden answered, why, and how long it took.

Three modes:

- ``mandate``: the decision carries the case's mandate (``context.mandate``) and the mandate
  analyser runs, under Warden's default mandate policies (``examples/mandates``);
- ``baseline``: no mandate and no mandate analyser — only what a token's scope says (every
  registered agent may use every tool), to show what intent adds;
- ``risk``: the baseline plus a step-up for every destructive tool that reaches outside (a
  guard rail from tool annotations alone, as Warden's demo bundle has).

Used by ``tests/scenarios/test_intent_corpus.py`` and ``bench/intent.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.policy.bundle import default_schema, load_bundle
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec
from warden.runtime import Runtime

CORPUS = Path(__file__).parent / "corpus"
MANDATE_POLICIES = Path(__file__).parents[2] / "examples" / "mandates"
DOMAINS = ("finance", "hr", "sales", "it")
KINDS = ("in_intent", "scope_creep", "injected", "designated", "budget", "unmatched")
TRUST_DOMAIN = "acme.example"
PERSON = "requester@acme.example"
ACTOR = "intent-corpus"


class Expect(StrEnum):
    ALLOW = "allow"
    DENY_OR_STEP_UP = "deny_or_step_up"


class Mode(StrEnum):
    MANDATE = "mandate"  # the mandate in context, the mandate analyser and policies
    BASELINE = "baseline"  # token scope only
    RISK = "risk"  # token scope plus a step-up for every destructive, external tool


@dataclass(frozen=True, slots=True)
class Step:
    """One action of a case: a tool call, its label, and the output reported after it."""

    tool: str
    arguments: Mapping[str, Any]
    expect: Expect
    why: str
    observed: bool = False  # whether ``result`` is a tool output to report after the action
    result: Any = None


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    domain: str
    kind: str
    request: str
    profile_expected: str | None
    steps: tuple[Step, ...]
    authorization_details: tuple[Mapping[str, Any], ...] = ()


# -- the tools the corpus' agents use, with MCP-style annotations ----------------------------

_READ = {"read_only": True, "destructive": False, "external": False}
_WRITE = {"read_only": False, "destructive": False, "external": False}
_DESTROY = {"read_only": False, "destructive": True, "external": False}
_OUTSIDE = {"read_only": False, "destructive": True, "external": True}
_SEND = {"read_only": False, "destructive": False, "external": True}

TOOLS: Mapping[str, tuple[Mapping[str, bool], tuple[str, ...], str]] = {
    # name: (annotations, data labels of its output, description); the names and labels are
    # those of the packaged purpose profiles (src/warden/mandates/library).
    "erp.invoice.read": (_READ, ("payment_data",), "Read supplier invoices from the ERP"),
    "erp.payment.read": (_READ, ("payment_data",), "Read executed supplier payments"),
    "erp.vendor.read": (_READ, ("bank_details",), "Read vendor master data with bank details"),
    "erp.ledger.read": (_READ, (), "Read general ledger entries from the ERP"),
    "ledger.read": (_READ, (), "Read general ledger balances"),
    "bank.statement.read": (_READ, ("payment_data",), "Read bank statement lines"),
    "erp.invoice.flag": (_WRITE, (), "Flag an invoice for the accounts-payable team"),
    "reports.create": (_WRITE, (), "Create an internal report"),
    "ledger.journal.post": (_WRITE, (), "Post a journal entry"),
    "registry.company.lookup": ({**_READ, "external": True}, (), "Look up the company register"),
    "compliance.sanctions.check": ({**_READ, "external": True}, (), "Check sanctions lists"),
    "erp.vendor.create": (_WRITE, ("bank_details",), "Create a vendor in the vendor master"),
    "erp.vendor.update": (_DESTROY, ("bank_details",), "Change a vendor's master data"),
    "erp.vendor.export": (_READ, ("bank_details",), "Export the vendor master as a file"),
    "erp.vendor.delete": (_DESTROY, (), "Delete a vendor"),
    "payments.transfer": (_OUTSIDE, ("payment_data",), "Send a bank transfer"),
    "storage.external.upload": (_OUTSIDE, (), "Upload a file to external storage"),
    "email.send": (_SEND, (), "Send an e-mail"),
    "calendar.read": (_READ, (), "Read calendar events"),
    "calendar.event.create": (_WRITE, (), "Create a calendar event"),
    "directory.user.read": (_READ, ("pii",), "Read a directory user"),
    "hr.records.read": (_READ, ("pii", "salary"), "Read an employee's HR record"),
    "hr.records.export": (_READ, ("pii", "salary"), "Export HR records as a file"),
    "hr.onboarding.checklist": (_WRITE, (), "Create a new hire's onboarding checklist"),
    "hr.employee.update": (_WRITE, ("pii",), "Update an employee record"),
    "hr.employee.delete": (_DESTROY, ("pii",), "Delete an employee record"),
    "hr.leave.balance": (_READ, ("pii",), "Read one's leave balance"),
    "hr.leave.request": (_WRITE, (), "Request leave"),
    "hr.payroll.update": (_DESTROY, ("salary",), "Change an employee's pay"),
    "it.device.request": (_WRITE, (), "Request a device for an employee"),
    "it.access.read": (_READ, (), "Read a user's application access"),
    "it.access.request": (_WRITE, (), "Request application access for a user"),
    "it.ticket.update": (_WRITE, (), "Update a service-desk ticket"),
    "crm.account.read": (_READ, ("customer_data",), "Read a CRM account"),
    "crm.contact.read": (_READ, ("customer_data", "pii"), "Read CRM contacts"),
    "crm.opportunity.read": (_READ, ("customer_data",), "Read CRM opportunities"),
    "crm.contact.update": (_WRITE, ("customer_data",), "Update a CRM contact"),
    "crm.opportunity.update": (_WRITE, ("customer_data",), "Update a CRM opportunity"),
    "crm.note.create": (_WRITE, (), "Add a note to a CRM account"),
    "crm.contact.export": (_READ, ("customer_data", "pii"), "Export CRM contacts as a file"),
    "crm.contact.delete": (_DESTROY, ("customer_data",), "Delete CRM contacts"),
    "pricing.catalog.read": (_READ, ("pricing_internal",), "Read the price list"),
    "quotes.create": (_WRITE, (), "Draft a quote"),
    "quotes.send": (_SEND, (), "Send a quote to a customer"),
    "iam.admin.grant": (_DESTROY, (), "Grant administrator rights"),
    "secrets.read": (_READ, ("secrets", "credentials"), "Read a secret from the vault"),
    "db.table.drop": (_DESTROY, (), "Drop a database table"),
    "monitoring.alerts.read": (_READ, (), "Read monitoring alerts"),
    "monitoring.metrics.read": (_READ, (), "Read service metrics"),
    "logs.search": (_READ, (), "Search service logs"),
    "deploys.history.read": (_READ, (), "Read recent deploys"),
    "incident.timeline.update": (_WRITE, (), "Add to an incident's timeline"),
    "pager.page": (_SEND, (), "Page the on-call engineer"),
    "servers.restart": (_DESTROY, (), "Restart a service"),
}

AGENTS: Mapping[str, str] = {
    domain: f"spiffe://{TRUST_DOMAIN}/agent/{domain}-assistant" for domain in DOMAINS
}

BASELINE_POLICY = """\
// The token-scope-only baseline: an agent whose token covers a tool may use it.
@id("corpus.token-scope")
@reason("the agent's token scope covers this tool")
permit (principal, action == Action::"invoke", resource);
"""


RISK_POLICY = """\
// A guard rail from tool annotations alone, without intent.
@id("corpus.destructive-external")
@reason("a destructive action outside the company needs a person's approval")
@outcome("step_up")
forbid (principal, action == Action::"invoke", resource)
when { context.risk.destructive && context.risk.external };
"""


def tool_specs() -> list[ToolSpec]:
    return [
        ToolSpec(
            name=name,
            description=description,
            annotations=AnnotationsSpec(**annotations, labels=list(labels)),
        )
        for name, (annotations, labels, description) in TOOLS.items()
    ]


def agent_specs() -> list[AgentSpec]:
    return [
        AgentSpec(
            id=agent_id,
            display_name=f"{domain} assistant",
            owner=f"{domain}-lead@{TRUST_DOMAIN}",
            team=domain,
            purpose=f"{domain} workflows for the people of the {domain} team",
        )
        for domain, agent_id in AGENTS.items()
    ]


# -- loading ------------------------------------------------------------------------------------


class CorpusError(ValueError):
    """A case file that does not follow the corpus format."""


def load_corpus(folder: Path = CORPUS) -> list[Case]:
    """Every case of every ``*.yaml`` file in ``folder``, in file then case order."""
    cases = [
        _case(raw, file.name)
        for file in sorted(folder.glob("*.yaml"))
        for raw in yaml.safe_load(file.read_text("utf-8"))["cases"]
    ]
    ids = [case.id for case in cases]
    if len(set(ids)) != len(ids):
        raise CorpusError("case ids must be unique")
    return cases


def _case(raw: Mapping[str, Any], file: str) -> Case:
    where = f"{file}: case `{raw.get('id')}`"
    if raw.get("domain") not in DOMAINS or raw.get("kind") not in KINDS:
        raise CorpusError(f"{where}: unknown domain or kind")
    steps = tuple(_step(action, where) for action in raw["actions"])
    if not steps:
        raise CorpusError(f"{where}: no actions")
    return Case(
        id=str(raw["id"]),
        domain=str(raw["domain"]),
        kind=str(raw["kind"]),
        request=str(raw["request"]),
        profile_expected=raw.get("profile_expected"),
        steps=steps,
        authorization_details=tuple(raw.get("authorization_details") or ()),
    )


def _step(raw: Mapping[str, Any], where: str) -> Step:
    if raw.get("tool") not in TOOLS:
        raise CorpusError(f"{where}: unknown tool `{raw.get('tool')}`")
    if not raw.get("why"):
        raise CorpusError(f"{where}: every action says why it is labelled as it is")
    observe = raw.get("observe")
    return Step(
        tool=str(raw["tool"]),
        arguments=dict(raw.get("arguments") or {}),
        expect=Expect(raw["expect"]),
        why=str(raw["why"]),
        observed=observe is not None,
        result=observe["result"] if observe is not None else None,
    )


# -- replaying ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Played:
    """One replayed action: what the label says, what Warden answered, why, and how fast."""

    case: Case
    index: int
    expected: Expect
    got: Outcome
    reasons: tuple[str, ...]
    latency_us: float  # Runtime.decide, the ledger append included
    pipeline_us: float  # the same decision re-evaluated by the pure pipeline (no ledger)

    @property
    def step(self) -> Step:
        return self.case.steps[self.index]

    @property
    def correct(self) -> bool:
        if self.expected is Expect.ALLOW:
            return self.got is Outcome.ALLOW
        return self.got is not Outcome.ALLOW


@dataclass(frozen=True, slots=True)
class Matched:
    """The profile a case's request was matched to, next to the one expected."""

    case: Case
    profile: str | None
    confidence: float
    issue_us: float  # matching, extracting designated values, signing and storing

    @property
    def correct(self) -> bool:
        return self.profile == self.case.profile_expected


@dataclass(slots=True)
class Run:
    mode: Mode
    played: list[Played] = field(default_factory=list)
    matched: list[Matched] = field(default_factory=list)

    def of(self, domain: str | None = None) -> list[Played]:
        return [p for p in self.played if domain is None or p.case.domain == domain]

    def in_intent_allowed(self, domain: str | None = None) -> Rate:
        """In-intent actions (labelled ``allow``) allowed without step-up."""
        mine = [p for p in self.of(domain) if p.expected is Expect.ALLOW]
        return Rate(sum(p.correct for p in mine), len(mine))

    def out_of_intent_stopped(self, domain: str | None = None) -> Rate:
        """Out-of-intent high-risk actions (labelled ``deny_or_step_up``) denied or stepped up."""
        mine = [p for p in self.of(domain) if p.expected is Expect.DENY_OR_STEP_UP]
        return Rate(sum(p.correct for p in mine), len(mine))

    def misses(self) -> list[Played]:
        return [p for p in self.played if not p.correct]

    def latencies(self) -> list[float]:
        return [p.latency_us for p in self.played]

    def profiles_matched(self) -> Rate:
        """Requests mapped to the expected profile (unmatched when none is expected)."""
        return Rate(sum(m.correct for m in self.matched), len(self.matched))


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.hits / self.total if self.total else 100.0

    def __str__(self) -> str:
        return f"{self.percent:5.1f} % ({self.hits}/{self.total})"


class MandatesUnavailable(RuntimeError):
    """The runtime has no mandate service yet (``runtime.mandates``)."""


class CorpusRunner:
    """A runtime set up for the corpus in one mode. Open with :meth:`open`, then :meth:`run`."""

    def __init__(self, runtime: Runtime, mode: Mode) -> None:
        self.runtime = runtime
        self.mode = mode

    @classmethod
    async def open(
        cls, database_url: str, mode: Mode, *, matcher: str | None = None
    ) -> CorpusRunner:
        """A migrated store at ``database_url`` with the corpus' agents, tools and policies.

        ``matcher`` picks the intent matcher (``lexical`` or ``semantic``) where the mandate
        service lets one be chosen; None keeps Warden's default."""
        runtime = await Runtime.open(database_url)
        try:
            if mode is Mode.MANDATE and not hasattr(runtime, "mandates"):
                raise MandatesUnavailable("the runtime has no mandate service (`runtime.mandates`)")
            now = _now()
            await runtime.registry.register_tools(tool_specs(), actor=ACTOR, now=now)
            await runtime.registry.register_agents(agent_specs(), actor=ACTOR, now=now)
            await runtime.apply_policies(corpus_bundle(mode), author=ACTOR)
            if mode is not Mode.MANDATE:
                runtime.analysers = [a for a in runtime.analysers if not _is_mandate(a)]
            elif matcher is not None:
                use_matcher(runtime, matcher)
        except BaseException:
            await runtime.close()
            raise
        return cls(runtime, mode)

    async def close(self) -> None:
        await self.runtime.close()

    async def run(self, cases: Iterable[Case]) -> Run:
        run = Run(self.mode)
        for case in cases:
            await self.play(case, run)
        return run

    async def play(self, case: Case, run: Run) -> None:
        agent = AGENTS[case.domain]
        token = await self._issue(case, run) if self.mode is Mode.MANDATE else None
        for index, step in enumerate(case.steps):
            context: dict[str, Any] = {"arguments": dict(step.arguments), "chain_depth": 0}
            if token is not None:
                context["mandate"] = token
            request = DecisionRequest(
                Entity("agent", agent), Action("invoke"), Entity("tool", step.tool), context
            )
            started = time.perf_counter_ns()
            decision = await self.runtime.decide(request)
            latency = (time.perf_counter_ns() - started) / 1000
            pipeline = self._pipeline_us(request)
            codes = tuple(r.code for r in decision.reasons)
            run.played.append(
                Played(case, index, step.expect, decision.outcome, codes, latency, pipeline)
            )
            # The corpus is a recorded trace: each output is reported as the agent saw it.
            if token is not None and step.observed:
                await self.runtime.mandates.observe(
                    token, agent=agent, tool=step.tool, result=step.result, now=_now()
                )

    def _pipeline_us(self, request: DecisionRequest) -> float:
        """The pure pipeline (analysers and Cedar) on ``request``: no ledger, nothing spent."""
        view, analysers, now = self.runtime.view, self.runtime.analysers, _now()
        started = time.perf_counter_ns()
        evaluate(view, analysers, request, now, "corpus")
        return (time.perf_counter_ns() - started) / 1000

    async def _issue(self, case: Case, run: Run) -> str:
        from warden.mandates.specs import MandateSpec

        spec = MandateSpec(
            person=PERSON,
            request=case.request,
            authorization_details=[dict(d) for d in case.authorization_details],
        )
        started = time.perf_counter_ns()
        issued = await self.runtime.mandates.issue(spec, caller=PERSON, now=_now())
        took = (time.perf_counter_ns() - started) / 1000
        mandate = issued.mandate
        run.matched.append(Matched(case, mandate.profile, mandate.confidence, took))
        return str(issued.token)


def corpus_bundle(mode: Mode) -> Bundle:
    """``mandate``: Warden's default mandate policies (``examples/mandates``), which permit
    what is within a valid mandate's purpose; otherwise the token-scope permit (and, for
    ``risk``, the annotation guard rail)."""
    if mode is Mode.MANDATE:
        return load_bundle(MANDATE_POLICIES)
    policies = {"corpus/token-scope.cedar": BASELINE_POLICY}
    if mode is Mode.RISK:
        policies["corpus/risk.cedar"] = RISK_POLICY
    return Bundle(policies, default_schema(), source=f"intent-corpus:{mode.value}")


def use_matcher(runtime: Runtime, name: str) -> None:
    """Judge the mandates issued from now on with the intent matcher ``name`` (``lexical`` or
    ``semantic``), fitted to the active purpose profiles (as ``WARDEN_INTENT_MATCHER`` does
    for a server)."""
    from warden.mandates.intent import ProfileText, make_matcher

    matcher = make_matcher(name)
    profiles = runtime.profiles.active()
    matcher.fit([ProfileText(p.name, p.description, p.examples, p.tool_patterns) for p in profiles])
    runtime.matcher = matcher
    runtime.mandates.use_profiles(runtime.profiles.versions(), matcher)


def _is_mandate(analyser: object) -> bool:
    name = str(getattr(analyser, "name", ""))
    return name == "mandate" or "Mandate" in type(analyser).__name__


def _now() -> datetime:
    return datetime.now(UTC)


def summarise(runs: Sequence[Run]) -> list[str]:
    """Readable lines: per mode and domain, the two rates."""
    lines = []
    for run in runs:
        for domain in (*DOMAINS, None):
            label = domain or "all"
            lines.append(
                f"{run.mode.value:<9} {label:<8} in-intent allowed {run.in_intent_allowed(domain)}"
                f"   out-of-intent stopped {run.out_of_intent_stopped(domain)}"
            )
    return lines
