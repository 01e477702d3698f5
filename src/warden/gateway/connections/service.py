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
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from typing import Protocol as TypingProtocol
from urllib.parse import urlsplit

from warden.gateway.connections.crypto import ENV, SecretBox
from warden.gateway.connections.errors import (
    ConnectionExists,
    ConnectionNotFound,
    InvalidConnection,
    SecretsUnavailable,
)
from warden.gateway.connections.models import AuthKind, Connection, Protocol
from warden.gateway.connections.store import SqlConnectionStore

MISS_RELOAD_SECONDS = 1.0
"""Least time between two reads of the store for names this replica does not know."""
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
        self._reload_after = 0.0  # monotonic: when a miss may read the store again

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
        """The connection ``name``; another replica's new one is read from the store on a miss
        (at most one read a second: unknown names, sent by anyone to the public metadata
        routes, must not each cost a read of the whole table)."""
        known = self._connections.get(name)
        if known is None and NAME.fullmatch(name) and time.monotonic() >= self._reload_after:
            self._reload_after = time.monotonic() + MISS_RELOAD_SECONDS
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
        keep = keep_secret and connection.auth is not AuthKind.NONE
        sealed = self._secrets.get(connection.name) if keep else None
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
        """Re-encrypt every stored secret under the first configured key; the names done.

        All or nothing: when a secret cannot be decrypted (its key was dropped) nothing is
        changed, and the error names every connection concerned."""
        await self.load()  # what other replicas stored too
        if self._secrets:
            self.box.require()
        rotated: dict[str, str] = {}
        lost: builtins.list[str] = []
        for name, sealed in sorted(self._secrets.items()):
            if self._connections[name].key_id == self.box.key_id:
                continue
            try:
                rotated[name] = self.box.rotate(sealed)
            except SecretsUnavailable:
                lost.append(name)
        if lost:
            names = ", ".join(f"`{n}`" for n in lost)
            raise SecretsUnavailable(
                f"no configured key decrypts the secret of {names}: put the old key back in "
                f"`{ENV}` (after the new one) and rekey, or set the secret again"
            )
        for name, sealed in rotated.items():
            stored = dataclasses.replace(
                self._connections[name], key_id=self.box.key_id, updated_at=now
            )
            await self._store.update(stored, sealed)
            self._remember(stored, sealed)
        done = builtins.list(rotated)
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


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"})
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")  # an RFC 9110 token
_TOOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}")
# Parameter names that would put a secret where it is shown and audited.
_SECRET_PARAMS = frozenset(
    {"secret", "client_secret", "password", "api_key", "apikey", "token", "access_token"}
)
_OAUTH = (AuthKind.CLIENT_CREDENTIALS, AuthKind.TOKEN_EXCHANGE)


def _check(connection: Connection, secret: str | None) -> None:
    """Refuse a connection that could not work, naming the field at fault."""
    if not NAME.fullmatch(connection.name):
        raise InvalidConnection(
            "a connection name is 1-63 of a-z, 0-9, `_` and `-`, starting with a letter or digit",
            field="name",
        )
    _check_url(connection.url, "url")
    _check_params(connection)
    needs = connection.auth is not AuthKind.NONE
    if needs and not secret:
        raise InvalidConnection(f"auth `{connection.auth.value}` needs a secret", field="secret")
    if secret is not None and (len(secret) > 8192 or not secret.isprintable()):
        raise InvalidConnection("a secret is one line of at most 8192 characters", field="secret")
    if connection.protocol is Protocol.HTTP:
        if not connection.routes:
            raise InvalidConnection("an http connection needs at least one route", field="routes")
        if connection.tool_prefix:
            raise InvalidConnection(
                "`tool_prefix` is for mcp connections (http routes name their tools)",
                field="tool_prefix",
            )
    elif connection.routes:
        raise InvalidConnection(
            "`routes` are for http connections (an mcp server lists its own tools)",
            field="routes",
        )
    _check_routes(connection)
    _check_limits(connection)


