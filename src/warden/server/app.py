"""The HTTP application: AuthZEN, the OAuth 2.1 authorization server, the admin API under
``/v1``, ``/openapi.json``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from warden.access.api import access_error_response, access_router
from warden.access.errors import AccessError
from warden.approvals.api import approval_error_response, approvals_router
from warden.approvals.dashboard import dashboard_router
from warden.approvals.errors import ApprovalError
from warden.audit.api import audit_router
from warden.behavior.api import baseline_error_response, baseline_router
from warden.behavior.errors import BehaviorError
from warden.chains.api import (
    accountability_error_response,
    chain_error_response,
    chains_router,
    revocation_router,
)
from warden.chains.errors import ChainError
from warden.chains.queries import Accountability, AccountabilityError
from warden.decisions.api import authzen_router
from warden.entitlements.api import entitlement_error_response, entitlement_router
from warden.entitlements.errors import EntitlementError
from warden.errors import WardenError
from warden.gateway import egress, mcp
from warden.gateway.api import gateway_router
from warden.gateway.connections.api import connection_error_response
from warden.gateway.connections.errors import ConnectionError_
from warden.kill.api import kill_error_response, kill_router
from warden.kill.errors import KillError
from warden.mandates.api import mandate_error_response, mandates_router
from warden.mandates.errors import MandateError
from warden.mandates.profiles.api import profile_error_response, profile_router
from warden.mandates.profiles.errors import ProfileError
from warden.policy.api import policy_error_response, policy_router
from warden.policy.errors import PolicyError
from warden.policy.models import Bundle, PolicyRevision
from warden.registry.api import registry_error_response, registry_router
from warden.registry.errors import RegistryError
from warden.reviews.api import review_error_response, review_router
from warden.reviews.errors import ReviewError
from warden.runtime import Runtime
from warden.scim.api import scim_app
from warden.server.auth import AdminAuth, oauth_admin_check
from warden.sessions.api import session_error_response, sessions_router
from warden.sessions.errors import SessionError
from warden.shadow.api import shadow_error_response, shadow_router
from warden.shadow.errors import ShadowError
from warden.shadow.models import Surface
from warden.ssf.api import ssf_error_response, ssf_router
from warden.ssf.errors import SsfError
from warden.ssf.receiver_api import receiver_router
from warden.tokens.api import keys_router, oauth_router
from warden.tokens.authorize_api import authorization_routes
from warden.tokens.svid_api import svid_router

log = logging.getLogger("warden.http")


def create_app(runtime: Runtime, *, admin_token: str) -> FastAPI:
    """The ASGI app over an opened runtime."""
    app = FastAPI(
        title="Warden",
        version="0.1.0",
        summary="Should this action, by this agent, proceed right now, in this context?",
        lifespan=_lifespan,
    )
    app.state.on_start = []  # async context managers entered for the server's lifetime
    # The admin API takes the admin token, or a Warden access token with scope
    # `warden:admin` — DPoP-bound ones with their proof (RFC 9449 §7).
    admin = AdminAuth(
        admin_token,
        oauth_admin_check(runtime.tokens.dpop, runtime.verify_access_token),
        issuer=runtime.tokens.settings.issuer,
        people=lambda presented: runtime.access.authenticate(presented, datetime.now(UTC)),
    )

    async def apply(bundle: Bundle, author: str) -> PolicyRevision:
        return await runtime.apply_policies(bundle, author=author)

    decide = partial(runtime.decide, where=Surface.AUTHZEN)
    app.include_router(authzen_router(decide, pdp_url=_base_url))
    # Before the registry's routes: its `/v1/agents/{id:path}` would take `…/entitlements`.
    app.include_router(entitlement_router(runtime.entitlements, runtime.registry, admin))
    app.include_router(registry_router(runtime.registry, admin))
    app.include_router(policy_router(runtime.policies, apply, admin))
    app.include_router(audit_router(runtime.ledger_store, admin))
    app.include_router(access_router(runtime.access, admin))
    app.include_router(mandates_router(runtime.mandates, admin))
    app.include_router(shadow_router(runtime.shadow, admin))
    app.include_router(review_router(runtime.reviews, admin))
    app.include_router(profile_router(runtime.profiles, admin))
    app.include_router(sessions_router(runtime.sessions, admin))
    app.include_router(baseline_router(runtime.behavior, admin))
    accountability = Accountability(runtime.ledger_store, runtime.chains.store)
    app.include_router(chains_router(accountability, admin))
    app.include_router(revocation_router(runtime.chains, admin))
    app.include_router(kill_router(runtime.kills, admin))
    app.include_router(approvals_router(runtime.approvals, admin))
    app.include_router(dashboard_router())  # the approvals page; its data comes from the API
    app.include_router(receiver_router(runtime.ssf_receiver))  # authenticated by signature
    app.include_router(ssf_router(runtime.ssf, admin))  # Shared Signals transmitter
    app.mount("/scim", scim_app(runtime.scim, admin))  # SCIM 2.0 at /scim/v2
    # Enforcement points: the MCP gateway (/mcp/<server>) and HTTP egress (/egress/<name>/…).
    mcp.mount(app, runtime)
    egress.mount(app, runtime, admin)
    app.include_router(gateway_router(runtime))  # for enforcement points outside Warden
    registration = (os.environ.get("WARDEN_REGISTRATION_TOKEN") or admin_token, admin_token)
    app.include_router(oauth_router(runtime.tokens, registration_tokens=registration))
    app.include_router(keys_router(runtime.tokens, admin, on_rotated=runtime.record_key_rotation))
    app.include_router(
        authorization_routes(runtime.tokens, runtime.engine, admin_token=admin_token)
    )
    app.include_router(
        svid_router(
            lambda: runtime.svids,
            admin,
            runtime.agent_is_active,
            on_issued=runtime.record_credential_issued,
        )
    )

    @app.get("/healthz", tags=["health"], summary="Liveness and the active policy revision")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "policy_revision": runtime.view.revision}

    _install_error_handlers(app)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Enter what the mounted parts need running while the server serves (the MCP gateway's
    session managers and upstream connections), and leave them in reverse order."""
    async with contextlib.AsyncExitStack() as stack:
        for start in app.state.on_start:
            await stack.enter_async_context(start())
        yield


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _responding(
    respond: Callable[[Any], JSONResponse],
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return respond(exc)

    return handle


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        field = ".".join(loc)
        text = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        message = f"`{field}`: {text}" if field else text
        return JSONResponse(
            {"error": "invalid_request", "message": message, "field": field},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        body = {"error": code.get(exc.status_code, "http_error"), "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    # Each concept maps its own errors to HTTP (its ``api.py``); nothing else does.
    responders: list[tuple[type[WardenError], Callable[[Any], JSONResponse]]] = [
        (RegistryError, registry_error_response),
        (ShadowError, shadow_error_response),
        (EntitlementError, entitlement_error_response),
        (MandateError, mandate_error_response),
        (AccessError, access_error_response),
        (ReviewError, review_error_response),
        (ProfileError, profile_error_response),
        (PolicyError, policy_error_response),
        (SessionError, session_error_response),
        (AccountabilityError, accountability_error_response),
        (ChainError, chain_error_response),
        (KillError, kill_error_response),
        (ApprovalError, approval_error_response),
        (SsfError, ssf_error_response),
        (BehaviorError, baseline_error_response),
        (ConnectionError_, connection_error_response),
    ]
    for error, respond in responders:
        app.add_exception_handler(error, _responding(respond))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "server_error", "message": "warden could not complete the request"},
            status_code=500,
        )
