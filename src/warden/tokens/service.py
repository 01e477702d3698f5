"""The token service: what every grant handler is given (see ``grants/``), and the
authorization server that wires keys, stores, client authentication, DPoP and the grants.

``TokenContext`` bundles the request's clock with the services a grant needs, each behind a
protocol so grant handlers are testable with real stores and keys but no HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.registry.service import RegistryService
from warden.tokens import rfc7009, rfc8414, rfc9068
from warden.tokens.clients import ClientAuthenticator, presented_credentials
from warden.tokens.endpoint import Form, RefusalHook, TokenEndpoint
from warden.tokens.errors import InvalidClient, InvalidRequest, InvalidToken
from warden.tokens.grants import handlers
from warden.tokens.keys import KeyRing
from warden.tokens.minter import Minter, TokenIssuer
from warden.tokens.models import Client, TokenResponse
from warden.tokens.replay import ReplayCache, SqlReplayCache
from warden.tokens.rfc7523 import AssertionVerifier, SvidVerifier
from warden.tokens.rfc7591 import Registration
from warden.tokens.rfc7662 import Introspection
from warden.tokens.rfc9449 import DpopNonces, DpopVerifier
from warden.tokens.settings import TokenSettings
from warden.tokens.store.sql import SqlClientStore, SqlKeyStore, SqlTokenStore
from warden.tokens.store.sqlite import SqliteTokenStore

VERIFIED_SECONDS = 2.0
"""How long a verified access token is taken as still valid without reading the store."""
MAX_VERIFIED = 10_000


class TokenMinter(Protocol):
    """Signs and records tokens, and verifies the ones Warden issued."""

    async def mint(
        self,
        claims: Mapping[str, Any],
        *,
        kind: str,
        client: Client,
        grant_id: str,
        ttl: int,
        jkt: str | None = None,
        typ: str = "at+jwt",
    ) -> tuple[str, Mapping[str, Any]]:
        """Sign ``claims`` (adding iss, iat, exp, jti, and cnf.jkt when ``jkt``) as a JWT with
        header ``typ``, record it (kind: access | txn) for introspection and revocation, and
        return the token and the final claims."""

    async def mint_refresh(
        self,
        *,
        client: Client,
        grant_id: str,
        subject: str,
        scope: tuple[str, ...],
        claims: Mapping[str, Any],
        jkt: str | None,
    ) -> str:
        """A new opaque refresh token for ``grant_id`` (only its hash is stored)."""

    async def verify(self, token: str, *, typ: str = "at+jwt") -> Mapping[str, Any]:
        """Claims of a token Warden issued: signature by a published key, ``typ``, ``iss``,
        ``exp``/``nbf`` against the context clock, and not revoked. Raises ``InvalidToken``."""

    async def verify_in_grant(
        self, token: str, *, typ: str = "at+jwt"
    ) -> tuple[Mapping[str, Any], str]:
        """:meth:`verify`, and the grant the token was issued under (tokens derived from it
        are minted under the same grant, so revoking the grant revokes them too)."""

    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token issued under ``grant_id``."""


class AgentDirectory(Protocol):
    """What the authorization server needs to know of the registry."""

    def agent_status(self, agent_id: str) -> str | None:
        """The agent's lifecycle status (``active``, ``suspended``...), None if unknown."""


