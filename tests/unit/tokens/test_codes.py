"""Authorization codes: stored as hashes, single-use, bound to their client, short-lived
(OAuth 2.1 §4.1.2-4.1.3), on SQLite and PostgreSQL.

``open_authority`` (also used by the refresh and authorize tests) opens a real store with a
real key ring and token minter.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.db import migrate, open_engine, parse_database_url
from warden.store.schema import authorization_codes, oauth_tokens
from warden.tokens.codes import CodeGrant, CodeStore
from warden.tokens.errors import InvalidGrant, InvalidToken
from warden.tokens.keys import KeyRing
from warden.tokens.minter import TokenIssuer
from warden.tokens.models import Client, ClientAuthMethod
from warden.tokens.refresh import RefreshTokens
from warden.tokens.replay import SqlReplayCache
from warden.tokens.service import TokenContext
from warden.tokens.settings import TokenSettings
from warden.tokens.store.sql import SqlClientStore, SqlKeyStore, SqlTokenStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SETTINGS = TokenSettings(issuer="https://warden.example")
PERSON = "ann@acme.example"
AGENT = "spiffe://warden.local/agent/ap-clerk"
# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def client(**changes: object) -> Client:
    base = Client(
        client_id="ap-clerk-app",
        client_name="AP clerk",
        auth_method=ClientAuthMethod.NONE,
        secret_hash=None,
        jwks=None,
        redirect_uris=("https://app.example/cb", "http://127.0.0.1/callback"),
        grant_types=("authorization_code", "refresh_token"),
        scope=("invoices:read", "invoices:pay", "ledger:read"),
        dpop_bound=False,
        agent_id=AGENT,
        created_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Agents:
    """The registry's answer about agents, as the authorization server sees it."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {AGENT: "active"}

    def agent_status(self, agent_id: str) -> str | None:
        return self.status.get(agent_id)


@dataclass
class Authority:
    engine: AsyncEngine
    issuer: TokenIssuer
    clients: SqlClientStore
    tokens: SqlTokenStore
    codes: CodeStore
    refresh: RefreshTokens
    replay: SqlReplayCache
    agents: Agents

    def ctx(self, now: datetime = T0) -> TokenContext:
        return TokenContext(SETTINGS, now, self.issuer.at(now), self.agents, self.replay)


@asynccontextmanager
async def open_authority(url: str) -> AsyncIterator[Authority]:
    parsed = parse_database_url(url)
    await asyncio.to_thread(migrate, parsed)
    engine = open_engine(parsed)
    keys = KeyRing(SqlKeyStore(engine), max_token_lifetime=SETTINGS.max_token_lifetime)
    await keys.load(T0)
    tokens = SqlTokenStore(engine)
    authority = Authority(
        engine,
        TokenIssuer(SETTINGS, keys, tokens),
        SqlClientStore(engine),
        tokens,
        CodeStore(engine),
        RefreshTokens(engine),
        SqlReplayCache(engine),
        Agents(),
    )
    for c in (client(), client(client_id="other-app", client_name="Other")):
        await authority.clients.insert_client(c)
    try:
        yield authority
    finally:
        await engine.dispose()


def consented(**changes: object) -> CodeGrant:
    base = CodeGrant(
        client_id="ap-clerk-app",
        subject=PERSON,
        redirect_uri="https://app.example/cb",
        redirect_uri_sent=True,
        scope=("invoices:read",),
        resources=("https://erp.example/api",),
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def live_tokens(authority: Authority) -> list[str]:
    """The ``jti`` of every token not revoked."""
    query = select(oauth_tokens.c.jti).where(oauth_tokens.c.revoked_at.is_(None))
    async with authority.engine.connect() as conn:
        return [row.jti for row in await conn.execute(query)]


@pytest.fixture
async def authority(database_url: str) -> AsyncIterator[Authority]:
    async with open_authority(database_url) as opened:
        yield opened


async def test_a_code_is_stored_only_as_its_sha256(authority: Authority) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    async with authority.engine.connect() as conn:
        rows = (await conn.execute(select(authorization_codes))).mappings().all()
    assert len(code) >= 43
    assert [r["code_hash"] for r in rows] == [hashlib.sha256(code.encode()).hexdigest()]
    assert not any(code in str(value) for row in rows for value in row.values())


async def test_a_code_redeems_once_to_what_the_person_consented(authority: Authority) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    redeemed = await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=authority.ctx())
    assert redeemed.grant == consented()
    with pytest.raises(InvalidGrant, match="already used"):
        await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=authority.ctx())


async def test_a_second_redemption_revokes_the_tokens_the_first_one_issued(
    authority: Authority,
) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    ctx = authority.ctx()
    redeemed = await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=ctx)
    token, _ = await ctx.tokens.mint(
        {"sub": PERSON}, kind="access", client=client(), grant_id=redeemed.grant_id, ttl=600
    )
    assert (await ctx.tokens.verify(token))["sub"] == PERSON
    with pytest.raises(InvalidGrant):
        await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=ctx)
    with pytest.raises(InvalidToken):
        await ctx.tokens.verify(token)


async def test_of_two_concurrent_redemptions_exactly_one_wins(authority: Authority) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    results = await asyncio.gather(
        *(
            authority.codes.redeem(code, client_id="ap-clerk-app", ctx=authority.ctx())
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, InvalidGrant) for r in results) == 3


async def test_another_clients_code_is_refused_and_stays_with_its_client(
    authority: Authority,
) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    with pytest.raises(InvalidGrant, match="not issued to this client"):
        await authority.codes.redeem(code, client_id="other-app", ctx=authority.ctx())
    redeemed = await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=authority.ctx())
    assert redeemed.grant.subject == PERSON


async def test_a_code_expires_after_the_code_ttl(authority: Authority) -> None:
    code = await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    late = authority.ctx(T0 + timedelta(seconds=SETTINGS.code_ttl))
    with pytest.raises(InvalidGrant, match="expired"):
        await authority.codes.redeem(code, client_id="ap-clerk-app", ctx=late)


async def test_an_unknown_code_is_invalid_grant(authority: Authority) -> None:
    await authority.codes.issue(consented(), now=T0, ttl=SETTINGS.code_ttl)
    with pytest.raises(InvalidGrant, match="not valid"):
        await authority.codes.redeem("x" * 43, client_id="ap-clerk-app", ctx=authority.ctx())


def test_code_ttl_is_ten_minutes_or_less() -> None:
    assert 0 < SETTINGS.code_ttl <= 600  # OAuth 2.1 §4.1.2
