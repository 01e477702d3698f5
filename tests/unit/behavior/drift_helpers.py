"""Synthetic agents for the drift tests: realistic habits, replayed through real sessions.

An accounts-payable clerk works weekdays 08:00-17:00 UTC in sessions of a few invoices:
read, match to a purchase order, approve, pay (amounts log-normal around 1,100), now and then
mail one of its twelve vendors. An outreach agent mails a new prospect's domain in about a
third of its e-mails. Every action is scored, then learned (all allowed), then recorded in
a real :class:`~warden.sessions.state.SessionState`, as the runtime does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.behavior import BehaviorService, DriftResult
from warden.decisions.models import Outcome
from warden.sessions.facts import ActionFacts
from warden.sessions.models import session_id
from warden.sessions.state import SessionState

CLERK = "spiffe://acme.example/agent/ap-clerk"
OUTREACH = "spiffe://acme.example/agent/outreach"
MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
VENDORS = tuple(f"vendor{n}.example" for n in range(12))

# The clerk's habits: P(next tool | tool); "" is the start of a session.
CLERK_FLOW: dict[str, tuple[tuple[str, float], ...]] = {
    "": (("read_invoice", 0.9), ("search_vendor", 0.1)),
    "read_invoice": (("match_po", 0.7), ("read_invoice", 0.2), ("flag_invoice", 0.1)),
    "match_po": (("approve_invoice", 0.8), ("flag_invoice", 0.2)),
    "approve_invoice": (("pay_invoice", 0.6), ("read_invoice", 0.4)),
    "pay_invoice": (("send_email", 0.4), ("read_invoice", 0.6)),
    "flag_invoice": (("read_invoice", 1.0),),
    "search_vendor": (("read_invoice", 1.0),),
    "send_email": (("read_invoice", 1.0),),
}


class ListSink:
    """An audit sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))


def facts(tool: str, at: datetime, agent: str = CLERK, **overrides: Any) -> ActionFacts:
    values: dict[str, Any] = {
        "agent": agent,
        "mandate": "",
        "tool": tool,
        "at": at,
        "read_only": tool.startswith(("read_", "search_")),
        "destructive": False,
        "external": tool == "send_email",
        "labels": frozenset(),
        "call": f"{tool}@{at.isoformat()}",
        "amount": None,
        "numbers": (),
        "recipients": (),
        "destinations": (),
        "chain_depth": 1,
        "hour_of_week": at.weekday() * 24 + at.hour,
    }
    values.update(overrides)
    return ActionFacts(**values)


@dataclass
class Clerk:
    """The accounts-payable clerk's working days, one session after another."""

    rng: random.Random = field(default_factory=lambda: random.Random(7))
    agent: str = CLERK
    amount_mu: float = 7.0  # e^7 ≈ 1,100

    def action(self, tool: str, at: datetime) -> ActionFacts:
        numbers: tuple[tuple[str, float], ...] = ()
        destinations: tuple[str, ...] = ()
        recipients: tuple[str, ...] = ()
        if tool in ("approve_invoice", "pay_invoice"):
            amount = round(self.rng.lognormvariate(self.amount_mu, 0.9), 2)
            numbers = (("amount", amount), ("invoice_id", float(self.rng.randint(1000, 99999))))
        if tool == "send_email":
            vendor = self.rng.choice(VENDORS)
            destinations, recipients = (vendor,), (f"billing@{vendor}",)
        return facts(
            tool,
            at,
            agent=self.agent,
            numbers=numbers,
            destinations=destinations,
            recipients=recipients,
            amount=numbers[0][1] if numbers else None,
        )

    def session(self, start: datetime) -> list[ActionFacts]:
        tool, at, actions = "", start, []
        for _ in range(self.rng.randint(6, 14)):
            tool = _pick(self.rng, CLERK_FLOW[tool])
            actions.append(self.action(tool, at))
            at += timedelta(seconds=self.rng.randint(20, 90))
        return actions

    def days(self, first: int, count: int, per_day: int = 8) -> Iterator[list[ActionFacts]]:
        """Sessions on weekdays from day ``first`` (0 = Monday 2 November) on."""
        for day in range(first, first + count):
            date = MONDAY + timedelta(days=day)
            if date.weekday() >= 5:
                continue
            for n in range(per_day):
                yield self.session(date + timedelta(hours=8 + n, minutes=self.rng.randint(0, 40)))


@dataclass
class Outreach:
    """Mails prospects: a new domain in about a third of its e-mails."""

    rng: random.Random = field(default_factory=lambda: random.Random(11))
    agent: str = OUTREACH

    def session(self, start: datetime) -> list[ActionFacts]:
        actions, at = [], start
        for _ in range(self.rng.randint(4, 8)):
            actions.append(facts("search_crm", at, agent=self.agent))
            at += timedelta(seconds=40)
            domain = (
                f"prospect{self.rng.randint(0, 10**6)}.example"
                if self.rng.random() < 0.35
                else f"client{self.rng.randint(0, 30)}.example"
            )
            actions.append(self.send(domain, at))
            at += timedelta(seconds=40)
        return actions

    def send(self, domain: str, at: datetime) -> ActionFacts:
        return facts(
            "send_email",
            at,
            agent=self.agent,
            destinations=(domain,),
            recipients=(f"hello@{domain}",),
        )

    def days(self, first: int, count: int) -> Iterator[list[ActionFacts]]:
        for day in range(first, first + count):
            date = MONDAY + timedelta(days=day)
            if date.weekday() < 5:
                for n in range(6):
                    yield self.session(date + timedelta(hours=9 + n))


class Replay:
    """Decides actions as the runtime does: score, learn if allowed, record in the session."""

    def __init__(self, service: BehaviorService, profile_of: Mapping[str, str] | None = None):
        self.service = service
        self.profile_of = dict(profile_of or {})
        self.sessions: dict[tuple[str, str], SessionState] = {}

    def session(self, agent: str, mandate: str = "") -> SessionState | None:
        return self.sessions.get((agent, mandate))

    def new_session(self, agent: str, mandate: str = "") -> None:
        """Forget the agent's current session (the next action opens a new one)."""
        self.sessions.pop((agent, mandate), None)

    def decide(self, action: ActionFacts, *, learn: bool = True) -> DriftResult:
        state = self.sessions.get(action.session_key)
        profile = self.profile_of.get(action.agent)
        result = self.service.score(action, state, profile)
        if learn:
            self.service.learn(action, state, profile)
        if state is None:
            state = SessionState(session_id(*action.session_key), action.agent, "", action.at)
            self.sessions[action.session_key] = state
        state.record(action, Outcome.ALLOW, self.service.mark(result))
        return result

    def sessions_of(self, sessions: Iterator[list[ActionFacts]]) -> list[DriftResult]:
        """Each session from a fresh session state; every action learned."""
        results = []
        for actions in sessions:
            self.new_session(actions[0].agent)
            results.extend(self.decide(a) for a in actions)
        return results


def shifted(action: ActionFacts, **changes: Any) -> ActionFacts:
    return replace(action, **changes)


def _pick(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    x, total = rng.random(), 0.0
    for tool, p in choices:
        total += p
        if x < total:
            return tool
    return choices[-1][0]
