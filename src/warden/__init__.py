"""Warden: should this action, by this agent, proceed right now, in this context?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome, Reason
from warden.errors import WardenError

if TYPE_CHECKING:
    from warden.embedded import Warden

__all__ = [
    "Action",
    "Decision",
    "DecisionRequest",
    "Entity",
    "Outcome",
    "Reason",
    "Warden",
    "WardenError",
]


def __getattr__(name: str) -> Any:
    # Imported lazily: `warden --help` should not pay for Cedar and SQLAlchemy.
    if name == "Warden":
        from warden.embedded import Warden

        return Warden
    raise AttributeError(name)
