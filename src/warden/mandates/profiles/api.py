"""HTTP routes of purpose profiles: ``/v1/profiles``.

Reading (the published JSON Schema too, at ``/v1/profiles/schema``) and validating need any
role; applying a new version needs ``admin``. A profile is
sent as YAML (``Content-Type: application/yaml`` or ``text/*``) or as JSON ``{"yaml": "..."}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse

from warden.mandates.profiles.errors import (
    ProfileError,
    ProfileInvalid,
    ProfileNotFound,
    ProfileProblem,
)
from warden.mandates.profiles.loader import profile_schema
from warden.mandates.profiles.profile import PurposeProfile
from warden.mandates.profiles.service import ProfileService
from warden.mandates.profiles.store import ProfileRecord
from warden.server.auth import AdminAuth

MAX_PROFILE_BYTES = 256 * 1024
_SOURCE = "request body"


def profile_error_response(exc: ProfileError) -> JSONResponse:
    code = 404 if isinstance(exc, ProfileNotFound) else 400
    return JSONResponse(exc.to_dict(), status_code=code)


def profile_dict(profile: PurposeProfile, record: ProfileRecord | None = None) -> dict[str, Any]:
    """A profile as JSON: its document, version and (when known) who applied it."""
    out: dict[str, Any] = {**profile.document, "version": profile.version, "digest": profile.digest}
    if record is not None:
        out |= {"author": record.author, "created_at": record.created_at.isoformat()}
    return out


def profile_router(service: ProfileService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1/profiles", tags=["profiles"], dependencies=[Depends(admin)])

    @router.get("", summary="The active purpose profiles (newest version of each)")
    async def list_profiles() -> dict[str, Any]:
        return {"profiles": [profile_dict(p, service.record(p.name)) for p in service.active()]}

    @router.get("/schema", summary="The published JSON Schema of a purpose profile")
    async def schema() -> dict[str, Any]:
        return profile_schema()

    @router.post("/validate", summary="Validate a profile without applying it")
    async def validate(request: Request) -> dict[str, Any]:
        try:
            profile = service.validate(await _profile_text(request), _SOURCE)
        except ProfileInvalid as exc:
            return {"valid": False, "problems": [p.to_dict() for p in exc.problems]}
        return {"valid": True, "problems": [], "name": profile.name}

    @router.post(
        "", status_code=status.HTTP_201_CREATED, summary="Apply a profile as its next version"
    )
    async def apply(request: Request, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        text = await _profile_text(request)
        profile = await service.apply(text, actor=actor, now=datetime.now(UTC), source=_SOURCE)
        return profile_dict(profile, service.record(profile.name))

    @router.get("/{name}", summary="One profile: the newest version, or `?version=`")
    async def get(name: str, version: int | None = Query(None, ge=1)) -> dict[str, Any]:
        profile = await service.get(name, version)
        record = await service.text(name, profile.version)
        return {**profile_dict(profile, record), "yaml": record.yaml}

    @router.get("/{name}/history", summary="Every version of a profile, newest first")
    async def history(name: str) -> dict[str, Any]:
        return {"name": name, "versions": [r.to_dict() for r in await service.history(name)]}

    return router


async def _profile_text(request: Request) -> str:
    """The YAML of a request body: raw YAML/text, or JSON ``{"yaml": "..."}``."""
    body = await request.body()
    if len(body) > MAX_PROFILE_BYTES:
        raise _invalid(f"the profile is larger than {MAX_PROFILE_BYTES // 1024} KiB")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _invalid("the body is not valid JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("yaml"), str):
            raise _invalid('send the profile as `{"yaml": "..."}` or as a YAML body')
        text: str = document["yaml"]
        return text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("the profile is not UTF-8 text") from None


def _invalid(message: str) -> ProfileInvalid:
    return ProfileInvalid([ProfileProblem(_SOURCE, 0, 0, message)])
