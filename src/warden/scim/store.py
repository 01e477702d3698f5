"""SCIM Users and Groups in Warden's database (SQLite or PostgreSQL), so they survive restarts.

Each resource is a row of ``scim_resources``: its SCIM JSON, plus the comparison keys of
the attributes provisioning clients look resources up by (``userName``, ``externalId``,
``displayName``) and what the people directory needs (primary email, ``active``). A search
whose filter compares one of those attributes with ``eq`` — what Okta and Entra send before
every creation — reads only the matching rows; any other search reads the resource type's
rows and evaluates the filter and the sort with scim2-models, exactly as RFC 7644 §3.4.2
defines them.

Passwords are never stored: Warden authenticates no one with them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Union, cast

import orjson
from scim2_models import (
    Meta,
    NotFoundException,
    NotImplementedException,
    Path,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.storage import AsyncScimStorage, SearchPage
from sqlalchemy import ColumnElement, and_, delete, false, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from warden.store.schema import scim_departed_people, scim_resources

Clock = Callable[[], datetime]

LOOKUP_COLUMNS = {
    "userName": scim_resources.c.user_name,
    "externalId": scim_resources.c.external_id,
    "displayName": scim_resources.c.display_name,
}
"""The attributes stored as comparison keys too, so an ``eq`` filter on them is indexed."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlScimStorage(AsyncScimStorage):
    """Users and Groups (any resource type of ``provider``) as rows of ``scim_resources``.

    Follows the :class:`scim2_server.storage.AsyncScimStorage` contract (its test kit runs
    against both stores). Deleting a User also records its userName and primary email in
    ``scim_departed_people``, in the same transaction, for the people directory.
    """

    supports_cursors = False

    def __init__(self, engine: AsyncEngine, provider: ScimProvider, clock: Clock = utcnow):
        self._engine = engine
        self._provider = provider
        self._clock = clock

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(scim_resources.c.body).where(_is(resource_type, resource_id))
                )
            ).first()
        if row is None:
            raise _not_found(resource_type, resource_id)
        return self._load(resource_type.name, row.body)

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if search_request.cursor is not None:
            raise NotImplementedException(detail="pagination by cursor is not supported")
        names = list(dict.fromkeys(str(rt.name) for rt in resource_types))
        where: ColumnElement[bool] = scim_resources.c.resource_type.in_(names)
        lookup = self._lookup(names, search_request.filter)
        if lookup is not None:
            where = and_(where, lookup)
        columns = scim_resources.c.resource_type, scim_resources.c.body
        async with self._engine.connect() as conn:
            if search_request.sort_by is None and (
                search_request.filter is None or lookup is not None
            ):
                # The WHERE clause is the whole filter: count and page in the database, in
                # the order page_of gives (by id).
                total = await conn.scalar(select(func.count()).where(where))
                start = search_request.start_index_0 or 0
                query = select(*columns).where(where).order_by(scim_resources.c.id).offset(start)
                if search_request.count is not None:
                    query = query.limit(search_request.count)
                rows = await conn.execute(query)
                page = [self._load(r.resource_type, r.body) for r in rows]
                return SearchPage(int(total or 0), page)
            rows = await conn.execute(select(*columns).where(where))
            found = [self._load(r.resource_type, r.body) for r in rows]
        return page_of(search_request, found)

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        resource = _without_password(resource)
        resource.id = secrets.token_hex(16)
        now = self._clock()
        resource.meta = Meta(
            resource_type=resource_type.name,
            created=now,
            last_modified=now,
            version=_new_version(),
        )
        row = {
            "id": resource.id,
            "resource_type": resource_type.name,
            "created_at": now.isoformat(),
            **self._columns(resource),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(scim_resources).values(**row))
        except IntegrityError:
            raise UniquenessException(detail="the userName is already taken") from None
        return self._load(resource_type.name, row["body"])

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        resource_id = cast(str, resource.id)
        resource = _without_password(resource)
        try:
            async with self._engine.begin() as conn:
                row = await self._current(conn, resource_type, resource_id, expected_version)
                now = self._clock()
                resource.meta = Meta(
                    resource_type=resource_type.name,
                    created=datetime.fromisoformat(row.created_at),
                    last_modified=now,
                    version=_new_version(),
                )
                columns = self._columns(resource)
                await conn.execute(
                    update(scim_resources).where(_is(resource_type, resource_id)).values(**columns)
                )
        except IntegrityError:
            raise UniquenessException(detail="the userName is already taken") from None
        return self._load(resource_type.name, columns["body"])

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        async with self._engine.begin() as conn:
            row = await self._current(conn, resource_type, resource_id, expected_version)
            await conn.execute(delete(scim_resources).where(_is(resource_type, resource_id)))
            if resource_type.name == "User":
                await _record_departure(
                    conn, resource_id, (row.user_name, row.email), self._clock()
                )

    async def _current(
        self,
        conn: AsyncConnection,
        resource_type: ResourceType,
        resource_id: str,
        expected_version: str | None,
    ) -> Any:
        """The stored resource's row; raises when it is missing or has changed."""
        row = (
            await conn.execute(
                select(
                    scim_resources.c.version,
                    scim_resources.c.created_at,
                    scim_resources.c.user_name,
                    scim_resources.c.email,
                )
                .where(_is(resource_type, resource_id))
                .with_for_update()
            )
        ).first()
        if row is None:
            raise _not_found(resource_type, resource_id)
        if expected_version is not None and row.version != expected_version:
            raise PreconditionFailedException(
                detail=f"{resource_type.name} `{resource_id}` has changed (version {row.version})"
            )
        return row

    def _columns(self, resource: Resource[Any]) -> dict[str, Any]:
        assert resource.meta is not None and resource.meta.last_modified is not None
        return {
            "user_name": _key(resource, "userName"),
            "email": primary_email(resource),
            "external_id": _key(resource, "externalId"),
            "display_name": _key(resource, "displayName"),
            "active": getattr(resource, "active", None),
            "version": resource.meta.version,
            "updated_at": resource.meta.last_modified.isoformat(),
            "body": orjson.dumps(resource.model_dump(mode="json")).decode(),
        }

    def _load(self, name: str | None, body: str | None) -> Resource[Any]:
        model = cast(type[Resource[Any]], self._provider.model_for(str(name)))
        return model.model_validate(orjson.loads(str(body)))

    def _lookup(
        self, names: list[str], scim_filter: ScimFilter[Any] | None
    ) -> ColumnElement[bool] | None:
        """The WHERE clause a filter is, when it compares one looked-up attribute (or
        ``active``) with ``eq``; None for any other filter."""
        if scim_filter is None or len(names) != 1 or scim_filter.model is None:
            return None
        node = scim_filter.ast
        if not (isinstance(node, Comparison) and node.op == CompareOperator.eq):
            return None
        binding = scim_filter.resolve_comparison(node.attr_path, strict=False)
        if binding is None:
            return None
        model = self._provider.model_for(names[0])
        if isinstance(node.value, bool) and _binding(model, "active") == binding:
            return scim_resources.c.active == node.value
        if not isinstance(node.value, str):
            return None
        for attribute, column in LOOKUP_COLUMNS.items():
            if _binding(model, attribute) == binding:
                try:
                    key: str = binding.comparable(node.value)
                except ValueError:
                    return false()  # a value no resource can hold
                return column == key
        return None


