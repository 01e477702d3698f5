"""Who the IdP says is inactive (the registry's people directory), on both stores: a person
is an owner's email, matched to SCIM Users by userName or primary email."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.scim.directory import ScimPeople
from warden.scim.models import scim_provider
from warden.scim.store import SqlScimStorage

PROVIDER = scim_provider()
USERS = next(t for t in PROVIDER.resource_types if t.name == "User")
MODEL = cast(Any, PROVIDER.model_for(USERS))


def person(user_name: str, email: str | None = None, active: bool | None = True) -> Any:
    emails = [{"value": email, "primary": True}] if email else None
    return MODEL(user_name=user_name, emails=emails, active=active)


async def test_matched_by_user_name_or_primary_email(engine: AsyncEngine) -> None:
    storage, people = SqlScimStorage(engine, PROVIDER), ScimPeople(engine)
    await storage.create(USERS, person("Ana@Acme.example", active=False))
    await storage.create(USERS, person("E1234", email="Bo@acme.example", active=False))
    await storage.create(USERS, person("cy@acme.example", active=None))  # no `active`: active

    asked = ["ana@acme.example", "bo@acme.example", "cy@acme.example", "never@acme.example"]
    assert await people.inactive(asked) == {"ana@acme.example", "bo@acme.example"}


async def test_one_active_account_keeps_a_person_active(engine: AsyncEngine) -> None:
    storage, people = SqlScimStorage(engine, PROVIDER), ScimPeople(engine)
    await storage.create(USERS, person("ana@acme.example", active=False))
    await storage.create(USERS, person("ana-admin", email="ana@acme.example", active=True))
    assert await people.inactive(["ana@acme.example"]) == set()


async def test_deleted_people_stay_inactive_until_the_idp_sends_them_again(
    engine: AsyncEngine,
) -> None:
    storage, people = SqlScimStorage(engine, PROVIDER), ScimPeople(engine)
    ana = await storage.create(USERS, person("E77", email="ana@acme.example"))
    await storage.delete(USERS, cast(str, ana.id))
    assert await people.inactive(["ana@acme.example", "e77"]) == {"ana@acme.example", "e77"}
    assert await people.departed() == ["ana@acme.example", "e77"]

    await storage.create(USERS, person("ana@acme.example"))
    assert await people.inactive(["ana@acme.example"]) == set()
    assert await people.departed() == ["e77"]


async def test_a_group_named_like_a_person_is_not_them(engine: AsyncEngine) -> None:
    groups = next(t for t in PROVIDER.resource_types if t.name == "Group")
    group = cast(Any, PROVIDER.model_for(groups))(display_name="ana@acme.example")
    storage = SqlScimStorage(engine, PROVIDER)
    await storage.delete(groups, cast(str, (await storage.create(groups, group)).id))
    assert await ScimPeople(engine).inactive(["ana@acme.example"]) == set()
