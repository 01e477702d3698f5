"""Where the authorization server keeps clients, signing keys and issued tokens.

A protocol per kind of record here; one module per backend (``sql.py`` serves SQLite and
PostgreSQL through SQLAlchemy Core over the tables of migration 0002).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from warden.errors import WardenError
from warden.tokens.models import Client


class ClientExists(WardenError):
    code = "client_exists"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key row: the private key as PKCS#8 PEM, never leaving the store but to sign."""

    kid: str
    use: str
    alg: str
    private_pem: str = field(repr=False)  # never in logs or tracebacks
    created_at: datetime
    retired_at: datetime | None = None
    publish_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What Warden remembers of a token it issued (for introspection and revocation)."""

    jti: str
    grant_id: str
    kind: str  # access | refresh | txn
    client_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    claims: Mapping[str, Any]
    issued_at: datetime
    expires_at: datetime
    jkt: str | None = None
    token_hash: str | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class ClientStore(Protocol):
    async def insert_client(self, client: Client) -> None:
        """Insert ``client``; raise ``ClientExists`` when its id is taken."""

    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...


class KeyStore(Protocol):
    async def insert_key(self, key: StoredKey) -> None: ...

    async def list_keys(self, use: str) -> list[StoredKey]: ...

    async def retire_key(self, kid: str, retired_at: datetime, publish_until: datetime) -> None: ...


class TokenStore(Protocol):
    async def insert_token(self, record: TokenRecord) -> None: ...

    async def get_token(self, jti: str) -> TokenRecord | None: ...

    async def status(self, jti: str) -> str:
        """``active``, ``revoked`` or ``unknown`` (cheaper than :meth:`get_token`)."""

    async def state(self, jti: str) -> tuple[str, str | None]:
        """:meth:`status` and the token's grant id (None when unknown)."""

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None: ...

    async def revoke_token(self, jti: str, now: datetime) -> None: ...

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        """Revoke every token of ``grant_id`` not yet revoked; return how many."""

    async def mark_replaced(self, jti: str, replaced_by: str, now: datetime) -> bool:
        """Retire a rotated refresh token; False if it was already replaced or revoked."""


__all__ = ["ClientExists", "ClientStore", "KeyStore", "StoredKey", "TokenRecord", "TokenStore"]
