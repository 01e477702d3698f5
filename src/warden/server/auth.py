"""Authentication of Warden's own admin API (``/v1``).

Until OIDC and roles arrive, the admin API takes one bearer token: ``WARDEN_ADMIN_TOKEN``,
or a random token generated on first start into ``<WARDEN_HOME>/admin-token`` (mode 0600).
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request, status

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


class AdminAuth:
    """A FastAPI dependency that admits requests bearing the admin token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def __call__(self, request: Request) -> str:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="the admin api needs `Authorization: Bearer <admin token>`",
                headers={"WWW-Authenticate": 'Bearer realm="warden"'},
            )
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="the admin token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="warden", error="invalid_token"'},
            )
        return "admin"
