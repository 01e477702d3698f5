"""HTTP routes of the authorization server: parse, call :class:`AuthorizationServer`, map
errors to responses.

- ``GET /.well-known/oauth-authorization-server`` (RFC 8414 §3), ``GET /.well-known/jwks.json``
- ``POST /oauth2/token`` (OAuth 2.1 §3.2), ``/oauth2/introspect`` (RFC 7662),
  ``/oauth2/revoke`` (RFC 7009), ``/oauth2/register`` (RFC 7591)
- ``GET /v1/keys`` and ``POST /v1/keys/rotate`` for administrators

Every response of an ``/oauth2`` endpoint carries ``Cache-Control: no-store`` and
``Pragma: no-cache`` (OAuth 2.1 §3.2.3, RFC 6749 §5.1). OAuth errors are JSON
``{error, error_description}`` with the RFC's status; ``invalid_client`` is 401 with
``WWW-Authenticate: Basic`` (OAuth 2.1 §3.2.4). Anything unexpected is ``server_error`` 500,
logged by exception type only: the request may hold secrets.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from warden.access.models import Role
from warden.server.auth import AdminAuth
from warden.tokens import rfc8414, rfc9728
from warden.tokens.clients import REALM
from warden.tokens.endpoint import MAX_FORM_BYTES, Form, parse_form
from warden.tokens.errors import InvalidClient, InvalidClientMetadata, InvalidRequest, OAuthError
from warden.tokens.keys import SigningKey
from warden.tokens.service import AuthorizationServer

log = logging.getLogger("warden.oauth")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def oauth_response(body: Mapping[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status, headers={**NO_STORE, **headers})


def oauth_error_response(error: OAuthError) -> JSONResponse:
    headers = dict(error.headers)
    if isinstance(error, InvalidClient):
        headers.setdefault("WWW-Authenticate", f'Basic realm="{REALM}"')
    return oauth_response(error.to_dict(), error.status, **headers)


async def _guarded(path: str, work: Callable[[], Awaitable[Response]]) -> Response:
    """Run ``work``; OAuth errors become their responses, anything else a logged 500."""
    try:
        return await work()
    except OAuthError as error:
        return oauth_error_response(error)
    except Exception as exc:
        log.error("unexpected %s on POST %s", type(exc).__name__, path)
        body = {"error": "server_error", "error_description": "warden could not complete it"}
        return oauth_response(body, 500)


async def _form(request: Request) -> Form:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise InvalidRequest(f"the request body must be at most {MAX_FORM_BYTES} bytes")
    return parse_form(await request.body(), request.headers.get("content-type"))


def oauth_router(
    server: AuthorizationServer, *, registration_tokens: tuple[str, ...], clock: Clock = _utc_now
) -> APIRouter:
    """The public authorization server routes."""
    router = APIRouter(tags=["oauth"])

    @router.get(rfc8414.METADATA_PATH, summary="Authorization server metadata (RFC 8414)")
    async def metadata() -> JSONResponse:
        return JSONResponse(server.metadata())

    @router.get(rfc9728.PATH, summary="Protected resource metadata of Warden's API (RFC 9728)")
    async def protected_resource() -> JSONResponse:
        return JSONResponse(rfc9728.metadata(server.settings.issuer, server.dpop.algs))

    @router.get(rfc8414.JWKS_PATH, summary="Public signing keys (RFC 7517)")
    async def jwks() -> JSONResponse:
        return JSONResponse(server.jwks(clock()), headers={"Cache-Control": "max-age=300"})

    @router.post(rfc8414.TOKEN_PATH, summary="Token endpoint (OAuth 2.1 §3.2)")
    async def token(request: Request) -> Response:
        async def work() -> Response:
            form = await _form(request)
            issued = await server.token(
                form,
                authorization=request.headers.get("authorization"),
                dpop=request.headers.getlist("dpop"),
                now=clock(),
            )
            return oauth_response(issued.to_dict())

        return await _guarded(rfc8414.TOKEN_PATH, work)

    @router.post(rfc8414.INTROSPECT_PATH, summary="Token introspection (RFC 7662)")
    async def introspect(request: Request) -> Response:
        async def work() -> Response:
            form = await _form(request)
            auth = request.headers.get("authorization")
            return oauth_response(await server.introspect(form, authorization=auth, now=clock()))

        return await _guarded(rfc8414.INTROSPECT_PATH, work)

    @router.post(rfc8414.REVOKE_PATH, summary="Token revocation (RFC 7009)")
    async def revoke(request: Request) -> Response:
        async def work() -> Response:
            form = await _form(request)
            await server.revoke(
                form, authorization=request.headers.get("authorization"), now=clock()
            )
            return Response(status_code=200, headers=NO_STORE)

        return await _guarded(rfc8414.REVOKE_PATH, work)

    @router.post(rfc8414.REGISTER_PATH, status_code=201, summary="Client registration (RFC 7591)")
    async def register(request: Request) -> Response:
        if not _bearer_matches(request.headers.get("authorization"), registration_tokens):
            body = {
                "error": "invalid_token",
                "error_description": "an initial access token is required",
            }
            challenge = f'Bearer realm="{REALM}", error="invalid_token"'
            return oauth_response(body, 401, **{"WWW-Authenticate": challenge})

        async def work() -> Response:
            metadata = _json(await request.body())
            return oauth_response(await server.register(metadata, clock()), 201)

        return await _guarded(rfc8414.REGISTER_PATH, work)

    return router


def _bearer_matches(authorization: str | None, tokens: tuple[str, ...]) -> bool:
    """RFC 6750 §2.1 bearer credentials equal to one of ``tokens`` (constant time)."""
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    given = presented.strip().encode()
    return any(hmac.compare_digest(given, t.encode()) for t in tokens if t)


def _json(body: bytes) -> Any:
    if len(body) > MAX_FORM_BYTES:
        raise InvalidClientMetadata(f"client metadata must be at most {MAX_FORM_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidClientMetadata("client metadata must be a json object") from exc


def keys_router(
    server: AuthorizationServer,
    admin: AdminAuth,
    *,
    clock: Clock = _utc_now,
    on_rotated: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
) -> APIRouter:
    """List the OAuth signing keys (``admin``, ``auditor``), rotate them (``admin``)."""
    readers = Depends(admin.actor(Role.ADMIN, Role.AUDITOR))
    router = APIRouter(prefix="/v1/keys", tags=["keys"], dependencies=[readers])

    @router.get("", summary="List the token signing keys (public parts)")
    async def list_keys() -> dict[str, Any]:
        now = clock()
        return {"keys": [key_summary(k, now) for k in server.keys.all_keys()]}

    @router.post("/rotate", summary="Rotate the token signing key")
    async def rotate(actor: str = Depends(admin.actor())) -> dict[str, Any]:
        now = clock()
        summary = key_summary(await server.keys.rotate(now), now)
        if on_rotated is not None:  # the audit ledger: who rotated, which kid (public)
            await on_rotated({"actor": actor, "kid": summary["kid"], "alg": summary["alg"]})
        return summary

    return router


def key_summary(key: SigningKey, now: datetime) -> dict[str, Any]:
    """What an administrator sees of a key: never the private part."""
    return {
        "kid": key.kid,
        "alg": key.alg,
        "created_at": key.created_at.isoformat(),
        "retired_at": None if key.retired_at is None else key.retired_at.isoformat(),
        "publish_until": None if key.publish_until is None else key.publish_until.isoformat(),
        "signing": key.retired_at is None,
        "published": key.published_at(now),
    }
