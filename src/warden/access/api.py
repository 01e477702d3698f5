"""``/v1/access/tokens``: issue, list and revoke the bearer tokens people use (``admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.access.errors import AccessError, AccessTokenNotFound, Forbidden
from warden.access.models import Role
from warden.access.service import AccessService
from warden.registry.specs import aware, person
from warden.server.auth import AdminAuth


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str = Field(description="the person's email")
    roles: list[Role] = Field(min_length=1, max_length=4)
    description: str = Field(default="", max_length=200)
    expires_at: datetime | None = None

    @field_validator("person")
    @classmethod
    def _person(cls, value: str) -> str:
        return person(value, "person")

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime | None) -> datetime | None:
        return aware(value)


def access_error_response(exc: AccessError) -> JSONResponse:
    code = (
        404 if isinstance(exc, AccessTokenNotFound) else 403 if isinstance(exc, Forbidden) else 400
    )
    return JSONResponse(exc.to_dict(), status_code=code)


def access_router(service: AccessService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1/access", tags=["access"], dependencies=[Depends(admin.actor())])

    @router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Issue a token")
    async def issue(body: TokenRequest, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        record, secret = await service.issue(
            body.person,
            body.roles,
            actor=actor,
            now=datetime.now(UTC),
            description=body.description,
            expires_at=body.expires_at,
        )
        # The only time the secret is shown; Warden keeps its hash.
        return {**record.to_dict(), "token": secret}

    @router.get("/tokens", summary="Issued tokens (never the secrets)")
    async def list_tokens() -> dict[str, Any]:
        return {"tokens": [t.to_dict() for t in await service.tokens()]}

    @router.delete("/tokens/{token_id}", summary="Revoke a token")
    async def revoke(token_id: str, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        return (await service.revoke(token_id, actor=actor, now=datetime.now(UTC))).to_dict()

    return router
