"""A baseline: how one agent (or every agent under one purpose profile) normally behaves.

Learned online from allowed actions only, one :meth:`Baseline.learn` per action, each update
O(1) in the history (O(#numeric arguments + #destinations) of the action, both bounded by
:mod:`warden.sessions.facts`). Memory is bounded by the caps below, whatever the history:

==========================  =======  ===========================================================
structure                   cap      when full
==========================  =======  ===========================================================
tools                       256      a new tool is not counted (it keeps looking novel)
transitions (prev → tool)   4,096    a new pair is not counted (its tools' counts still are)
argument profiles           512      a new (tool, argument) is not profiled
destinations (domains)      2,000    least recently contacted forgotten first
recipients (digests)        2,000    least recently contacted forgotten first
hour-of-week histogram      168      fixed
chain depth histogram       17       depths past 16 share the last bin (the max is exact)
rate histogram (per min.)   65       rates past 64 share the last bin
==========================  =======  ===========================================================

Recipients are kept as truncated BLAKE2b digests, never as addresses; destinations are domains.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warden.sessions.facts import ActionFacts

MAX_TOOLS = 256
MAX_TRANSITIONS = 4_096
MAX_ARGUMENTS = 512
MAX_DESTINATIONS = 2_000
MAX_RECIPIENTS = 2_000
HOURS = 168
MAX_DEPTH_BIN = 16
MAX_RATE_BIN = 64
NOVELTY_MEMORY = 1_000
"""Actions the recency-weighted novelty rate remembers (its exponential weight is 1/this)."""
START = ""  # the "previous tool" of a session's first action
FORMAT = 1  # version of the persisted data
_SETTLED = 10  # transitions out of a tool before its surprise counts towards the typical


def recipient_digest(address: str) -> str:
    """What a baseline keeps of an e-mail address: enough to recognise it, not to read it."""
    return hashlib.blake2b(address.encode(), digest_size=8).hexdigest()


def signed_log(x: float) -> float:
    """The scale argument profiles are kept on: amounts spread log-normally."""
    return math.copysign(math.log1p(abs(x)), x)


@dataclass(slots=True)
class Welford:
    """Running mean and variance (Welford), with the raw minimum and maximum seen."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf

    def add(self, y: float) -> None:
        self.n += 1
        delta = y - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (y - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


@dataclass(slots=True)
class NumberProfile:
    """One numeric argument of one tool: moments on the :func:`signed_log` scale, raw range."""

    moments: Welford = field(default_factory=Welford)

    def add(self, x: float) -> None:
        self.moments.add(signed_log(x))
        self.moments.lo = min(self.moments.lo, x)
        self.moments.hi = max(self.moments.hi, x)


@dataclass(slots=True)
class Baseline:
    """How one subject (an agent, or a purpose profile for cold start) normally behaves."""

    kind: str  # "agent" | "profile"
    subject: str
    frozen: bool = False
    actions: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    tools: dict[str, int] = field(default_factory=dict)
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    leaving: dict[str, int] = field(default_factory=dict)  # transitions counted out of a tool
    surprise: Welford = field(default_factory=Welford)  # -log P(tool | previous), as learned
    arguments: dict[tuple[str, str], NumberProfile] = field(default_factory=dict)
    destinations: OrderedDict[str, int] = field(default_factory=OrderedDict)
    recipients: OrderedDict[str, int] = field(default_factory=OrderedDict)
    contacting: int = 0  # actions that named a destination
    novel_contacts: int = 0  # ... of which named a domain not contacted before
    novelty: float = 0.0  # recency-weighted share of actions that contacted a new domain
    contacts: int = 0  # domain contacts counted in ``destinations`` (the kept ones)
    singletons: int = 0  # domains in ``destinations`` contacted exactly once
    hours: list[int] = field(default_factory=lambda: [0] * HOURS)
    depths: list[int] = field(default_factory=lambda: [0] * (MAX_DEPTH_BIN + 1))
    max_depth: int = 0
    rates: list[int] = field(default_factory=lambda: [0] * (MAX_RATE_BIN + 1))
    _rate_q: int | None = field(default=None, repr=False)

    # -- reading -----------------------------------------------------------------------------

    def warm(self, actions: int, span: timedelta) -> bool:
        """Past its warm-up: at least ``actions`` allowed actions spanning at least ``span``."""
        return self.actions >= actions and self.history() >= span

    def history(self) -> timedelta:
        if self.first_at is None or self.last_at is None:
            return timedelta(0)
        return self.last_at - self.first_at

    def transition_p(self, previous: str, tool: str) -> float:
        """P(tool | previous), smoothed towards the tool's overall share (one pseudo-count)."""
        share = (self.tools.get(tool, 0) + 0.5) / (self.actions + 0.5 * (len(self.tools) + 1))
        return (self.transitions.get((previous, tool), 0) + share) / (
            self.leaving.get(previous, 0) + 1.0
        )

    def novelty_rate(self) -> float:
        """The chance that this subject's next *action* contacts a domain it never contacted:
        the share of its recent actions that did (an exponentially weighted average over
        about the last :data:`NOVELTY_MEMORY` actions; the plain share before that, smoothed).
        An outreach agent or a support desk meeting new customers every day keeps it high;
        an AP clerk that found its vendors in the first week drifts towards zero; an agent
        that never contacts anyone is at zero."""
        return max(self.novelty, 0.5 / (self.actions + 1.0))

    def rate_quantile(self, q: float = 0.99) -> int:
        """The ``q`` quantile of actions-per-minute in a session (cached; O(65) to refresh)."""
        if self._rate_q is None:
            total = sum(self.rates)
            wanted, seen, value = q * total, 0, 0
            for value, count in enumerate(self.rates):  # noqa: B007 - the bin reached
                seen += count
                if seen >= wanted:
                    break
            self._rate_q = value
        return self._rate_q

    def hour_weight(self, hour: int) -> float:
        """Actions in ``hour`` of the week plus half of each neighbouring hour's."""
        h = self.hours
        return h[hour] + 0.5 * (h[(hour - 1) % HOURS] + h[(hour + 1) % HOURS])

    # -- learning ----------------------------------------------------------------------------

    def learn(self, facts: ActionFacts, previous: str | None, per_minute: int) -> None:
        """Add one allowed action. ``previous`` is the session's previous tool (None at its
        start), ``per_minute`` the session's actions in the last minute, this one included."""
        self._learn_tool(facts.tool, previous or START)
        for path, value in facts.numbers:
            self._learn_number(facts.tool, path, value)
        self._learn_contacts(facts)
        self.hours[facts.hour_of_week % HOURS] += 1
        self.depths[min(facts.chain_depth, MAX_DEPTH_BIN)] += 1
        self.max_depth = max(self.max_depth, facts.chain_depth)
        self.rates[min(per_minute, MAX_RATE_BIN)] += 1
        if self.actions % 64 == 0:
            self._rate_q = None
        self.actions += 1
        if self.first_at is None or facts.at < self.first_at:
            self.first_at = facts.at
        if self.last_at is None or facts.at > self.last_at:
            self.last_at = facts.at

    def _learn_tool(self, tool: str, previous: str) -> None:
        if self.leaving.get(previous, 0) >= _SETTLED:  # early guesses would skew the typical
            self.surprise.add(-math.log(self.transition_p(previous, tool)))
        if tool in self.tools or len(self.tools) < MAX_TOOLS:
            self.tools[tool] = self.tools.get(tool, 0) + 1
        if previous != START and previous not in self.tools:
            return  # an untracked tool (past the cap) has no transitions either
        pair = (previous, tool)
        if pair in self.transitions or len(self.transitions) < MAX_TRANSITIONS:
            self.transitions[pair] = self.transitions.get(pair, 0) + 1
            self.leaving[previous] = self.leaving.get(previous, 0) + 1

    def _learn_number(self, tool: str, path: str, value: float) -> None:
        key = (tool, path)
        profile = self.arguments.get(key)
        if profile is None:
            if len(self.arguments) >= MAX_ARGUMENTS:
                return
            profile = self.arguments[key] = NumberProfile()
        profile.add(value)

    def _learn_contacts(self, facts: ActionFacts) -> None:
        novel = any(d not in self.destinations for d in facts.destinations)
        weight = max(1.0 / (self.actions + 1), 1.0 / NOVELTY_MEMORY)
        self.novelty += weight * (float(novel) - self.novelty)
        if not facts.destinations:
            return
        self.contacting += 1
        self.novel_contacts += novel
        for domain in facts.destinations:
            self._contact(domain)
        for address in facts.recipients:
            _touch(self.recipients, recipient_digest(address), MAX_RECIPIENTS)

    def _contact(self, domain: str) -> None:
        seen = self.destinations
        count = seen.get(domain, 0) + 1
        seen[domain] = count
        seen.move_to_end(domain)
        self.contacts += 1
        self.singletons += 1 if count == 1 else -1 if count == 2 else 0
        if len(seen) > MAX_DESTINATIONS:
            _, forgotten = seen.popitem(last=False)
            self.contacts -= forgotten
            self.singletons -= forgotten == 1

    # -- persistence -------------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """Everything learned, as JSON-ready values (stored in ``baselines.data``)."""
        return {
            "format": FORMAT,
            "tools": self.tools,
            "transitions": [[p, t, c] for (p, t), c in self.transitions.items()],
            "surprise": _moments(self.surprise),
            "arguments": [[t, p, *_moments(a.moments)] for (t, p), a in self.arguments.items()],
            "destinations": list(self.destinations.items()),
            "recipients": list(self.recipients.items()),
            "contacting": self.contacting,
            "novel_contacts": self.novel_contacts,
            "novelty": self.novelty,
            "hours": self.hours,
            "depths": self.depths,
            "max_depth": self.max_depth,
            "rates": self.rates,
        }

    @classmethod
    def from_data(
        cls,
        kind: str,
        subject: str,
        data: dict[str, Any],
        *,
        frozen: bool,
        actions: int,
        first_at: datetime | None,
        last_at: datetime | None,
    ) -> Baseline:
        baseline = cls(kind, subject, frozen, actions, first_at, last_at)
        baseline.tools = {str(k): int(v) for k, v in data["tools"].items()}
        for previous, tool, count in data["transitions"]:
            baseline.transitions[(previous, tool)] = count
            baseline.leaving[previous] = baseline.leaving.get(previous, 0) + count
        baseline.surprise = _welford(data["surprise"])
        for tool, path, *moments in data["arguments"]:
            baseline.arguments[(tool, path)] = NumberProfile(_welford(moments))
        baseline.destinations = OrderedDict((d, c) for d, c in data["destinations"])
        baseline.recipients = OrderedDict((r, c) for r, c in data["recipients"])
        baseline.contacting = data["contacting"]
        baseline.novel_contacts = data["novel_contacts"]
        baseline.novelty = float(data.get("novelty", baseline.novel_contacts / max(actions, 1)))
        baseline.contacts = sum(baseline.destinations.values())
        baseline.singletons = sum(1 for c in baseline.destinations.values() if c == 1)
        baseline.hours = list(data["hours"])
        baseline.depths = list(data["depths"])
        baseline.max_depth = data["max_depth"]
        baseline.rates = list(data["rates"])
        return baseline


def _touch(seen: OrderedDict[str, int], key: str, cap: int) -> None:
    """Count ``key`` as just used; forget the least recently used key past ``cap``."""
    if key in seen:
        seen[key] += 1
        seen.move_to_end(key)
        return
    seen[key] = 1
    if len(seen) > cap:
        seen.popitem(last=False)


def _moments(w: Welford) -> list[float | int | None]:
    return [w.n, w.mean, w.m2, w.lo if w.n else None, w.hi if w.n else None]


def _welford(values: list[Any]) -> Welford:
    n, mean, m2, lo, hi = values
    return Welford(
        n, mean, m2, math.inf if lo is None else float(lo), -math.inf if hi is None else float(hi)
    )
