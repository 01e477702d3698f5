"""A prepared purpose profile and its judgement of one action.

A :class:`PurposeProfile` is built once (by :func:`warden.mandates.profiles.loader.parse`)
with every pattern and argument schema compiled; :meth:`PurposeProfile.judge` is then a pure
function of the action, its arguments' provenance and what the mandate has already spent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from warden.mandates.models import BudgetCharge, Provenance, Source, Violation

INTERNAL = "internal"
EXTERNAL = "external"
DENY = "deny"
STEP_UP = "step_up"
_CACHE_LIMIT = 4096  # tool names remembered per profile
_MISSING: Any = object()

_SOURCE_WORDS = {
    Source.REQUEST: "the person's request",
    Source.DESIGNATED: "data the person designated",
    Source.TOOL_OUTPUT: "another tool's output",
    Source.UNKNOWN: "nowhere Warden has seen (unknown)",
}


@dataclass(frozen=True, slots=True)
class ToolPatterns:
    """fnmatch patterns compiled into one regular expression."""

    patterns: tuple[str, ...]
    regex: re.Pattern[str]

    def matches(self, tool: str) -> bool:
        return self.regex.match(tool) is not None


@dataclass(frozen=True, slots=True)
class ArgumentRule:
    """Constraints on one argument (a dotted path such as ``lines.0.iban``)."""

    argument: str
    path: tuple[str, ...]
    schema: Validator | None = None
    maximum: float | None = None
    minimum: float | None = None
    allowed_domains: tuple[str, ...] = ()
    allowed_recipients: ToolPatterns | None = None
    sources: frozenset[Source] | None = None


@dataclass(frozen=True, slots=True)
class ToolRule:
    """A tool pattern in scope, with its overrides and argument constraints."""

    patterns: ToolPatterns
    read_only: bool | None = None
    sink: str | None = None
    arguments: tuple[ArgumentRule, ...] = ()

    @property
    def pattern(self) -> str:
        return self.patterns.patterns[0]


@dataclass(frozen=True, slots=True)
class Budget:
    """A cumulative limit over the whole mandate and its delegation chain."""

    name: str
    tools: ToolPatterns
    argument: str
    path: tuple[str, ...]
    limit: float
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class FlowRule:
    """Data carrying any of ``labels`` may only reach the sinks in ``may_reach``."""

    labels: frozenset[str]
    may_reach: frozenset[str]


@dataclass(frozen=True, slots=True)
class StepUpRule:
    """When a person must confirm: for ``tools`` (all when None), always or when the
    argument is over a threshold, an argument's source is not trusted, or content was
    injected."""

    tools: ToolPatterns | None = None
    argument: str | None = None
    path: tuple[str, ...] = ()
    over: float | None = None
    source_not_in: frozenset[Source] | None = None
    injected: bool = False


@dataclass(frozen=True, slots=True)
class Judgement:
    """A profile's verdict on one action. ``violations`` deny it; ``step_up`` ask a person;
    ``charges`` are what it spends of each budget if it goes ahead. ``read_only`` and
    ``sink`` are the tool's effective annotations (after the profile's overrides)."""

    violations: tuple[Violation, ...] = ()
    charges: tuple[BudgetCharge, ...] = ()
    step_up: tuple[Violation, ...] = ()
    read_only: bool = False
    sink: str = INTERNAL

    @property
    def allowed(self) -> bool:
        return not self.violations and not self.step_up


@dataclass(frozen=True)
class PurposeProfile:
    """An admin-authored purpose: what a mandate for it may do. ``version`` is assigned by
    the store (0 for a profile not stored yet); ``document`` is the validated YAML as data."""

    name: str
    version: int
    description: str
    examples: tuple[str, ...]
    tools: tuple[ToolRule, ...]
    budgets: tuple[Budget, ...] = ()
    flows: tuple[FlowRule, ...] = ()
    max_chain_depth: int | None = None
    max_fan_out: int | None = None  # delegations one hop may make (None: Warden's default)
    approvals_required: int = 1  # people who must approve a held (step-up) action
    separation_of_duties: bool = False  # an agent's sole owner may not approve its actions
    step_up_rules: tuple[StepUpRule, ...] = ()
    digest: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)
    _rules: dict[str, ToolRule | None] = field(
        default_factory=dict, compare=False, repr=False, init=False
    )

    @property
    def tool_patterns(self) -> tuple[str, ...]:
        """Every tool pattern in scope, in order (for intent matching)."""
        return tuple(rule.pattern for rule in self.tools)

    def in_scope(self, tool: str) -> bool:
        return self.rule_for(tool) is not None

    def rule_for(self, tool: str) -> ToolRule | None:
        """The first tool entry whose pattern matches ``tool``."""
        try:
            return self._rules[tool]
        except KeyError:
            pass
        found = next((r for r in self.tools if r.patterns.matches(tool)), None)
        if len(self._rules) >= _CACHE_LIMIT:
            self._rules.clear()
        self._rules[tool] = found
        return found

    def judge(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        provenance: Mapping[str, Provenance],
        spent: Mapping[str, float],
        chain_depth: int,
        read_only: bool,
        external: bool,
        labels_in: frozenset[str],
    ) -> Judgement:
        """Judge one action against this profile.

        ``provenance`` maps argument paths to where their values came from; ``spent`` is what
        the mandate (and its delegation chain) has spent of each budget so far;
        ``read_only``/``external`` are the tool's annotations (a profile entry may override
        them); ``labels_in`` are the data labels of what the action carries."""
        rule = self.rule_for(tool)
        if rule is not None:
            read_only = rule.read_only if rule.read_only is not None else read_only
            external = rule.sink == EXTERNAL if rule.sink is not None else external
        sink = EXTERNAL if external else INTERNAL
        violations = [*self._depth(chain_depth), *self._flows(tool, sink, labels_in, provenance)]
        if rule is None:
            violations.insert(0, self._out_of_scope(tool))
            return Judgement(tuple(violations), read_only=read_only, sink=sink)
        for argument in rule.arguments:
            violations.extend(self._argument(tool, argument, arguments, provenance))
        charges = self._charges(tool, arguments, spent, violations)
        step_up = tuple(self._step_up(tool, arguments, provenance))
        return Judgement(tuple(violations), charges, step_up, read_only, sink)

    # -- the rules -------------------------------------------------------------------------

    def _out_of_scope(self, tool: str) -> Violation:
        return Violation(
            "tool.out_of_scope",
            f"purpose profile `{self.name}` does not cover the tool `{tool}`: "
            "it is outside the purpose the person asked for",
        )

    def _depth(self, chain_depth: int) -> Iterator[Violation]:
        if self.max_chain_depth is not None and chain_depth > self.max_chain_depth:
            yield Violation(
                "chain.too_deep",
                f"purpose profile `{self.name}` allows at most {self.max_chain_depth} "
                f"delegation hops; this action is {chain_depth} hops from the person",
            )

    def _flows(
        self, tool: str, sink: str, labels_in: frozenset[str], provenance: Mapping[str, Provenance]
    ) -> Iterator[Violation]:
        if not self.flows:
            return
        labels = labels_in.union(*(p.labels for p in provenance.values()))
        for flow in self.flows:
            carried = labels & flow.labels
            if carried and sink not in flow.may_reach:
                names = ", ".join(f"`{label}`" for label in sorted(carried))
                allowed = " or ".join(sorted(flow.may_reach))
                reach = f"reach only {allowed} sinks" if allowed else "reach no tool at all"
                yield Violation(
                    "flow.forbidden",
                    f"purpose profile `{self.name}` lets data labelled {names} {reach}; "
                    f"`{tool}` is an {sink} sink",
                )

    def _argument(
        self,
        tool: str,
        rule: ArgumentRule,
        arguments: Mapping[str, Any],
        provenance: Mapping[str, Provenance],
    ) -> Iterator[Violation]:
        where = f"purpose profile `{self.name}`"
        what = f"`{rule.argument}` of `{tool}`"
        value = lookup(arguments, rule.path)
        if value is _MISSING:
            return  # nothing passed, nothing to trust (a schema's `required` says if it must be)
        if rule.sources is not None:
            yield from self._sources(where, what, rule, provenance)
        if rule.schema is not None and not rule.schema.is_valid(value):
            yield Violation(
                "argument.schema", f"{where} requires {what} {_schema_failure(rule, value)}"
            )
        if rule.maximum is not None or rule.minimum is not None:
            yield from self._limits(where, what, rule, value)
        if rule.allowed_domains:
            yield from self._domains(where, what, rule.allowed_domains, value)
        if rule.allowed_recipients is not None:
            yield from self._recipients(where, what, rule.allowed_recipients, value)

    def _sources(
        self, where: str, what: str, rule: ArgumentRule, provenance: Mapping[str, Provenance]
    ) -> Iterator[Violation]:
        assert rule.sources is not None
        traced = _traced(provenance, rule.argument)
        if not traced:
            traced = [Provenance(rule.argument, Source.UNKNOWN)]
        bad = next((p for p in traced if p.source not in rule.sources), None)
        if bad is None:
            return
        allowed = " or ".join(_SOURCE_WORDS[s] for s in Source if s in rule.sources)
        came = _SOURCE_WORDS[bad.source]
        if bad.source is Source.TOOL_OUTPUT and bad.tool:
            came = f"the output of `{bad.tool}` (untrusted)"
        yield Violation(
            "argument.provenance",
            f"{where} requires {what} to come from {allowed}; it came from {came}",
        )

    def _limits(self, where: str, what: str, rule: ArgumentRule, value: Any) -> Iterator[Violation]:
        number = as_number(value)
        if number is None:
            yield Violation("argument.limit", f"{where} requires {what} to be a number")
        elif rule.maximum is not None and number > rule.maximum:
            yield Violation(
                "argument.limit",
                f"{where} limits {what} to at most {_num(rule.maximum)} (got {_num(number)})",
            )
        elif rule.minimum is not None and number < rule.minimum:
            yield Violation(
                "argument.limit",
                f"{where} requires {what} to be at least {_num(rule.minimum)} (got {_num(number)})",
            )

    def _domains(
        self, where: str, what: str, allowed: tuple[str, ...], value: Any
    ) -> Iterator[Violation]:
        for item in _strings(value):
            host = domain_of(item)
            if not any(host == d or host.endswith("." + d) for d in allowed):
                names = ", ".join(f"`{d}`" for d in allowed)
                yield Violation(
                    "argument.domain",
                    f"{where} allows {what} only within {names}; `{host or item}` is not",
                )
                return

    def _recipients(
        self, where: str, what: str, allowed: ToolPatterns, value: Any
    ) -> Iterator[Violation]:
        for item in _strings(value):
            if not allowed.matches(item.strip().lower()):
                yield Violation(
                    "argument.recipient",
                    f"{where} allows {what} only for its listed recipients; `{item}` is not one",
                )
                return

    def _charges(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        spent: Mapping[str, float],
        violations: list[Violation],
    ) -> tuple[BudgetCharge, ...]:
        charges = []
        for budget in self.budgets:
            if not budget.tools.matches(tool):
                continue
            value = lookup(arguments, budget.path)
            if value is _MISSING:
                continue
            amount = as_number(value)
            if amount is None or amount < 0:
                violations.append(
                    Violation(
                        "budget.amount",
                        f"purpose profile `{self.name}` budget `{budget.name}` counts "
                        f"`{budget.argument}` of `{tool}`, which must be a non-negative number",
                    )
                )
                continue
            charges.append(BudgetCharge(budget.name, amount, budget.limit))
            already = spent.get(budget.name, 0.0)
            if already + amount > budget.limit:
                violations.append(self._exceeded(budget, already, amount))
        return tuple(charges)

    def _exceeded(self, budget: Budget, already: float, amount: float) -> Violation:
        unit = f" {budget.currency}" if budget.currency else ""
        left = max(budget.limit - already, 0.0)
        return Violation(
            "budget.exceeded",
            f"purpose profile `{self.name}` budget `{budget.name}` allows "
            f"{_num(budget.limit)}{unit} in total for the whole mandate; {_num(already)}{unit} "
            f"is already spent, {_num(left)}{unit} is left and this action would spend "
            f"{_num(amount)}{unit}",
        )

    def _constrained(self, tool: str) -> tuple[ArgumentRule, ...]:
        rule = self.rule_for(tool)
        return rule.arguments if rule is not None else ()

    def _step_up(
        self, tool: str, arguments: Mapping[str, Any], provenance: Mapping[str, Provenance]
    ) -> Iterator[Violation]:
        where = f"purpose profile `{self.name}`"
        for rule in self.step_up_rules:
            if rule.tools is not None and not rule.tools.matches(tool):
                continue
            if rule.over is not None:
                number = as_number(lookup(arguments, rule.path))
                if number is not None and number > rule.over:
                    yield Violation(
                        "step_up.amount",
                        f"{where} asks a person to confirm `{tool}` when `{rule.argument}` "
                        f"is over {_num(rule.over)} (it is {_num(number)})",
                        STEP_UP,
                    )
            elif rule.source_not_in is not None:
                # The arguments that carry the action's consequence: the one the rule names,
                # else those the profile constrains for this tool — not free text the agent
                # writes (a subject line) or ids it was handed by the tool it just called.
                watched = (
                    {rule.argument}
                    if rule.argument is not None
                    else {a.argument for a in self._constrained(tool)}
                )
                bad = next(
                    (
                        p
                        for p in provenance.values()
                        if p.source not in rule.source_not_in
                        and p.argument.split(".")[0] in watched
                    ),
                    None,
                )
                if bad is not None:
                    yield Violation(
                        "step_up.source",
                        f"{where} asks a person to confirm `{tool}` when an argument comes "
                        f"from {_SOURCE_WORDS[bad.source]} (`{bad.argument}`)",
                        STEP_UP,
                    )
            elif rule.injected:
                bad = next((p for p in provenance.values() if p.injected), None)
                if bad is not None:
                    yield Violation(
                        "step_up.injected",
                        f"{where} asks a person to confirm `{tool}` when an argument "
                        f"(`{bad.argument}`) comes from content carrying injected instructions",
                        STEP_UP,
                    )
            else:
                yield Violation(
                    "step_up.tool", f"{where} asks a person to confirm every `{tool}`", STEP_UP
                )


# -- values ------------------------------------------------------------------------------------


def lookup(arguments: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a dotted path (``lines.0.iban``), or ``_MISSING``."""
    value: Any = arguments
    for part in path:
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def as_number(value: Any) -> float | None:
    """An int, float or numeric string as a finite float; None otherwise (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def domain_of(value: str) -> str:
    """The domain of an email address, a URL, or a bare host name; lower-case."""
    text = value.strip().lower()
    if "://" in text:
        host = urlsplit(text).hostname or ""
    elif "@" in text:
        host = text.rsplit("@", 1)[1]
    else:
        host = text.split("/", 1)[0].split(":", 1)[0]
    return host.rstrip(".")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _traced(provenance: Mapping[str, Provenance], argument: str) -> list[Provenance]:
    prefix = argument + "."
    return [p for key, p in provenance.items() if key == argument or key.startswith(prefix)]


def _schema_failure(rule: ArgumentRule, value: Any) -> str:
    """Which schema keyword failed, with the profile's own setting (never the value: it may
    be a secret)."""
    assert rule.schema is not None
    error = best_match(rule.schema.iter_errors(value))
    if error is None:
        return "to match its schema"
    setting = error.validator_value
    shown = (
        f" {setting}" if isinstance(setting, int | float | str) and len(str(setting)) < 60 else ""
    )
    inner = ".".join(str(p) for p in error.absolute_path)
    at = f" at `{inner}`" if inner else ""
    return f"to match its schema (`{error.validator}`{shown}{at})"


def _num(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
