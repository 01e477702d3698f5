"""What a caller sends to issue a mandate (pydantic): the HTTP API, the CLI and the Python
API all validate through this."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.registry.specs import person
from warden.registry.spiffe import spiffe_id_problem

MAX_REQUEST = 4000
MAX_TTL = 7 * 24 * 3600


class MandateSpec(BaseModel):
    """A person's request, to be bound to every action taken for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str = Field(description="the person the workflow acts for (email)")
    request: str = Field(min_length=1, max_length=MAX_REQUEST, description="in their words")
    profile: str | None = Field(
        default=None, max_length=100, description="a purpose profile by name; else matched"
    )
    authorization_details: list[dict[str, Any]] = Field(
        default_factory=list, max_length=20, description="RFC 9396 structured constraints"
    )
    expires_in: int = Field(default=3600, ge=60, le=MAX_TTL, description="seconds")
    agent: str | None = Field(
        default=None,
        max_length=2048,
        description="the agent (SPIFFE ID) the person asks; only it may present the mandate, "
        "and it alone may delegate under it",
    )

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        problem = spiffe_id_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"agent: {problem}")
        return value

    @field_validator("person")
    @classmethod
    def _person(cls, value: str) -> str:
        return person(value, "person")

    @field_validator("authorization_details")
    @classmethod
    def _details(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, detail in enumerate(value):  # RFC 9396 §2: `type` is REQUIRED
            if not isinstance(detail.get("type"), str) or not detail["type"]:
                raise ValueError(f"authorization_details[{i}] needs a `type` (RFC 9396 §2)")
        return value
