"""Authentication of Warden's own admin API (``/v1``).

Until OIDC and roles arrive, the admin API takes one bearer token: ``WARDEN_ADMIN_TOKEN``,
or a random token generated on first start into ``<WARDEN_HOME>/admin-token`` (mode 0600).
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status

from warden.tokens import rfc9728
from warden.tokens.errors import OAuthError
from warden.tokens.resource import TokenVerifier, authenticate
from warden.tokens.rfc9449 import DpopVerifier

DEFAULT_HOME = Path(".warden")


def warden_home() -> Path:
    return Path(os.environ.get("WARDEN_HOME") or DEFAULT_HOME)


def token_path() -> Path:
    return warden_home() / "admin-token"


def load_or_create_admin_token() -> str:
    """The admin token: from the environment, else the token file (created if missing)."""
    from_env = os.environ.get("WARDEN_ADMIN_TOKEN")
    if from_env:
        return from_env
    path = token_path()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def read_admin_token() -> str | None:
    """The token a local client should present, if one can be found."""
    from_env = os.environ.get("WARDEN_ADMIN_TOKEN") or os.environ.get("WARDEN_TOKEN")
    if from_env:
        return from_env
    path = token_path()
    return path.read_text().strip() if path.exists() else None


ADMIN_SCOPE = rfc9728.ADMIN_SCOPE
OAuthCheck = Callable[[Request], Awaitable[Mapping[str, Any]]]


class AdminAuth:
    """A FastAPI dependency that admits requests bearing the admin token, or — when an
    ``oauth`` check is given — an access token Warden issued with scope ``warden:admin``:
    DPoP-bound tokens with their proof (RFC 9449 §7), unbound ones as Bearer."""

    def __init__(
        self, token: str, oauth: OAuthCheck | None = None, *, issuer: str | None = None
    ) -> None:
        self._token = token.encode()
        self._oauth = oauth
        # RFC 9728 §5.1: point clients at the protected resource metadata when Warden is
        # also the authorization server.
        self._challenge = rfc9728.challenge(issuer) if issuer else 'Bearer realm="warden"'

    async def __call__(self, request: Request) -> str:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if self._oauth is not None and _is_access_token(scheme, presented, self._token):
            claims = await self._oauth(request)
            return f"oauth:{claims.get('sub', '?')}"
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="the admin api needs `Authorization: Bearer <admin token>` "
                f"or an access token with scope `{ADMIN_SCOPE}`",
                headers={"WWW-Authenticate": self._challenge},
            )
        if not hmac.compare_digest(presented.encode(), self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="the admin token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="warden", error="invalid_token"'},
            )
        return "admin"


def _is_access_token(scheme: str, presented: str, admin_token: bytes) -> bool:
    """A DPoP-scheme credential, or a Bearer JWT that is not the admin token."""
    if scheme.lower() == "dpop":
        return True
    is_jwt = presented.count(".") == 2
    return scheme.lower() == "bearer" and is_jwt and presented.encode() != admin_token


def oauth_admin_check(dpop: DpopVerifier, verify_token: TokenVerifier) -> OAuthCheck:
    """Check a request's access token (and DPoP proof) for the admin scope; an OAuth error
    becomes the HTTP answer with its ``WWW-Authenticate`` challenge."""

    async def check(request: Request) -> Mapping[str, Any]:
        try:
            return await authenticate(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                request.method,
                str(request.url),
                int(time.time()),
                dpop=dpop,
                verify_token=verify_token,
                required_scope=(ADMIN_SCOPE,),
            )
        except OAuthError as exc:
            raise HTTPException(exc.status, detail=exc.message, headers=exc.headers) from None

    return check
