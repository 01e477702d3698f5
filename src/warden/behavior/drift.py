"""The drift score of one action: how far it is from its baseline, and why.

Seven signals, each a strength in [0, 1] with a sentence that says what was unusual, in
numbers. A weak signal alone stays below 0.6 (the default step-up level); a strong one —
a tool this agent never used, a new external domain from an agent that never contacts new
ones, an argument far past anything seen — reaches 0.6 on its own:

=========================  ====  ==========================================================
signal                     max   fires when
=========================  ====  ==========================================================
``novel_tool``             0.85  the tool was never used (0.70, more with a longer history)
``improbable_transition``  0.55  P(tool | previous tool) far below the agent's typical one
``argument_outlier``       0.85  a numeric argument over 3 standard deviations from its
                                 usual (log scale), or well past the largest value seen
``new_destination``        0.85  a domain never contacted, weighted down by how often the
                                 agent contacts new domains (times 0.6 for non-external tools)
``burst``                  0.55  this session's actions in the last minute exceed the agent's
                                 usual (99th percentile) by 2 or more and by half
``unusual_hour``           0.45  the hour of the week (lightly smoothed with its neighbours and
                                 the same hour on other days) holds < 10% of an average hour
``deeper_chain``           0.55  the delegation chain is deeper than any seen
=========================  ====  ==========================================================

The strengths combine like independent pieces of evidence (noisy-OR):
``score = 1 - Π (1 - strength_i)``. Two weak signals together cross 0.6; no signal alone
reaches 0.9 (the default "extreme" level): that takes corroboration.

Per session, ``session_score`` is an exponentially weighted average of the action scores
(weight :attr:`DriftSettings.ewma` on the newest); ``run`` counts consecutive actions scoring
at least :attr:`DriftSettings.high`; the session is *sustained* when ``session_score`` is at
least :attr:`DriftSettings.sustained_score` and ``run`` at least
:attr:`DriftSettings.sustained_run`.

Every function here is pure and O(#arguments of the action): nothing reads the history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from warden.behavior.baseline import START, Baseline, recipient_digest, signed_log
from warden.sessions.facts import ActionFacts
from warden.sessions.models import DriftMark

__all__ = ["DriftMark", "DriftResult", "DriftSettings", "Signal", "combine", "explain", "signals"]

SIGNALS = (
    "novel_tool",
    "improbable_transition",
    "argument_outlier",
    "new_destination",
    "burst",
    "unusual_hour",
    "deeper_chain",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MIN_TRANSITIONS = 20  # transitions out of the previous tool before one can be improbable
_MIN_SAMPLES = 30  # values of an argument before one can be an outlier
_MIN_STD = 0.25  # on the log scale: a constant argument may still vary by ~25%
_MIN_STRENGTH = 0.05  # weaker signals are not reported
_MAX_ALONE = 0.85  # no signal alone reaches 90 (extreme): that takes two, or a sustained run


class MarkLike(Protocol):
    """What a session keeps of its last action's drift (a :class:`DriftMark`)."""

    @property
    def score(self) -> float: ...
    @property
    def session_score(self) -> float: ...
    @property
    def run(self) -> int: ...


