"""Roles, principals and the bearer tokens people use against Warden's own API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"
    APPROVER = "approver"
    OWNER = "owner"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling Warden's API. ``name`` is what the ledger records as the actor."""

    name: str
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def may_manage(self, owners: tuple[str, ...]) -> bool:
        """An admin manages every agent; an owner only those listing them as an owner."""
        return self.is_admin or (Role.OWNER in self.roles and self.name in owners)


ADMIN = Principal("admin", frozenset({Role.ADMIN}))
"""The static admin token's principal."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token issued to a person; only its SHA-256 is stored."""

    id: str
    person: str
    roles: frozenset[Role]
    description: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person": self.person,
            "roles": sorted(r.value for r in self.roles),
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
