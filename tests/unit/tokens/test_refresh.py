"""Refresh token rotation with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2) and DPoP
binding of public clients' refresh tokens (RFC 9449 §5), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_codes import PERSON, SETTINGS, T0, Authority, client, open_authority

from warden.store.schema import oauth_tokens
from warden.tokens.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    UnauthorizedClient,
)
from warden.tokens.grants.refresh_token import RefreshTokenGrant
from warden.tokens.models import ClientAuthMethod, TokenRequest, TokenResponse
from warden.tokens.refresh import PersonGrant, issue_tokens

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
OTHER_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
GRANT = PersonGrant("g-1", PERSON, ("invoices:read", "invoices:pay"), ("https://erp.example",))


@pytest.fixture
async def authority(database_url: str) -> AsyncIterator[Authority]:
    async with open_authority(database_url) as opened:
        yield opened


async def first_tokens(authority: Authority, jkt: str | None = None) -> TokenResponse:
    return await issue_tokens(GRANT, client(), authority.ctx(), dpop_jkt=jkt)


async def rotate(
    authority: Authority,
    token: str | None,
    *,
    scope: tuple[str, ...] | None = None,
    jkt: str | None = None,
    minutes: int = 1,
    **client_changes: object,
) -> TokenResponse:
    assert token is not None
    return await authority.refresh.rotate(
        token,
        client=client(**client_changes),
        scope=scope,
        dpop_jkt=jkt,
        ctx=authority.ctx(T0 + timedelta(minutes=minutes)),
    )


async def test_refresh_rotates_and_keeps_the_grant(authority: Authority) -> None:
    first = await first_tokens(authority)
    second = await rotate(authority, first.refresh_token)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    claims = await authority.ctx(T0 + timedelta(minutes=1)).tokens.verify(second.access_token)
    assert claims["sub"] == PERSON and claims["azp"] == "ap-clerk-app"
    assert claims["aud"] == "https://erp.example"
    assert claims["scope"] == "invoices:read invoices:pay"
    old = await authority.tokens.find_by_hash(_sha256(first.refresh_token))
    new = await authority.tokens.find_by_hash(_sha256(second.refresh_token))
    assert old is not None and new is not None
    assert old.replaced_by == new.jti and old.revoked_at is not None
    assert new.grant_id == old.grant_id == "g-1"


async def test_reusing_a_rotated_token_revokes_the_whole_grant(authority: Authority) -> None:
    first = await first_tokens(authority)
    second = await rotate(authority, first.refresh_token)
    with pytest.raises(InvalidGrant, match="already used"):
        await rotate(authority, first.refresh_token, minutes=2)
    # the thief's use killed the legitimate successor too: refresh and access token
    with pytest.raises(InvalidGrant):
        await rotate(authority, second.refresh_token, minutes=3)
    with pytest.raises(InvalidToken):
        await authority.ctx(T0 + timedelta(minutes=3)).tokens.verify(second.access_token)


async def test_two_concurrent_refreshes_with_one_token_revoke_the_grant(
    authority: Authority,
) -> None:
    first = await first_tokens(authority)
    results = await asyncio.gather(
        rotate(authority, first.refresh_token),
        rotate(authority, first.refresh_token),
        return_exceptions=True,
    )
    # the loser is a reuse: the grant is revoked, and whatever the winner got does not survive
    assert sum(isinstance(r, InvalidGrant) for r in results) >= 1
    later = authority.ctx(T0 + timedelta(minutes=2))
    for won in (r for r in results if isinstance(r, TokenResponse)):
        with pytest.raises(InvalidToken):
            await later.tokens.verify(won.access_token)
        with pytest.raises(InvalidGrant):
            await rotate(authority, won.refresh_token, minutes=2)
    async with authority.engine.connect() as conn:
        live = (
            await conn.execute(
                select(oauth_tokens.c.jti).where(oauth_tokens.c.revoked_at.is_(None))
            )
        ).all()
    assert live == []


async def test_a_subset_of_the_scope_may_be_asked_for_but_never_more(
    authority: Authority,
) -> None:
    first = await first_tokens(authority)
    with pytest.raises(InvalidScope, match="ledger:read"):
        await rotate(authority, first.refresh_token, scope=("invoices:read", "ledger:read"))
    narrower = await rotate(authority, first.refresh_token, scope=("invoices:read",))
    assert narrower.scope == ("invoices:read",)
    # the narrowed grant cannot grow back
    with pytest.raises(InvalidScope):
        await rotate(authority, narrower.refresh_token, scope=("invoices:pay",), minutes=2)
    again = await rotate(authority, narrower.refresh_token, minutes=2)
    assert again.scope == ("invoices:read",)


async def test_a_public_clients_refresh_token_is_bound_to_its_dpop_key(
    authority: Authority,
) -> None:
    first = await first_tokens(authority, jkt=JKT)
    assert first.token_type == "DPoP"
    for wrong in (None, OTHER_JKT):
        with pytest.raises(InvalidGrant, match="dpop"):
            await rotate(authority, first.refresh_token, jkt=wrong)
    second = await rotate(authority, first.refresh_token, jkt=JKT)
    claims = await authority.ctx(T0 + timedelta(minutes=1)).tokens.verify(second.access_token)
    assert second.token_type == "DPoP" and claims["cnf"] == {"jkt": JKT}
    with pytest.raises(InvalidGrant, match="dpop"):
        await rotate(authority, second.refresh_token, minutes=2)


async def test_a_confidential_clients_refresh_token_is_not_key_bound(
    authority: Authority,
) -> None:
    confidential = client(auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC)
    first = await issue_tokens(GRANT, confidential, authority.ctx(), dpop_jkt=JKT)
    second = await rotate(
        authority, first.refresh_token, auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC
    )
    assert second.token_type == "Bearer"


async def test_another_clients_refresh_token_is_refused(authority: Authority) -> None:
    first = await first_tokens(authority)
    with pytest.raises(InvalidGrant, match="not valid"):
        await rotate(authority, first.refresh_token, client_id="other-app")
    assert (await rotate(authority, first.refresh_token)).access_token


async def test_an_expired_refresh_token_is_refused(authority: Authority) -> None:
    first = await first_tokens(authority)
    with pytest.raises(InvalidGrant, match="expired"):
        await rotate(authority, first.refresh_token, minutes=SETTINGS.refresh_token_ttl // 60)


async def test_refresh_tokens_are_stored_only_as_hashes(authority: Authority) -> None:
    first = await first_tokens(authority)
    assert first.refresh_token is not None
    async with authority.engine.connect() as conn:
        rows = (await conn.execute(select(oauth_tokens))).mappings().all()
    assert any(r["token_hash"] == _sha256(first.refresh_token) for r in rows)
    assert not any(first.refresh_token in str(v) for r in rows for v in r.values())


async def test_the_grant_handler_needs_a_token_and_the_grant(authority: Authority) -> None:
    handler = RefreshTokenGrant(authority.refresh)
    with pytest.raises(InvalidRequest):
        await handler.exchange(TokenRequest("refresh_token", {}), client(), authority.ctx())
    first = await first_tokens(authority)
    assert first.refresh_token is not None
    request = TokenRequest("refresh_token", {"refresh_token": first.refresh_token})
    with pytest.raises(UnauthorizedClient):
        await handler.exchange(
            request, client(grant_types=("authorization_code",)), authority.ctx()
        )
    narrowed = TokenRequest(
        "refresh_token", {"refresh_token": first.refresh_token, "scope": "invoices:read"}
    )
    assert (await handler.exchange(narrowed, client(), authority.ctx())).scope == ("invoices:read",)


def _sha256(token: str | None) -> str:
    assert token is not None
    return hashlib.sha256(token.encode()).hexdigest()