class SessionLike(Protocol):
    """The session state drift reads: all O(1)."""

    @property
    def actions(self) -> int: ...
    @property
    def previous_tool(self) -> str | None: ...
    @property
    def drift(self) -> MarkLike | None: ...

    def count(self, window: str, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason an action looks unlike its baseline."""

    name: str
    strength: float  # 0..1
    detail: str  # a sentence with the numbers


@dataclass(frozen=True, slots=True)
class DriftSettings:
    """The tunable constants of scoring (see the module docstring and docs/drift.md)."""

    warmup_actions: int = 200
    warmup_days: float = 3.0
    ewma: float = 0.4  # weight of the newest action in session_score
    high: float = 0.5  # an action scoring at least this extends the run
    sustained_score: float = 0.5
    sustained_run: int = 3
    # new_destination: full strength when the agent's novelty rate is at most new_domain_full,
    # none from new_domain_none, log-linear in between (0.011 -> 0.67, 0.02 -> 0.53, 0.05 -> 0.32)
    new_domain_full: float = 0.004
    new_domain_none: float = 0.2
    # Before the warm-up ends, an agent's own baseline is used once it holds this share of the
    # warm-up (actions and days), its signals weighed by how much of the warm-up it holds.
    partial_from: float = 0.25


@dataclass(frozen=True, slots=True)
class DriftResult:
    """The drift of one action, and of its session so far."""

    score: float
    signals: tuple[Signal, ...]
    session_score: float
    run: int
    sustained: bool
    warm: bool
    basis: str  # "agent" | "profile" | "none"
    explanation: str

    def block(self) -> dict[str, Any]:
        """``context.drift``: exactly the keys of the schema's ``DriftBlock``."""
        return {
            "score": _percent(self.score),
            "signals": sorted({s.name for s in self.signals}),
            "session_score": _percent(self.session_score),
            "sustained": self.sustained,
            "warm": self.warm,
            "baseline": self.basis,
            "explanation": self.explanation,
        }


def signals(
    baseline: Baseline,
    facts: ActionFacts,
    session: SessionLike | None,
    settings: DriftSettings,
    who: str,
) -> tuple[Signal, ...]:
    """The signals ``facts`` raises against ``baseline``, strongest first. ``who`` names the
    baseline's subject in sentences ("this agent", "agents under `triage`")."""
    previous = session.previous_tool if session is not None else None
    per_minute = session.count("m1", facts.at) + 1 if session is not None else 1
    found = [
        _novel_tool(baseline, facts, who),
        _improbable_transition(baseline, facts, previous),
        _argument_outlier(baseline, facts),
        _new_destination(baseline, facts, who, settings),
        _burst(baseline, per_minute),
        _unusual_hour(baseline, facts),
        _deeper_chain(baseline, facts),
    ]
    fired = (s for s in found if s is not None and s.strength >= _MIN_STRENGTH)
    return tuple(sorted(fired, key=lambda s: -s.strength))


def combine(found: tuple[Signal, ...]) -> float:
    """Noisy-OR: the chance that at least one signal is real, were they independent."""
    calm = 1.0
    for signal in found:
        calm *= 1.0 - signal.strength
    return 1.0 - calm


def explain(score: float, found: tuple[Signal, ...]) -> str:
    if not found:
        return "no drift signal"
    return f"drift {_percent(score)}/100: " + "; ".join(s.detail for s in found)


# -- the signals -------------------------------------------------------------------------------


def _novel_tool(b: Baseline, facts: ActionFacts, who: str) -> Signal | None:
    if facts.tool in b.tools:
        return None
    strength = 0.7 + (_MAX_ALONE - 0.7) * min(1.0, b.actions / 5_000)
    days = b.history().days
    detail = f"first use of `{facts.tool}` by {who} in {_n(b.actions)} actions over {days} days"
    return Signal("novel_tool", strength, detail)


def _improbable_transition(b: Baseline, facts: ActionFacts, previous: str | None) -> Signal | None:
    origin = previous or START
    leaving = b.leaving.get(origin, 0)
    if leaving < _MIN_TRANSITIONS or facts.tool not in b.tools or b.surprise.n < _MIN_SAMPLES:
        return None
    surprise = -math.log(b.transition_p(origin, facts.tool))
    excess = surprise - (b.surprise.mean + 2.0 * b.surprise.std)
    if excess <= 0.5:
        return None
    seen = b.transitions.get((origin, facts.tool), 0)
    if previous:
        what = f"transition from `{previous}` to `{facts.tool}` seen {_n(seen)} times"
        what += f" in {_n(leaving)}"
    else:
        what = f"a session opening with `{facts.tool}`: seen {_n(seen)} times in {_n(leaving)}"
    return Signal("improbable_transition", min(0.55, 0.1 * excess), what)


def _argument_outlier(b: Baseline, facts: ActionFacts) -> Signal | None:
    best: Signal | None = None
    for path, value in facts.numbers:
        profile = b.arguments.get((facts.tool, path))
        if profile is None or profile.moments.n < _MIN_SAMPLES:
            continue
        m = profile.moments
        y = signed_log(value)
        z = (y - m.mean) / max(m.std, _MIN_STD)
        strength = min(_MAX_ALONE, max(0.0, (abs(z) - 3.0) / 6.0))
        past = max(y - signed_log(m.hi), signed_log(m.lo) - y, 0.0)  # log-distance outside
        strength = max(strength, min(0.7, 0.3 * past))
        if strength < 0.05 or (best is not None and strength <= best.strength):
            continue
        side = "above" if z >= 0 else "below"
        usual = math.copysign(math.expm1(abs(m.mean)), m.mean)
        detail = (
            f"`{path}` {_n(value)} is {abs(z):.1f}σ {side} its usual {_n(usual)} "  # noqa: RUF001
            f"(range {_n(m.lo)} to {_n(m.hi)} over {_n(m.n)} calls)"
        )
        best = Signal("argument_outlier", strength, detail)
    return best


def _new_destination(
    b: Baseline, facts: ActionFacts, who: str, settings: DriftSettings
) -> Signal | None:
    if not facts.destinations:
        return None
    rate = b.novelty_rate()
    none, full = settings.new_domain_none, settings.new_domain_full
    rarity = min(1.0, max(0.0, math.log(none / rate) / math.log(none / full)))
    damp = 1.0 if facts.external else 0.6
    new = next((d for d in facts.destinations if d not in b.destinations), None)
    habit = f"{who} contacts a new domain in about {rate:.1%} of its actions"
    if new is not None:
        strength = _MAX_ALONE * rarity * damp
        return Signal("new_destination", strength, f"first contact with `{new}` ({habit})")
    fresh = next((r for r in facts.recipients if recipient_digest(r) not in b.recipients), None)
    if fresh is None or not facts.external or rarity == 0:
        return None
    domain = fresh.rpartition("@")[2]
    strength = 0.3 * rarity
    return Signal("new_destination", strength, f"first message to this address at `{domain}`")


def _burst(b: Baseline, per_minute: int) -> Signal | None:
    usual = max(b.rate_quantile(), 2)
    excess = per_minute - usual
    if excess < 2 or per_minute < 1.5 * usual:
        return None
    strength = min(0.55, 0.12 * excess)
    detail = f"{_n(per_minute)} actions in the last minute (usual at most {_n(usual)})"
    return Signal("burst", strength, detail)


def _unusual_hour(b: Baseline, facts: ActionFacts) -> Signal | None:
    """The hour of the week, lightly smoothed (a quarter of each neighbouring hour, a tenth of
    the same hour on the other days), against an average hour of the agent's week."""
    hour = facts.hour_of_week
    of_day = hour % 24
    h = b.hours
    other_days = sum(h[day * 24 + of_day] for day in range(7)) - h[hour]
    weight = h[hour] + 0.25 * (h[(hour - 1) % 168] + h[(hour + 1) % 168]) + 0.1 * other_days
    average = b.actions / 168
    ratio = weight / average if average else 1.0
    if ratio >= 0.1:
        return None
    when = f"{_DAYS[hour // 24]} {of_day:02d}:00 UTC"
    detail = f"active {when}, an hour with {_n(h[hour])} of {_n(b.actions)} actions"
    return Signal("unusual_hour", 0.45 * (1.0 - ratio / 0.1), detail)


def _deeper_chain(b: Baseline, facts: ActionFacts) -> Signal | None:
    if facts.chain_depth <= b.max_depth:
        return None
    strength = min(0.55, 0.3 + 0.1 * (facts.chain_depth - b.max_depth - 1))
    detail = f"delegation chain {facts.chain_depth} deep (deepest seen {b.max_depth})"
    return Signal("deeper_chain", strength, detail)


def _percent(x: float) -> int:
    return max(0, min(100, round(x * 100)))


def _n(x: float) -> str:
    """A number for a sentence: thousands separated, at most 3 significant decimals."""
    if float(x).is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.3g}"