def page_of(search_request: SearchRequest[Any], resources: Sequence[Resource[Any]]) -> SearchPage:
    """Filter, sort and page ``resources`` as RFC 7644 §3.4.2 says (index pagination)."""
    scim_filter = search_request.filter
    if scim_filter is not None and not scim_filter.models and resources:
        # A search at the root: the filter applies to each resource with its own model.
        models = tuple(dict.fromkeys(type(r) for r in resources))
        scim_filter = ScimFilter[Union[models]](str(scim_filter))  # type: ignore[valid-type]  # noqa: UP007
    found = [r for r in resources if scim_filter is None or scim_filter.match(r)]
    found = sorted(found, key=lambda r: str(r.id))  # a stable order when none is asked
    if search_request.sort_by is not None:
        found = search_request.sort(found)
    start = search_request.start_index_0 or 0
    stop = None if search_request.count is None else start + search_request.count
    return SearchPage(len(found), found[start:stop])


def primary_email(resource: Resource[Any]) -> str | None:
    """A User's primary email, lower-case (the only one if none is marked primary)."""
    emails = [e for e in getattr(resource, "emails", None) or [] if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if len(emails) == 1 else None)
    return str(chosen.value).lower() if chosen is not None else None


def identities(resource: Resource[Any]) -> set[str]:
    """How the registry may name a User as an agent's owner: userName and primary email."""
    found = {primary_email(resource), _key(resource, "userName")}
    return {person for person in found if person}


async def _record_departure(
    conn: AsyncConnection, resource_id: str, people: Sequence[str | None], now: datetime
) -> None:
    for person in {p for p in people if p}:
        await conn.execute(
            delete(scim_departed_people).where(scim_departed_people.c.person == person)
        )
        await conn.execute(
            insert(scim_departed_people).values(
                person=person, resource_id=resource_id, deleted_at=now.isoformat()
            )
        )


def _is(resource_type: ResourceType, resource_id: str) -> ColumnElement[bool]:
    return and_(
        scim_resources.c.id == resource_id,
        scim_resources.c.resource_type == resource_type.name,
    )


def _not_found(resource_type: ResourceType, resource_id: str) -> NotFoundException:
    return NotFoundException(detail=f"no {resource_type.name} `{resource_id}`")


def _binding(model: Any, attribute: str) -> Any:
    try:
        return Path[model](attribute).resolve()
    except Exception:
        return None


def _key(resource: Resource[Any], attribute: str) -> str | None:
    """The comparison key of a single-valued string attribute (as filters compare it)."""
    binding = _binding(type(resource), attribute)
    value = getattr(resource, binding.field_name, None) if binding is not None else None
    if not isinstance(value, str):
        return None
    try:
        key: str = binding.comparable(value)
    except ValueError:
        return None
    return key


def _without_password(resource: Resource[Any]) -> Resource[Any]:
    """A copy of ``resource`` without its password: Warden keeps none."""
    copy = resource.model_copy(deep=True)
    if getattr(copy, "password", None) is not None:
        copy.password = None  # type: ignore[attr-defined]
    return copy


def _new_version() -> str:
    return f'W/"{secrets.token_hex(8)}"'
