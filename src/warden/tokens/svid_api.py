"""HTTP routes of the SPIFFE issuer: the trust bundle and credentials for registered agents.

- ``GET /v1/spiffe/bundle``: the SPIFFE bundle (SPIFFE Trust Domain and Bundle §4). Public: a
  bundle holds only public keys and CA certificates.
- ``POST /v1/agents/{agent_id}/credentials`` (admin): an X509-SVID (X509-SVID §2 to §4) or a
  JWT-SVID (JWT-SVID §2, §3) for a registered agent. The X.509 private key is in this one
  response (``Cache-Control: no-store``) and nowhere else.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.server.auth import AdminAuth
from warden.tokens.svid import MAX_JWT_TTL, MAX_X509_TTL, SvidAuthority, SvidError

AgentCheck = Callable[[str], bool | Awaitable[bool]]
IssuedHook = Callable[[Mapping[str, Any]], Awaitable[None]]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class CredentialRequest(BaseModel):
    """What to issue. ``ttl`` defaults to one hour (X.509) or five minutes (JWT)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["x509", "jwt"]
    audience: list[str] = Field(default_factory=list, max_length=16)
    ttl: int | None = Field(default=None, ge=1, le=max(MAX_X509_TTL, MAX_JWT_TTL))


def svid_router(
    authority_getter: Callable[[], SvidAuthority],
    admin: AdminAuth,
    agent_exists: AgentCheck,
    *,
    on_issued: IssuedHook | None = None,
) -> APIRouter:
    """The bundle and credential routes.

    ``agent_exists(agent_id)`` (sync or async) says whether the agent may hold credentials:
    registered and active; otherwise the answer is 404. ``on_issued`` receives what was
    issued (agent, kind, expiry, the certificate's serial or the token's audience; never a
    key or a token) for the audit ledger.
    """
    router = APIRouter(tags=["spiffe"])

    @router.get("/v1/spiffe/bundle", summary="The SPIFFE trust bundle (JWKS)")
    async def bundle() -> JSONResponse:
        document = authority_getter().bundle()
        cache = {"Cache-Control": f"public, max-age={document['spiffe_refresh_hint']}"}
        return JSONResponse(document, media_type="application/json", headers=cache)

    @router.post(
        "/v1/agents/{agent_id:path}/credentials",
        summary="Issue an X509-SVID or a JWT-SVID to a registered agent",
        dependencies=[Depends(admin.actor())],
    )
    async def issue(agent_id: str, request: CredentialRequest) -> JSONResponse:
        found = agent_exists(agent_id)
        if not (await found if inspect.isawaitable(found) else found):
            body = {"error": "agent_not_found", "message": f"no active agent `{agent_id}`"}
            return JSONResponse(body, status_code=404)
        try:
            issued = issue_credential(authority_getter(), agent_id, request, datetime.now(UTC))
        except SvidError as exc:
            return JSONResponse(exc.to_dict(), status_code=400)
        if on_issued is not None:
            await on_issued(issued_event(issued))
        return JSONResponse(issued, headers=_NO_STORE)

    return router


def issue_credential(
    authority: SvidAuthority, agent_id: str, request: CredentialRequest, now: datetime
) -> dict[str, Any]:
    """Issue what ``request`` asks for; the response body (shared with the local CLI)."""
    if request.kind == "jwt":
        if not request.audience:
            raise SvidError("a jwt-svid needs at least one audience", code="invalid_request")
        ttl = request.ttl or 300
        token = authority.mint_jwt_svid(agent_id, request.audience, now, ttl=ttl)
        return {
            "kind": "jwt",
            "spiffe_id": agent_id,
            "token": token,
            "audience": request.audience,
            "expires_at": _z(int(now.timestamp()) + ttl),
        }
    svid = authority.mint_x509_svid(agent_id, now, ttl=request.ttl or 3600)
    return {
        "kind": "x509",
        "spiffe_id": agent_id,
        "certificate": svid.cert_pem,
        "private_key": svid.key_pem,
        "chain": svid.chain_pem,
        "bundle": authority.bundle_pem(),
        "serial": svid.serial,
        "expires_at": svid.expires_at.isoformat().replace("+00:00", "Z"),
    }


def issued_event(issued: Mapping[str, Any]) -> dict[str, Any]:
    """What the ledger may keep of an issued credential: no key, no token."""
    event = {k: issued[k] for k in ("kind", "spiffe_id", "expires_at")}
    if issued["kind"] == "jwt":
        event["audience"] = list(issued["audience"])
    else:
        event["serial"] = issued["serial"]
    return event


def _z(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
