"""The credential broker: the headers that authenticate a gateway's upstream request.

Agents never hold an upstream's credential: Warden does (encrypted at rest, see
:mod:`warden.gateway.connections`), and the broker turns it into headers per call:

- ``none``, ``api_key``, ``basic``: static headers from the stored secret;
- ``oauth_client_credentials`` (RFC 6749 §4.4): Warden's own access token from the upstream's
  token endpoint (``params.token_url``), authenticated ``client_secret_basic`` with
  ``params.client_id`` and the secret, asking for ``params.scope``, ``params.resource``
  (RFC 8707; several separated by spaces) and ``params.audience``;
- ``oauth_token_exchange`` (RFC 8693): the agent's own access token, as it presented it, is
  exchanged for an upstream token acting for that agent (same client authentication and
  parameters). With ``params.actor_token = client_credentials`` the broker also presents its
  own client-credentials token as the ``actor_token`` — an authorization server such as
  Warden needs the actor to prove itself to put it in the ``act`` claim.

Tokens are cached until shortly before their ``expires_in`` (per connection; for an exchange
per connection and digest of the subject token — never the token itself as a key), and
fetched single-flight: concurrent calls needing the same token share one request. A changed
connection (new ``updated_at``) never uses a token obtained for its former version.

A token endpoint that fails or refuses is :class:`UpstreamAuthFailed`, with a message that
names the connection, the endpoint and the OAuth ``error`` code, and never a secret or token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx

from warden.gateway.connections.errors import UpstreamAuthFailed
from warden.gateway.connections.models import AuthKind, Connection
from warden.gateway.connections.service import ConnectionService

CLIENT_CREDENTIALS_GRANT = "client_credentials"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DEFAULT_LIFETIME = 60.0  # seconds a token without `expires_in` is reused
MAX_MARGIN = 60.0  # a token is renewed this long (at most) before it expires
MAX_CACHED = 10_000  # tokens kept at most (exchanged ones: one per agent token)

ClientFactory = Callable[[httpx.Timeout], httpx.AsyncClient]
Key = tuple[str, str, str]  # connection name, connection version, what the token is for


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    fresh_until: float  # on the broker's clock


def _default_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


class CredentialBroker:
    """Headers for a connection's upstream request (see the module docstring)."""

    def __init__(
        self,
        connections: ConnectionService,
        *,
        client: ClientFactory = _default_client,
        clock: Callable[[], float] = time.monotonic,
        max_cached: int = MAX_CACHED,
    ) -> None:
        self._connections = connections
        self._client = client
        self._clock = clock
        self._max_cached = max_cached
        self._cache: dict[Key, _Token] = {}
        self._pending: dict[Key, asyncio.Future[_Token]] = {}

    async def headers(self, connection: Connection, *, subject_token: str | None) -> dict[str, str]:
        """The headers authenticating to ``connection``; ``subject_token`` is the agent's own
        access token as it presented it (used by ``oauth_token_exchange`` only)."""
        if connection.auth is AuthKind.CLIENT_CREDENTIALS:
            token = await self._token(
                _key(connection, "client"), lambda: self._client_credentials(connection)
            )
        elif connection.auth is AuthKind.TOKEN_EXCHANGE:
            if not subject_token:
                raise UpstreamAuthFailed(
                    f"connection `{connection.name}` acts for the calling agent, "
                    "and the call presented no token of the agent's to exchange"
                )
            digest = hashlib.sha256(subject_token.encode()).hexdigest()
            token = await self._token(
                _key(connection, "subject:" + digest),
                lambda: self._exchange(connection, subject_token),
            )
        else:
            return self._connections.static_headers(connection)
        return {"Authorization": f"Bearer {token}"}

    def forget(self, name: str) -> None:
        """Drop the cached tokens of connection ``name`` (say, the upstream refused one)."""
        for key in [k for k in self._cache if k[0] == name]:
            del self._cache[key]

    # -- the cache, single-flight ----------------------------------------------------------

    async def _token(self, key: Key, fetch: Callable[[], Awaitable[_Token]]) -> str:
        cached = self._cache.get(key)
        if cached is not None and cached.fresh_until > self._clock():
            return cached.value
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key, fetch))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: one caller giving up does not cancel the request the others wait for.
        return (await asyncio.shield(pending)).value

    async def _fetch(self, key: Key, fetch: Callable[[], Awaitable[_Token]]) -> _Token:
        token = await fetch()
        self._keep(key, token)
        return token

    def _settled(self, key: Key, done: asyncio.Future[_Token]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter has its own copy of it

    def _keep(self, key: Key, token: _Token) -> None:
        self._cache[key] = token
        if len(self._cache) <= self._max_cached:
            return
        now = self._clock()
        for stale in [k for k, t in self._cache.items() if t.fresh_until <= now]:
            del self._cache[stale]
        while len(self._cache) > self._max_cached:  # the oldest first
            del self._cache[next(iter(self._cache))]

    # -- the grants ------------------------------------------------------------------------

    async def _client_credentials(self, connection: Connection) -> _Token:
        form = {"grant_type": CLIENT_CREDENTIALS_GRANT, **_targets(connection)}
        return await self._request(connection, form, "client credentials")

    async def _exchange(self, connection: Connection, subject_token: str) -> _Token:
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            **_targets(connection),
        }
        if connection.params.get("actor_token") == CLIENT_CREDENTIALS_GRANT:
            form["actor_token"] = await self._token(
                _key(connection, "actor"), lambda: self._actor(connection)
            )
            form["actor_token_type"] = ACCESS_TOKEN_TYPE
        return await self._request(connection, form, "token exchange", subject_token)

    async def _actor(self, connection: Connection) -> _Token:
        """Warden's own token at the upstream, to present as the exchange's actor."""
        return await self._request(
            connection, {"grant_type": CLIENT_CREDENTIALS_GRANT}, "client credentials (actor)"
        )

    async def _request(
        self, connection: Connection, form: dict[str, str], what: str, *hidden: str
    ) -> _Token:
        url = connection.params["token_url"]
        secret = self._connections.secret(connection.name) or ""
        client_id = connection.params["client_id"]
        where = f"the token endpoint of connection `{connection.name}` ({_shown(url)})"
        timeout = httpx.Timeout(connection.limits.timeout)
        headers = {"Authorization": _basic(client_id, secret), "Accept": "application/json"}
        started = self._clock()
        try:
            async with self._client(timeout) as http:
                response = await http.post(url, data=form, headers=headers)
        except httpx.TimeoutException:
            raise UpstreamAuthFailed(f"{where} did not answer in time ({what})") from None
        except httpx.HTTPError as exc:
            raise UpstreamAuthFailed(
                f"{where} cannot be reached ({what}): {type(exc).__name__}"
            ) from None
        body = _json(response)
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise UpstreamAuthFailed(
                f"{where} refused the {what} request: {_refusal(response, body, secret, *hidden)}"
            )
        token_type = str(body.get("token_type", "")).lower()
        if token_type != "bearer":
            raise UpstreamAuthFailed(
                f"{where} issued a `{token_type[:20]}` token, not a bearer one"
            )
        return _Token(body["access_token"], started + _lifetime(body.get("expires_in")))


