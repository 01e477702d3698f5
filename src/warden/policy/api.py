"""HTTP routes for policy bundles: ``/v1/policies``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.access.models import Role
from warden.policy.bundle import default_schema
from warden.policy.errors import PolicyError, PolicyValidationError
from warden.policy.models import Bundle, PolicyRevision
from warden.policy.service import PolicyService
from warden.server.auth import AdminAuth


class BundleBody(BaseModel):
    """A bundle sent over HTTP: the files of a bundle folder."""

    model_config = ConfigDict(extra="forbid")

    policies: dict[str, str] = Field(description="file name → Cedar policy text")
    schema_: str | None = Field(default=None, alias="schema", description="Cedar schema text")
    entities: list[dict[str, Any]] = Field(default_factory=list, description="Cedar JSON entities")
    source: str = "api"

    def to_bundle(self) -> Bundle:
        schema = self.schema_ if self.schema_ is not None else default_schema()
        return Bundle(self.policies, schema, tuple(self.entities), self.source)


def policy_error_response(exc: PolicyError) -> JSONResponse:
    body: dict[str, Any] = exc.to_dict()
    if isinstance(exc, PolicyValidationError):
        body["problems"] = [p.to_dict() for p in exc.problems]
    return JSONResponse(body, status_code=status.HTTP_400_BAD_REQUEST)


def revision_dict(revision: PolicyRevision, *, files: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "revision": revision.revision,
        "created_at": revision.created_at.isoformat(),
        "author": revision.author,
        "digest": revision.digest,
        "source": revision.bundle.source,
        "files": sorted(revision.bundle.policies),
    }
    if files:
        out["policies"] = dict(revision.bundle.policies)
        out["schema"] = revision.bundle.schema
        out["entities"] = list(revision.bundle.entities)
    return out


def policy_router(
    service: PolicyService,
    apply: Callable[[Bundle, str], Awaitable[PolicyRevision]],
    admin: AdminAuth,
) -> APIRouter:
    """Reading and validating need ``admin`` or ``auditor``; applying needs ``admin``."""
    readers = Depends(admin.actor(Role.ADMIN, Role.AUDITOR))
    router = APIRouter(prefix="/v1/policies", tags=["policies"], dependencies=[readers])

    @router.post("/validate", summary="Validate a bundle without applying it")
    async def validate(body: BundleBody) -> dict[str, Any]:
        problems = await service.validate(body.to_bundle())
        return {"valid": not problems, "problems": [p.to_dict() for p in problems]}

    @router.post(
        "", status_code=status.HTTP_201_CREATED, summary="Apply a bundle as a new revision"
    )
    async def apply_bundle(body: BundleBody, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        return revision_dict(await apply(body.to_bundle(), actor))

    @router.get("", summary="Revision history, newest first")
    async def history() -> dict[str, Any]:
        return {"revisions": [revision_dict(r) for r in await service.history()]}

    @router.get("/active", summary="The active revision with its files")
    async def active() -> dict[str, Any]:
        revision = await service.active()
        if revision is None:
            raise HTTPException(404, detail="no policy revision is active")
        return revision_dict(revision, files=True)

    @router.get("/{revision}", summary="One revision with its files")
    async def get(revision: int) -> dict[str, Any]:
        found = await service.get(revision)
        if found is None:
            raise HTTPException(404, detail=f"no policy revision `{revision}`")
        return revision_dict(found, files=True)

    return router
