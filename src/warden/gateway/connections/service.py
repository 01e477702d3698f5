"""The connections Warden's gateways reach, and the credential broker that authenticates to them.

Connections are kept in memory (loaded at start; a name this replica does not know is looked up
in the store once), so the gateways' hot path does no I/O for them. Secrets are stored encrypted
(:class:`SecretBox`); a changed connection is audited without its secret.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from typing import Protocol as TypingProtocol

from warden.gateway.connections.crypto import SecretBox
from warden.gateway.connections.errors import (
    ConnectionExists,
    ConnectionNotFound,
    InvalidConnection,
)
from warden.gateway.connections.models import AuthKind, Connection, Protocol
from warden.gateway.connections.store import SqlConnectionStore

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class AuditSink(TypingProtocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class ConnectionService:
    def __init__(self, store: SqlConnectionStore, audit: AuditSink, box: SecretBox) -> None:
        self._store = store
        self._audit = audit
        self.box = box
        self._connections: dict[str, Connection] = {}
        self._secrets: dict[str, str] = {}  # name → ciphertext
        self._plain: dict[str, str] = {}  # name → decrypted secret, on first use

    async def load(self) -> None:
        connections: dict[str, Connection] = {}
        secrets: dict[str, str] = {}
        for connection, secret in await self._store.all():
            connections[connection.name] = connection
            if secret is not None:
                secrets[connection.name] = secret
        self._connections, self._secrets, self._plain = connections, secrets, {}

    def list(self) -> list[Connection]:
        return sorted(self._connections.values(), key=lambda c: c.name)

    async def get(self, name: str) -> Connection:
        """The connection ``name``; another replica's new one is read from the store once."""
        known = self._connections.get(name)
        if known is None and NAME.fullmatch(name):
            await self.load()
            known = self._connections.get(name)
        if known is None:
            raise ConnectionNotFound(f"no connection `{name}`")
        return known

    async def create(
        self, connection: Connection, secret: str | None, *, actor: str, now: datetime
    ) -> Connection:
        _check(connection, secret)
        if connection.name in self._connections:
            raise ConnectionExists(f"connection `{connection.name}` already exists")
        sealed = self.box.encrypt(secret) if secret is not None else None
        stored = dataclasses.replace(
            connection,
            has_secret=sealed is not None,
            key_id=self.box.key_id if sealed else None,
            created_at=now,
            updated_at=now,
        )
        await self._store.insert(stored, sealed)
        self._remember(stored, sealed)
        await self._audit.record("connection:created", _event(stored, actor))
        return stored

    async def update(
        self,
        connection: Connection,
        secret: str | None,
        *,
        actor: str,
        now: datetime,
        keep_secret: bool = True,
    ) -> Connection:
        """Replace ``connection`` (same name); ``secret`` None keeps the stored one unless
        ``keep_secret`` is false."""
        current = await self.get(connection.name)
        sealed = self._secrets.get(connection.name) if keep_secret else None
        if secret is not None:
            sealed = self.box.encrypt(secret)
        _check(connection, secret if secret is not None else ("kept" if sealed else None))
        stored = dataclasses.replace(
            connection,
            has_secret=sealed is not None,
            key_id=(self.box.key_id if secret is not None else current.key_id) if sealed else None,
            created_at=current.created_at,
            updated_at=now,
        )
        await self._store.update(stored, sealed)
        self._remember(stored, sealed)
        await self._audit.record("connection:updated", _event(stored, actor))
        return stored

    async def delete(self, name: str, *, actor: str) -> None:
        if not await self._store.delete(name):
            raise ConnectionNotFound(f"no connection `{name}`")
        self._connections.pop(name, None)
        self._secrets.pop(name, None)
        self._plain.pop(name, None)
        await self._audit.record("connection:deleted", {"name": name, "actor": actor})

    async def rekey(self, *, actor: str, now: datetime) -> builtins.list[str]:
        """Re-encrypt every stored secret under the first configured key; the names done."""
        done: builtins.list[str] = []
        for name, sealed in sorted(self._secrets.items()):
            connection = self._connections[name]
            if connection.key_id == self.box.key_id:
                continue
            rotated = self.box.rotate(sealed)
            stored = dataclasses.replace(connection, key_id=self.box.key_id, updated_at=now)
            await self._store.update(stored, rotated)
            self._remember(stored, rotated)
            done.append(name)
        await self._audit.record(
            "connection:rekeyed", {"connections": done, "key_id": self.box.key_id, "actor": actor}
        )
        return done

    def secret(self, name: str) -> str | None:
        """The decrypted secret of connection ``name`` (kept in memory once decrypted), for the
        credential broker only: never returned by the API, logged or recorded."""
        plain = self._plain.get(name)
        if plain is None:
            sealed = self._secrets.get(name)
            if sealed is None:
                return None
            plain = self._plain[name] = self.box.decrypt(sealed)
        return plain

    def static_headers(self, connection: Connection) -> dict[str, str]:
        """The headers that authenticate to ``connection`` when they do not depend on a token
        endpoint (``none``, ``api_key``, ``basic``)."""
        if connection.auth is AuthKind.NONE:
            return {}
        secret = self.secret(connection.name) or ""
        if connection.auth is AuthKind.API_KEY:
            header = connection.params.get("header") or "Authorization"
            return {header: connection.params.get("prefix", "") + secret}
        if connection.auth is AuthKind.BASIC:
            pair = f"{connection.params.get('username', '')}:{secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        raise InvalidConnection(f"`{connection.auth.value}` needs the token broker")

    def _remember(self, connection: Connection, sealed: str | None) -> None:
        self._connections[connection.name] = connection
        self._plain.pop(connection.name, None)
        if sealed is None:
            self._secrets.pop(connection.name, None)
        else:
            self._secrets[connection.name] = sealed


def _check(connection: Connection, secret: str | None) -> None:
    if not NAME.fullmatch(connection.name):
        raise InvalidConnection(
            "a connection name is 1-63 of a-z, 0-9, `_` and `-`, starting with a letter or digit"
        )
    if not re.match(r"https?://", connection.url):
        raise InvalidConnection("`url` must be an http:// or https:// URL")
    needs = connection.auth is not AuthKind.NONE
    if needs and not secret:
        raise InvalidConnection(f"auth `{connection.auth.value}` needs a secret")
    if connection.protocol is Protocol.HTTP and not connection.routes:
        raise InvalidConnection("an http connection needs at least one route")
    if connection.auth is AuthKind.BASIC and not connection.params.get("username"):
        raise InvalidConnection("auth `basic` needs `params.username`")
    if connection.auth in (AuthKind.CLIENT_CREDENTIALS, AuthKind.TOKEN_EXCHANGE):
        for key in ("token_url", "client_id"):
            if not connection.params.get(key):
                raise InvalidConnection(f"auth `{connection.auth.value}` needs `params.{key}`")


def _event(connection: Connection, actor: str) -> dict[str, Any]:
    """What the ledger keeps of a change: the connection as shown, never its secret."""
    return {**connection.to_dict(), "actor": actor}
