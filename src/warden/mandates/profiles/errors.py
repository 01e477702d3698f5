"""Purpose profile errors::

ProfileError
├── ProfileNotFound     no profile (or no such version) by that name
└── ProfileInvalid      a profile's problems, each with file:line:column
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warden.errors import WardenError


class ProfileError(WardenError):
    code = "profile_error"


class ProfileNotFound(ProfileError):
    code = "profile_not_found"


@dataclass(frozen=True, slots=True)
class ProfileProblem:
    """One thing wrong with a profile; ``line`` and ``column`` are 1-based, 0 when unknown."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if not self.line:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}:{self.column}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class ProfileInvalid(ProfileError):
    code = "invalid_profile"

    def __init__(self, problems: Sequence[ProfileProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}
