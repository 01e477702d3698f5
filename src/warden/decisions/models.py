"""The decision: what Warden answers for every action.

``DecisionRequest`` is the question (AuthZEN-shaped: subject, action, resource, context);
``Decision`` is the answer (Cedar-like: outcome plus reasons and errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What the enforcement point must do. Deny overrides step_up overrides allow."""

    ALLOW = "allow"
    STEP_UP = "step_up"
    DENY = "deny"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @staticmethod
    def strictest(outcomes: list[Outcome]) -> Outcome:
        """The combined outcome: the most restrictive one, allow when the list is empty."""
        return max(outcomes, key=lambda o: o.severity, default=Outcome.ALLOW)


_SEVERITY = {Outcome.ALLOW: 0, Outcome.STEP_UP: 1, Outcome.DENY: 2}


@dataclass(frozen=True, slots=True)
class Entity:
    """A subject or resource: AuthZEN ``{type, id, properties}``."""

    type: str
    id: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Action:
    """AuthZEN ``{name, properties}``."""

    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """The question: may ``subject`` perform ``action`` on ``resource`` in ``context``?"""

    subject: Entity
    action: Action
    resource: Entity
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision came out as it did.

    ``source`` is ``policy`` (a Cedar policy: ``code`` is its ``@id``), ``analyser``
    (a feature analyser's finding) or ``pipeline`` (default deny, errors).
    """

    code: str
    message: str
    source: str
    outcome: Outcome

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "message": self.message,
            "source": self.source,
            "outcome": self.outcome.value,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``decision_id`` is also the audit ledger's id for this decision."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    errors: tuple[str, ...]
    policy_revision: int
    decision_id: str
    decided_at: datetime
    features: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "decision_id": self.decision_id,
            "reasons": [r.to_dict() for r in self.reasons],
            "errors": list(self.errors),
            "policy_revision": self.policy_revision,
            "decided_at": self.decided_at.isoformat(),
        }