def _check_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConnection(f"`{field}` must be an http:// or https:// URL", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidConnection(
            f"`{field}` must not hold credentials: put them in `secret`", field=field
        )


def _check_params(connection: Connection) -> None:
    for key, value in connection.params.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidConnection("params are strings", field=f"params.{key}")
        if key.lower() in _SECRET_PARAMS:
            raise InvalidConnection(
                f"`params.{key}` is shown and audited: a secret goes in `secret`",
                field=f"params.{key}",
            )
    auth = connection.auth
    header = connection.params.get("header")
    if header is not None and not _HEADER.fullmatch(header):
        raise InvalidConnection(
            f"`params.header` `{header}` is not a header name", field="params.header"
        )
    if not connection.params.get("prefix", "").isprintable():
        raise InvalidConnection("`params.prefix` is one line", field="params.prefix")
    if auth is AuthKind.BASIC and not connection.params.get("username"):
        raise InvalidConnection("auth `basic` needs `params.username`", field="params.username")
    if auth in _OAUTH:
        for key in ("token_url", "client_id"):
            if not connection.params.get(key):
                raise InvalidConnection(
                    f"auth `{auth.value}` needs `params.{key}`", field=f"params.{key}"
                )
        _check_url(connection.params["token_url"], "params.token_url")
    actor = connection.params.get("actor_token")
    if actor is not None and (auth is not AuthKind.TOKEN_EXCHANGE or actor != "client_credentials"):
        raise InvalidConnection(
            "`params.actor_token` is `client_credentials`, for auth `oauth_token_exchange`",
            field="params.actor_token",
        )


def _check_routes(connection: Connection) -> None:
    seen: set[tuple[str, str]] = set()
    for index, route in enumerate(connection.routes):
        field = f"routes.{index}"
        if route.method not in METHODS:
            raise InvalidConnection(
                f"route method `{route.method}` is not one of {', '.join(sorted(METHODS))}",
                field=f"{field}.method",
            )
        _check_template(route.template, f"{field}.template")
        if not _TOOL.fullmatch(route.tool):
            raise InvalidConnection(
                f"route tool `{route.tool}` is not a tool id (like `erp.invoice.read`)",
                field=f"{field}.tool",
            )
        if (route.method, route.template) in seen:
            raise InvalidConnection(
                f"route `{route.method} {route.template}` is given twice", field=field
            )
        seen.add((route.method, route.template))


def _check_template(template: str, field: str) -> None:
    """``/literal/{name}/{rest:path}``: ``{name}`` is one segment, ``{name:path}`` the rest."""
    problem = ""
    if not template.startswith("/"):
        problem = "starts with `/`"
    elif "?" in template or "#" in template:
        problem = "is a path, without query or fragment"
    else:
        segments = template.split("/")[1:]
        for position, segment in enumerate(segments):
            literal = _PARAMETER.sub("", segment)
            if "{" in literal or "}" in literal:
                problem = "has `{name}` or `{name:path}` parameters only"
            elif ":path}" in segment and position != len(segments) - 1:
                problem = "has a `{name:path}` parameter only at its end"
            if problem:
                break
    if problem:
        raise InvalidConnection(f"route template `{template}`: a template {problem}", field=field)


def _check_limits(connection: Connection) -> None:
    limits = connection.limits
    if not 0 < limits.timeout <= 3600:
        raise InvalidConnection("`limits.timeout` is 0-3600 seconds", field="limits.timeout")
    for name in ("max_request_bytes", "max_response_bytes"):
        if getattr(limits, name) <= 0:
            raise InvalidConnection(f"`limits.{name}` must be positive", field=f"limits.{name}")


def _event(connection: Connection, actor: str) -> dict[str, Any]:
    """What the ledger keeps of a change: the connection as shown, never its secret."""
    return {**connection.to_dict(), "actor": actor}
