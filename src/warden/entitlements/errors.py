"""Entitlement errors::

EntitlementError
├── InvalidEntitlement      a field of a grant is malformed (names the field)
├── EntitlementNotFound
├── DuplicateEntitlement    the agent already holds that grant
├── EntitlementStateError   e.g. restoring a grant that was not pruned
├── AgentNotEntitled        the agent cannot receive grants (retired)
├── NotPermitted            the caller may not change this agent's grants
├── TemplateNotFound
└── TemplateInvalid         a template file's problems, with line numbers
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warden.errors import FieldError, WardenError


class EntitlementError(WardenError):
    code = "entitlement_error"


class InvalidEntitlement(FieldError, EntitlementError):
    """A field of a grant is malformed; ``field`` names it."""

    code = "invalid_input"


class EntitlementNotFound(EntitlementError):
    code = "entitlement_not_found"


class DuplicateEntitlement(EntitlementError):
    code = "entitlement_exists"


class EntitlementStateError(EntitlementError):
    code = "invalid_state"


class AgentNotEntitled(EntitlementError):
    code = "agent_not_entitled"


class NotPermitted(EntitlementError):
    code = "forbidden"


class TemplateNotFound(EntitlementError):
    code = "template_not_found"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong with a template file; ``line`` is 1-based, 0 when unknown."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else self.message

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "message": self.message}


class TemplateInvalid(EntitlementError):
    code = "invalid_template"

    def __init__(self, problems: Sequence[TemplateProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}
