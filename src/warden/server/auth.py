"""Authentication and roles for Warden's own API (``/v1``, ``/scim/v2``).

Three kinds of bearer credential are accepted:

- the static admin token: ``WARDEN_ADMIN_TOKEN``, or a random token generated on first start
  into ``<WARDEN_HOME>/admin-token`` (mode 0600) — role ``admin``;
- a person's access token issued by ``warden access grant`` (``wdn_…``) — the roles it was
  issued with (:mod:`warden.access`);
- a Warden OAuth access token with scope ``warden:admin`` (DPoP-bound ones with their proof)
  — role ``admin``.

Tokens are compared in constant time (or looked up by hash) and never logged. Routes ask for
roles with :meth:`AdminAuth.require` (a :class:`Principal`) or :meth:`AdminAuth.actor` (its
name, for the ledger); a missing or bad credential is 401, a role that does not fit is 403.
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

from warden.access.models import ADMIN, Principal, Role
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
PeopleCheck = Callable[[str], Principal | None]
"""Finds the principal of a person's access token (``wdn_…``), or None."""

Dependency = Callable[[Request], Awaitable[Any]]


class AdminAuth:
    """A FastAPI dependency that authenticates a request and returns its :class:`Principal`.

    Admits the admin token; a person's access token when ``people`` is given; and — when an
    ``oauth`` check is given — an access token Warden issued with scope ``warden:admin``:
    DPoP-bound tokens with their proof (RFC 9449 §7), unbound ones as Bearer. Used directly
    as a dependency it admits every role; :meth:`require` and :meth:`actor` narrow that.
    """

    def __init__(
        self,
        token: str,
        oauth: OAuthCheck | None = None,
        *,
        issuer: str | None = None,
        people: PeopleCheck | None = None,
    ) -> None:
        self._token = token.encode()
        self._oauth = oauth
        self._people = people
        # RFC 9728 §5.1: point clients at the protected resource metadata when Warden is
        # also the authorization server.
        self._challenge = rfc9728.challenge(issuer) if issuer else 'Bearer realm="warden"'

    def require(self, *roles: Role) -> Dependency:
        """A dependency returning the caller's principal when it holds one of ``roles``."""

        async def dependency(request: Request) -> Principal:
            principal = await self(request)
            if not principal.has(*roles):
                wanted = " or ".join(f"`{r.value}`" for r in roles)
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, detail=f"this needs the role {wanted}"
                )
            return principal

        return dependency

    def actor(self, *roles: Role) -> Dependency:
        """Like :meth:`require` (default: ``admin``), returning the principal's name."""
        check = self.require(*(roles or (Role.ADMIN,)))

        async def dependency(request: Request) -> str:
            principal: Principal = await check(request)
            return principal.name

        return dependency

    async def __call__(self, request: Request) -> Principal:
        cached = getattr(request.state, "warden_principal", None)
        if isinstance(cached, Principal):
            return cached
        principal = await self._authenticate(request)
        request.state.warden_principal = principal
        return principal

    async def _authenticate(self, request: Request) -> Principal:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if self._oauth is not None and _is_access_token(scheme, presented, self._token):
            claims = await self._oauth(request)
            return Principal(f"oauth:{claims.get('sub', '?')}", frozenset({Role.ADMIN}))
        if self._people is not None and scheme.lower() == "bearer":
            person = self._people(presented)
            if person is not None:
                return person
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
                detail="the bearer token is not valid (unknown, revoked or expired)",
                headers={"WWW-Authenticate": 'Bearer realm="warden", error="invalid_token"'},
            )
        return ADMIN


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
