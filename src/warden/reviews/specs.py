"""What a caller sends to open a campaign or decide an item, validated (pydantic).

The HTTP API and the CLI both go through these, so the rules live once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden.registry.models import RiskTier
from warden.registry.specs import aware, person
from warden.reviews.models import Consequence, Scope, ScopeKind, Verdict


class ScopeSpec(BaseModel):
    """``{"kind": "all"}``, or ``team`` / ``owner`` / ``risk_tier`` with a ``value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ScopeKind = ScopeKind.ALL
    value: str | None = Field(default=None, min_length=1, max_length=320)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Self:
        if self.kind is ScopeKind.ALL and self.value is not None:
            raise ValueError("a scope of all agents takes no value")
        if self.kind is not ScopeKind.ALL and self.value is None:
            raise ValueError(f"a {self.kind.value} scope needs a value")
        if self.kind is ScopeKind.OWNER and self.value is not None:
            object.__setattr__(self, "value", person(self.value, "a scope's owner"))
        if self.kind is ScopeKind.RISK_TIER and self.value not in set(RiskTier):
            tiers = ", ".join(t.value for t in RiskTier)
            raise ValueError(f"a risk tier is one of {tiers}")
        return self

    def to_scope(self) -> Scope:
        return Scope(self.kind, self.value)


class CampaignSpec(BaseModel):
    """A request to open a campaign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    scope: ScopeSpec = Field(default_factory=ScopeSpec)
    deadline: datetime = Field(description="items still pending then get `on_deadline`")
    on_deadline: Consequence = Field(
        description="`revoke` the entitlement, or `suspend` the agent, of an undecided item"
    )

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: datetime) -> datetime:
        checked = aware(value)
        assert checked is not None
        return checked


class DecisionSpec(BaseModel):
    """A reviewer's decision on one item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Verdict
    comment: str | None = Field(default=None, max_length=1000)