def _key(connection: Connection, purpose: str) -> Key:
    version = connection.updated_at.isoformat() if connection.updated_at else ""
    return (connection.name, f"{version}/{connection.key_id}", purpose)


def _targets(connection: Connection) -> dict[str, str]:
    """``scope``, ``audience`` and ``resource`` from the connection's params."""
    params = connection.params
    return {k: params[k] for k in ("scope", "audience", "resource") if params.get(k)}


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret each form-urlencoded, then HTTP Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _lifetime(expires_in: Any) -> float:
    """Seconds to reuse a token: ``expires_in`` less a margin (10%, at most a minute)."""
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
        return DEFAULT_LIFETIME
    return max(0.0, expires_in - min(MAX_MARGIN, expires_in * 0.1))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refusal(response: httpx.Response, body: dict[str, Any], *hidden: str) -> str:
    """``<status> <error>: <description>``; the description only when it repeats nothing
    secret (an authorization server may echo what it was sent)."""
    error = str(body.get("error") or "no oauth error")[:64]
    text = f"{response.status_code} `{error}`"
    description = str(body.get("error_description") or "")[:300]
    if description and not any(h and h in description for h in hidden):
        text += f": {description}"
    return text


def _shown(url: str) -> str:
    """The endpoint without credentials, query or fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