class PlannedDelegation(Protocol):
    @property
    def hop_id(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


class Delegations(Protocol):
    """Delegation chains (``warden.chains``) as the token exchange grant uses them: decide
    whether a delegation may happen before the delegate's token is minted, record it after."""

    async def plan(
        self,
        *,
        subject: Mapping[str, Any],
        delegator: str,
        delegate: str,
        params: Mapping[str, str],
        now: datetime,
    ) -> PlannedDelegation | None:
        """None when no chain is involved; raises a token error when it may not happen."""

    async def commit(self, plan: PlannedDelegation, jti: str, now: datetime) -> Mapping[str, Any]:
        """Record it; the extra members of the token response."""


@dataclass(frozen=True, slots=True)
class TokenContext:
    """Per-request context handed to a grant handler; ``now`` is the request's clock."""

    settings: TokenSettings
    now: datetime
    tokens: TokenMinter
    agents: AgentDirectory
    replay: ReplayCache
    chains: Delegations | None = None


class AuthorizationServer:
    """Warden's OAuth 2.1 authorization server, wired over one database.

    Create with :meth:`open`. Every method takes the request's clock ``now``; the HTTP routes
    are in ``api.py``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        settings: TokenSettings,
        *,
        agents: AgentDirectory,
        registry: RegistryService,
        svids: SvidVerifier | None = None,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self.settings = settings
        self.agents = agents
        self.clients = SqlClientStore(engine)
        self.token_store = _token_store(engine)
        self.keys = KeyRing(SqlKeyStore(engine), max_token_lifetime=settings.max_token_lifetime)
        self.replay = SqlReplayCache(engine)
        # Delegation chains (set by the runtime): hops recorded at token exchange.
        self.chains: Delegations | None = None
        self.dpop = DpopVerifier(self.replay, DpopNonces(), max_age=settings.dpop_proof_max_age)
        self._issuer = TokenIssuer(settings, self.keys, self.token_store)
        self._authenticator = ClientAuthenticator(self.clients, self._assertions(svids))
        self.endpoint = TokenEndpoint(
            url=settings.endpoint(rfc8414.TOKEN_PATH),
            clients=self._authenticator,
            dpop=self.dpop,
            grants=handlers(engine, svids),
            require_nonce=settings.dpop_nonce_required,
            on_refused=on_refused,
        )
        self._introspection = Introspection(self.clients, agents)
        self._verified: dict[str, _Verified] = {}  # access tokens recently verified
        self._registration = Registration(
            self.clients,
            registry,
            trust_domain=settings.trust_domain,
            grant_types=self.endpoint.grant_types,
        )

    def _assertions(self, svids: SvidVerifier | None) -> AssertionVerifier:
        return AssertionVerifier(
            audiences=(self.settings.endpoint(rfc8414.TOKEN_PATH), self.settings.issuer),
            replay=self.replay,
            leeway=self.settings.leeway,
            max_lifetime=self.settings.client_assertion_max_lifetime,
            svids=svids,
        )

    @classmethod
    async def open(
        cls,
        engine: AsyncEngine,
        settings: TokenSettings,
        *,
        agents: AgentDirectory,
        registry: RegistryService,
        now: datetime,
        svids: SvidVerifier | None = None,
        on_refused: RefusalHook | None = None,
    ) -> AuthorizationServer:
        """``on_refused`` is told of token requests refused because the client is not a
        registered, active agent (see :class:`warden.tokens.endpoint.Refusal`)."""
        server = cls(
            engine, settings, agents=agents, registry=registry, svids=svids, on_refused=on_refused
        )
        await server.keys.load(now)
        return server

    def context(self, now: datetime) -> TokenContext:
        """What a grant handler is given for a request at ``now``."""
        return TokenContext(
            self.settings, now, self._issuer.at(now), self.agents, self.replay, self.chains
        )

    def minter(self, now: datetime) -> Minter:
        return self._issuer.at(now)

    async def revoke_agent_tokens(self, agent_id: str, now: datetime) -> int:
        """Revoke every live token of ``agent_id``: issued to it as subject, or to a client
        acting as it (its own and the ones it got by delegation). For the kill switch."""
        clients = [c.client_id for c in await self.clients.list_clients() if c.agent_id == agent_id]
        return await self.token_store.revoke_party(agent_id, clients, now)

    async def revoke_tokens(self, jtis: Sequence[str], now: datetime) -> None:
        for jti in jtis:
            await self.token_store.revoke_token(jti, now)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 metadata for the configured issuer."""
        return rfc8414.metadata(
            self.settings.issuer,
            grant_types=self.endpoint.grant_types,
            dpop_algs=self.dpop.algs,
            authorization_details_types=self.settings.authorization_details_types,
        )

    def jwks(self, now: datetime) -> dict[str, Any]:
        return self.keys.jwks(now)

    async def token(
        self, form: Form, *, authorization: str | None, dpop: Sequence[str], now: datetime
    ) -> TokenResponse:
        """``POST /oauth2/token``."""
        ctx = self.context(now)
        return await self.endpoint.handle(
            form, authorization=authorization, dpop_headers=dpop, ctx=ctx
        )

    async def authenticate(
        self, form: Form, *, authorization: str | None, now: datetime, public_ok: bool
    ) -> Client:
        """The client a request to introspection or revocation authenticates as."""
        client = await self._authenticator.authenticate(
            presented_credentials(authorization, form.params), now
        )
        if client.is_public and not public_ok:
            raise InvalidClient("a public client may not call this endpoint")
        return client

    async def introspect(
        self, form: Form, *, authorization: str | None, now: datetime
    ) -> Mapping[str, Any]:
        """``POST /oauth2/introspect`` (RFC 7662)."""
        client = await self.authenticate(
            form, authorization=authorization, now=now, public_ok=False
        )
        token = _token_param(form)
        hint = form.params.get("token_type_hint")
        return await self._introspection.introspect(token, hint, client, self.minter(now))

    async def revoke(self, form: Form, *, authorization: str | None, now: datetime) -> None:
        """``POST /oauth2/revoke`` (RFC 7009)."""
        client = await self.authenticate(form, authorization=authorization, now=now, public_ok=True)
        hint = form.params.get("token_type_hint")
        await rfc7009.revoke(_token_param(form), hint, client, self.minter(now), self.token_store)

    async def register(self, metadata: Any, now: datetime) -> dict[str, Any]:
        """``POST /oauth2/register`` (RFC 7591), after the initial access token was checked."""
        return await self._registration.register(metadata, now)

    async def verify_access_token(
        self, token: str, now: datetime, *, audience: str | None = None
    ) -> Mapping[str, Any]:
        """The claims of a valid, unrevoked access token of Warden's whose agents are still
        active, optionally for ``audience``; raises ``InvalidToken``. For resource servers.

        A token verified here is remembered for ``VERIFIED_SECONDS`` (never past its ``exp``)
        so the gateways do not read the token store on every call of an agent; its agents'
        statuses are still checked every time (memory), and a revocation made by this process
        forgets every remembered token at once. A revocation by another replica is seen
        within ``VERIFIED_SECONDS`` (its kills reach every replica at once, and the decision
        path denies a killed agent regardless)."""
        hit = self._verified.get(token)
        epoch = self.token_store.revocations
        if (
            hit is not None
            and hit.epoch == epoch
            and hit.until > time.monotonic()
            and now.timestamp() < hit.expires
        ):
            claims, agents = hit.claims, hit.agents
        else:
            claims = await self.minter(now).verify(token)
            record = await self.token_store.get_token(str(claims["jti"]))
            found = await self._introspection.agents_of(record) if record else None
            if found is None:
                raise InvalidToken("the token's agent is not active")
            agents = found
            self._remember(token, claims, agents, epoch)
        if not self._introspection.all_active(agents):
            raise InvalidToken("the token's agent is not active")
        if audience is not None and audience not in rfc9068.audiences(claims):
            raise InvalidToken(f"the token is not meant for `{audience}`")
        return claims

    def _remember(
        self, token: str, claims: Mapping[str, Any], agents: frozenset[str], epoch: int
    ) -> None:
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return
        self._verified[token] = _Verified(
            claims, agents, epoch, time.monotonic() + VERIFIED_SECONDS, float(expires)
        )
        while len(self._verified) > MAX_VERIFIED:
            del self._verified[next(iter(self._verified))]


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: Mapping[str, Any]
    agents: frozenset[str]  # the principals it speaks for (statuses checked on each use)
    epoch: int  # the token store's revocation count when it was checked
    until: float  # monotonic clock
    expires: float  # the token's `exp`


def _token_param(form: Form) -> str:
    token = form.params.get("token")
    if token is None:
        raise InvalidRequest("`token` is required")
    return token


def _token_store(engine: AsyncEngine) -> SqlTokenStore:
    """On SQLite, revocation checks read through a direct connection (see ``store/sqlite.py``)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return SqliteTokenStore(engine, url.database)
    return SqlTokenStore(engine)
