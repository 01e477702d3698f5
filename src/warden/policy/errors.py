"""Policy errors::

WardenError
└── PolicyError
    ├── PolicyValidationError   a bundle's policies, schema or entities are invalid
    ├── BundleError             a bundle folder or file cannot be read
    └── InvalidValue            a JSON value has no Cedar equivalent
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.errors import WardenError

if TYPE_CHECKING:
    from warden.policy.models import PolicyProblem


class PolicyError(WardenError):
    """Root of the policy engine's errors."""

    code = "policy_error"


class PolicyValidationError(PolicyError):
    """The bundle did not validate; ``problems`` lists every problem found."""

    code = "policy_invalid"

    def __init__(self, problems: tuple[PolicyProblem, ...]) -> None:
        first = problems[0] if problems else None
        summary = f"{first.where}: {first.message}" if first else "the bundle is invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{summary}{more}")
        self.problems = problems

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}


class BundleError(PolicyError):
    """A bundle folder or one of its files cannot be read."""

    code = "policy_bundle_invalid"


class InvalidValue(PolicyError):
    """A JSON value that cannot become a Cedar value; ``path`` names where it is."""

    code = "policy_invalid_value"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"`{path}` {problem}")
        self.path = path
