"""The mandate's shared vocabulary: the contract between issuing, purpose profiles, intent
matching, provenance and the mandate analyser. Each part lives in its own module:

- ``profiles.py``  — :class:`PurposeProfile` loading/validation and ``judge`` (budgets, limits)
- ``intent.py``    — :class:`IntentMatcher` (lexical, semantic) and ``extract_designated``
- ``provenance.py``— :class:`ProvenanceIndex` (observations, labels, injection, tracing)
- ``service.py``   — issuing and verifying mandates, budgets ledger, ``MandateAnalyser``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ValueKind(StrEnum):
    AMOUNT = "amount"
    IBAN = "iban"
    ACCOUNT = "account"
    EMAIL = "email"
    URL = "url"
    DOMAIN = "domain"
    FILE = "file"
    DATE = "date"
    PERSON = "person"
    IDENTIFIER = "identifier"  # invoice numbers, ticket ids, employee ids...


@dataclass(frozen=True, slots=True)
class DesignatedValue:
    """A value the person named in their request (or in ``authorization_details``).

    ``normalized`` is what provenance compares: lower-case emails/domains/URLs without a
    trailing slash, IBANs without spaces and upper-case, amounts as a plain decimal string
    ("9000.00" → "9000", "9,000.50" → "9000.5"), dates ISO ``YYYY-MM-DD``."""

    kind: ValueKind
    value: str
    normalized: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "value": self.value, "normalized": self.normalized}


class Source(StrEnum):
    """Where an action's argument value came from, most trusted first."""

    REQUEST = "request"  # appears in the person's own words
    DESIGNATED = "designated"  # in data the person designated (authorization_details, named values)
    TOOL_OUTPUT = "tool_output"  # seen in an earlier tool result: untrusted
    UNKNOWN = "unknown"  # seen nowhere: the agent made it up


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one argument's value came from; ``tool`` names the tool whose output held it."""

    argument: str  # dotted path in the arguments, e.g. "recipient" or "lines.0.iban"
    source: Source
    tool: str | None = None
    labels: frozenset[str] = frozenset()  # data labels of the output it came from
    injected: bool = False  # that output carried instructions aimed at the agent


@dataclass(frozen=True, slots=True)
class Match:
    """The profile a request maps to. ``profile`` is None when nothing reached the threshold
    (the mandate is *unmatched*)."""

    profile: str | None
    confidence: float  # in [0, 1]
    ranked: tuple[tuple[str, float], ...] = ()  # every profile's score, best first


@dataclass(frozen=True, slots=True)
class Violation:
    """A purpose-profile rule the action breaks. ``outcome`` is "deny" or "step_up"."""

    rule: str  # stable code, e.g. "budget.exceeded", "argument.limit", "tool.out_of_scope"
    message: str  # for an auditor: names the profile and the rule in words
    outcome: str = "deny"


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """What an allowed action would spend of a cumulative budget."""

    budget: str  # the budget's name in the profile
    amount: float
    limit: float


@dataclass(frozen=True)
class Mandate:
    """A person's signed intent. ``id`` is the transaction token's ``txn``."""

    id: str
    person: str  # the token's ``sub``
    request: str  # in the person's words
    profile: str | None
    profile_version: int | None
    confidence: float
    authorization_details: tuple[Mapping[str, Any], ...]  # RFC 9396
    designated: tuple[DesignatedValue, ...]
    issued_by: str  # the caller that asked for it (a person, or an app acting for one)
    issued_at: datetime
    expires_at: datetime
    audience: str  # the trust domain
    revoked_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def matched(self) -> bool:
        return self.profile is not None
