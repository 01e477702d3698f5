"""The authorization_code grant (OAuth 2.1 §4.1.3, RFC 7636 §4.6): PKCE, client binding,
redirect URI, single use, and the tokens it issues (RFC 9068 §2.2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from test_codes import (
    PERSON,
    SETTINGS,
    T0,
    VERIFIER,
    Authority,
    client,
    consented,
    live_tokens,
    open_authority,
)

from warden.tokens.errors import InvalidGrant, InvalidRequest, InvalidToken, UnauthorizedClient
from warden.tokens.grants.authorization_code import AuthorizationCodeGrant
from warden.tokens.models import TokenRequest, TokenResponse

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"  # RFC 9449 §6.1


@pytest.fixture
async def authority(sqlite_url: str) -> AsyncIterator[Authority]:
    async with open_authority(sqlite_url) as opened:
        yield opened


def token_request(code: str, dpop_jkt: str | None = None, **params: str) -> TokenRequest:
    return TokenRequest(
        "authorization_code",
        {"code": code, "code_verifier": VERIFIER, **params},
        dpop_jkt=dpop_jkt,
    )


async def redeem(
    authority: Authority, request: TokenRequest, **client_changes: object
) -> TokenResponse:
    grant = AuthorizationCodeGrant(authority.codes)
    return await grant.exchange(request, client(**client_changes), authority.ctx())


async def new_code(authority: Authority, **changes: object) -> str:
    return await authority.codes.issue(consented(**changes), now=T0, ttl=SETTINGS.code_ttl)


async def test_the_access_token_names_the_person_and_the_agents_client(
    authority: Authority,
) -> None:
    response = await redeem(authority, token_request(await new_code(authority)))
    claims = await authority.ctx().tokens.verify(response.access_token)
    assert claims["sub"] == PERSON
    assert claims["client_id"] == claims["azp"] == "ap-clerk-app"
    assert claims["aud"] == "https://erp.example/api"  # RFC 8707 resource
    assert claims["scope"] == "invoices:read"
    assert response.token_type == "Bearer" and response.scope == ("invoices:read",)
    assert response.refresh_token is not None


async def test_no_refresh_token_without_the_refresh_token_grant(authority: Authority) -> None:
    code = await new_code(authority)
    response = await redeem(authority, token_request(code), grant_types=("authorization_code",))
    assert response.refresh_token is None


async def test_a_client_without_the_grant_is_unauthorized(authority: Authority) -> None:
    with pytest.raises(UnauthorizedClient):
        await redeem(
            authority, token_request(await new_code(authority)), grant_types=("refresh_token",)
        )


async def test_a_wrong_verifier_is_invalid_grant_and_spends_the_code(authority: Authority) -> None:
    code = await new_code(authority)
    with pytest.raises(InvalidGrant, match="code_verifier"):
        await redeem(authority, token_request(code, code_verifier="a" * 43))
    with pytest.raises(InvalidGrant):
        await redeem(authority, token_request(code))


async def test_a_missing_verifier_is_invalid_request_and_leaves_the_code(
    authority: Authority,
) -> None:
    code = await new_code(authority)
    request = TokenRequest("authorization_code", {"code": code})
    with pytest.raises(InvalidRequest, match="code_verifier"):
        await redeem(authority, request)
    assert (await redeem(authority, token_request(code))).access_token


async def test_a_missing_code_is_invalid_request(authority: Authority) -> None:
    with pytest.raises(InvalidRequest, match="code"):
        await redeem(authority, TokenRequest("authorization_code", {"code_verifier": VERIFIER}))


async def test_another_clients_code_is_refused(authority: Authority) -> None:
    code = await new_code(authority)
    with pytest.raises(InvalidGrant):
        await redeem(authority, token_request(code), client_id="other-app")


async def test_a_redirect_uri_sent_must_be_the_one_the_code_went_to(authority: Authority) -> None:
    code = await new_code(authority)
    with pytest.raises(InvalidGrant, match="redirect_uri"):
        await redeem(authority, token_request(code, redirect_uri="https://app.example/other"))
    same = await new_code(authority)
    ok = await redeem(authority, token_request(same, redirect_uri="https://app.example/cb"))
    assert ok.access_token


async def test_a_replayed_code_revokes_the_access_and_refresh_tokens(authority: Authority) -> None:
    code = await new_code(authority)
    first = await redeem(authority, token_request(code))
    with pytest.raises(InvalidGrant, match="already used"):
        await redeem(authority, token_request(code))
    with pytest.raises(InvalidToken):
        await authority.ctx().tokens.verify(first.access_token)
    assert first.refresh_token is not None
    with pytest.raises(InvalidGrant):
        await authority.refresh.rotate(
            first.refresh_token, client=client(), scope=None, dpop_jkt=None, ctx=authority.ctx()
        )


async def test_a_dpop_proof_binds_the_access_token(authority: Authority) -> None:
    response = await redeem(authority, token_request(await new_code(authority), dpop_jkt=JKT))
    claims = await authority.ctx().tokens.verify(response.access_token)
    assert response.token_type == "DPoP" and claims["cnf"] == {"jkt": JKT}


async def test_a_dpop_jkt_in_the_authorization_request_must_be_proved(
    authority: Authority,
) -> None:
    code = await new_code(authority, dpop_jkt=JKT)
    with pytest.raises(InvalidGrant, match="dpop"):
        await redeem(authority, token_request(code))
    bound = await new_code(authority, dpop_jkt=JKT)
    assert (await redeem(authority, token_request(bound, dpop_jkt=JKT))).token_type == "DPoP"


async def test_without_resource_the_audience_is_warden(authority: Authority) -> None:
    response = await redeem(authority, token_request(await new_code(authority, resources=())))
    claims = await authority.ctx().tokens.verify(response.access_token)
    assert claims["aud"] == SETTINGS.issuer


def test_consented_grant_survives_json() -> None:
    grant = replace(consented(), dpop_jkt=JKT)
    assert type(grant).from_json(grant.to_json()) == grant


async def test_a_replay_racing_the_first_redemption_leaves_no_live_token(
    authority: Authority,
) -> None:
    code = await new_code(authority)
    results = await asyncio.gather(
        *(redeem(authority, token_request(code)) for _ in range(3)), return_exceptions=True
    )
    assert sum(isinstance(r, InvalidGrant) for r in results) >= 2
    assert await live_tokens(authority) == []
