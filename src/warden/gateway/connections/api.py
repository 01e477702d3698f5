"""HTTP routes of connections (role ``admin``; listing also ``auditor``):

- ``POST /v1/connections``: create one (:class:`NewConnection`; ``secret`` is write-only);
- ``GET /v1/connections``: all of them; ``GET /v1/connections/{name}``: one;
- ``PUT /v1/connections/{name}``: replace one (``secret`` omitted keeps the stored one);
- ``DELETE /v1/connections/{name}``: ``{"deleted": name}``;
- ``POST /v1/connections/rekey``: re-encrypt every secret under the first key of
  ``WARDEN_SECRET_KEYS`` (after putting a new key in front; then the old one can go).

A response never holds a secret, only ``has_secret`` and the ``key_id`` that encrypts it.
Errors: 400 ``invalid_connection`` (``field`` names the part at fault), 404
``connection_not_found``, 409 ``connection_exists``, 503 ``secrets_unavailable`` (no key, or
none that decrypts a stored secret), 502 ``upstream_auth_failed``.

Wiring: the egress gateway's ``mount`` includes :func:`connections_router`; ``app.py``
registers :func:`connection_error_response` for :class:`ConnectionError_`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from warden.access.models import Role
from warden.gateway.connections.errors import (
    ConnectionError_,
    ConnectionExists,
    ConnectionNotFound,
    InvalidConnection,
    SecretsUnavailable,
    UpstreamAuthFailed,
)
from warden.gateway.connections.service import ConnectionService
from warden.gateway.connections.spec import ConnectionSpec, NewConnection
from warden.server.auth import AdminAuth

_STATUS: dict[type[ConnectionError_], int] = {
    InvalidConnection: 400,
    ConnectionNotFound: 404,
    ConnectionExists: 409,
    UpstreamAuthFailed: 502,
    SecretsUnavailable: 503,
}


def connection_error_response(exc: ConnectionError_) -> JSONResponse:
    """The HTTP answer to a connection error (its message never holds a secret)."""
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=status)


def connections_router(service: ConnectionService, admin: AdminAuth) -> APIRouter:
    """``/v1/connections``: the admin API of the gateways' upstreams and their secrets."""
    router = APIRouter(prefix="/v1/connections", tags=["connections"])
    readers = admin.require(Role.ADMIN, Role.AUDITOR)

    @router.post("", status_code=201, summary="Create a connection (its secret is write-only)")
    async def create(body: NewConnection, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        created = await service.create(
            body.connection(), body.plain_secret(), actor=actor, now=datetime.now(UTC)
        )
        return created.to_dict()

    @router.get("", summary="Every connection", dependencies=[Depends(readers)])
    async def list_connections() -> dict[str, Any]:
        return {"connections": [c.to_dict() for c in service.list()]}

    @router.post("/rekey", summary="Re-encrypt every secret under the first configured key")
    async def rekey(actor: str = Depends(admin.actor())) -> dict[str, Any]:
        done = await service.rekey(actor=actor, now=datetime.now(UTC))
        return {"rekeyed": done, "key_id": service.box.key_id}

    @router.get("/{name}", summary="One connection", dependencies=[Depends(readers)])
    async def show(name: str) -> dict[str, Any]:
        return (await service.get(name)).to_dict()

    @router.put("/{name}", summary="Replace a connection (no `secret`: keep the stored one)")
    async def replace(
        name: str, body: ConnectionSpec, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        updated = await service.update(
            body.connection(name), body.plain_secret(), actor=actor, now=datetime.now(UTC)
        )
        return updated.to_dict()

    @router.delete("/{name}", summary="Delete a connection and its secret")
    async def remove(name: str, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        await service.delete(name, actor=actor)
        return {"deleted": name}

    return router
