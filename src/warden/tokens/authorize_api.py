"""HTTP routes of the authorization endpoint: ``GET`` and ``POST /oauth2/authorize``.

``GET`` takes an authorization request (OAuth 2.1 §4.1.1) and shows the consent page, an error
page (bad client or redirect URI: never a redirect, §4.1.2.1) or redirects back with an error.
``POST`` takes the consent form (``application/x-www-form-urlencoded``) and redirects with a
code or ``access_denied`` (303, so the browser follows with a GET; OAuth 2.1 §7.5.2 forbids 307).

Who the person is comes from a development stand-in until OIDC login arrives:
``WARDEN_DEV_USER`` (every consent is that user's) or, without it, a person's name vouched for
by Warden's admin token typed into the form. See :mod:`warden.tokens.authorize`.

Every response forbids caching and framing (``Cache-Control: no-store``,
``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``) and sends no ``Referer`` onwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.tokens.authorize import (
    CONSENT_COOKIE,
    CONSENT_TTL,
    STYLE_HASH,
    AuthorizationEndpoint,
    ConsentPage,
    ErrorPage,
    Outcome,
    PersonSignIn,
    Redirect,
)
from warden.tokens.codes import CodeStore

if TYPE_CHECKING:
    from warden.tokens.service import AuthorizationServer

MAX_FORM_BYTES = 64 * 1024
PATH = "/oauth2/authorize"


def sign_in_from_env(admin_token: str) -> PersonSignIn:
    """The development stand-in for a login: ``WARDEN_DEV_USER`` when set, else the admin
    token vouches for the person named in the form."""
    return PersonSignIn(admin_token=admin_token, dev_user=os.environ.get("WARDEN_DEV_USER") or None)


def authorization_routes(
    server: AuthorizationServer,
    engine: AsyncEngine,
    *,
    admin_token: str,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """``/oauth2/authorize`` over the authorization server's clients, replay cache and agent
    directory, with codes in ``engine``'s store and the development sign-in from the
    environment (:func:`sign_in_from_env`)."""
    endpoint = AuthorizationEndpoint(
        settings=server.settings,
        clients=server.clients,
        codes=CodeStore(engine),
        replay=server.replay,
        sign_in=sign_in_from_env(admin_token),
        agents=server.agents,
    )
    return authorize_router(endpoint, clock=clock)


def authorize_router(
    endpoint: AuthorizationEndpoint, *, clock: Callable[[], datetime] | None = None
) -> APIRouter:
    """The ``/oauth2/authorize`` routes over ``endpoint``; ``clock`` defaults to UTC now."""
    now = clock or (lambda: datetime.now(UTC))
    router = APIRouter(tags=["oauth"])

    @router.get(PATH, response_class=HTMLResponse, summary="OAuth 2.1 authorization request")
    async def authorize(request: Request) -> Response:
        outcome = await endpoint.begin(
            request.query_params.multi_items(),
            cookie=request.cookies.get(CONSENT_COOKIE),
            now=now(),
        )
        return _respond(outcome, request, redirect_status=302)

    @router.post(PATH, response_class=HTMLResponse, summary="The person's consent decision")
    async def consent(request: Request) -> Response:
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            return _respond(ErrorPage("the consent form must be form-encoded", 415), request)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _respond(ErrorPage("the consent form is too large", 413), request)
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return _respond(ErrorPage("the consent form is not valid"), request)
        outcome = await endpoint.decide(form, cookie=request.cookies.get(CONSENT_COOKIE), now=now())
        return _respond(outcome, request, redirect_status=303)

    return router


def _respond(outcome: Outcome, request: Request, *, redirect_status: int = 303) -> Response:
    response: Response
    if isinstance(outcome, Redirect):
        response = RedirectResponse(outcome.location, status_code=redirect_status)
        _secure(response, form_action="'none'")
    elif isinstance(outcome, ConsentPage):
        response = HTMLResponse(outcome.html, status_code=outcome.status)
        _secure(response, form_action=f"'self' {outcome.form_action}")
        response.set_cookie(
            CONSENT_COOKIE,
            outcome.cookie,
            max_age=CONSENT_TTL,
            path=PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    else:
        response = HTMLResponse(outcome.html(), status_code=outcome.status)
        _secure(response, form_action="'none'")
    return response


def _secure(response: Response, *, form_action: str) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src '{STYLE_HASH}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
