"""The IdP's people as the registry sees them: who is still active.

An agent's owners are people named by email (lower-case). A SCIM User is that person when
its ``userName`` or its primary email is that email. A person is inactive when every User
naming them has ``active: false``, or when none does any more because the IdP deleted
them (``scim_departed_people`` remembers who was deleted). Someone the IdP never sent is
active: Warden only orphans agents on the IdP's word.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import scim_departed_people, scim_resources


@dataclass(frozen=True, slots=True)
class Person:
    """A SCIM User, as ``warden scim people`` lists it."""

    id: str
    user_name: str
    email: str | None
    display_name: str | None
    active: bool
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_name": self.user_name,
            "email": self.email,
            "display_name": self.display_name,
            "active": self.active,
            "updated_at": self.updated_at,
        }


class ScimPeople:
    """The :class:`warden.registry.service.PeopleDirectory` of SCIM-provisioned people."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def inactive(self, people: Collection[str]) -> set[str]:
        """Those of ``people`` (emails) that the IdP deactivated or deleted."""
        wanted = {p.lower() for p in people}
        if not wanted:
            return set()
        users = scim_resources.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(users.user_name, users.email, users.active).where(
                    users.resource_type == "User",
                    or_(users.user_name.in_(wanted), users.email.in_(wanted)),
                )
            )
            active: dict[str, bool] = {}
            for row in rows:
                for person in {row.user_name, row.email} & wanted:
                    active[person] = active.get(person, False) or row.active is not False
            departed = await conn.execute(
                select(scim_departed_people.c.person).where(
                    scim_departed_people.c.person.in_(wanted - active.keys())
                )
            )
            gone = {row.person for row in departed}
        return {p for p, is_active in active.items() if not is_active} | gone

    async def people(self) -> list[Person]:
        """Every SCIM User, by userName."""
        users = scim_resources.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(scim_resources)
                .where(users.resource_type == "User")
                .order_by(users.user_name)
            )
            return [_person(row) for row in rows]

    async def departed(self) -> list[str]:
        """The people the IdP deleted and has not sent again."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(scim_departed_people.c.person).order_by(scim_departed_people.c.person)
            )
            gone = [row.person for row in rows]
        back = set(gone) - await self.inactive(gone)
        return [p for p in gone if p not in back]


def _person(row: Any) -> Person:
    body = orjson.loads(row.body)
    return Person(
        id=row.id,
        user_name=str(body.get("userName", "")),
        email=row.email,
        display_name=display_name(body),
        active=row.active is not False,
        updated_at=row.updated_at,
    )


def display_name(user: dict[str, Any]) -> str | None:
    """What to call a User: displayName, else their formatted or given and family name."""
    name = user.get("name") or {}
    parts = [name.get("givenName"), name.get("familyName")]
    full = " ".join(p for p in parts if p)
    return user.get("displayName") or name.get("formatted") or full or None
