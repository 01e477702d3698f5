"""The key ring over the real store (SQLite and PostgreSQL), rotation, and RFC 9068 access
token verification: every way a token is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OctKey
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.tokens.errors import InvalidToken
from warden.tokens.keys import KeyRing
from warden.tokens.minter import TokenIssuer
from warden.tokens.models import Client, ClientAuthMethod
from warden.tokens.settings import TokenSettings
from warden.tokens.store.sql import SqlKeyStore, SqlTokenStore

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SETTINGS = TokenSettings(issuer="https://warden.example")
CLIENT = Client(
    client_id="c1",
    client_name="c1",
    auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
    secret_hash=None,
    jwks=None,
    redirect_uris=(),
    grant_types=("client_credentials",),
    scope=("read",),
    dpop_bound=False,
    agent_id=None,
    created_at=T0,
)
CLAIMS = {"sub": "spiffe://acme.example/agent/a", "aud": "https://api.example", "scope": "read"}


@pytest.fixture
async def issuer(engine: AsyncEngine) -> TokenIssuer:
    keys = KeyRing(SqlKeyStore(engine), max_token_lifetime=SETTINGS.max_token_lifetime)
    await keys.load(T0)
    return TokenIssuer(SETTINGS, keys, SqlTokenStore(engine))


async def _mint(issuer: TokenIssuer, at: datetime = T0, **claims: Any) -> str:
    token, _ = await issuer.at(at).mint(
        {**CLAIMS, **claims}, kind="access", client=CLIENT, grant_id="g1", ttl=600
    )
    return token


async def test_first_load_creates_one_es256_key_named_by_its_thumbprint(
    engine: AsyncEngine,
) -> None:
    ring = KeyRing(SqlKeyStore(engine), max_token_lifetime=600)
    await ring.load(T0)
    again = KeyRing(SqlKeyStore(engine), max_token_lifetime=600)
    await again.load(T0 + timedelta(hours=1))
    assert again.current().kid == ring.current().kid  # loaded, not regenerated
    [published] = ring.jwks(T0)["keys"]
    assert published["alg"] == "ES256" and published["crv"] == "P-256" and "d" not in published
    assert published["kid"] == ECKey.import_key(published).thumbprint()  # RFC 7638


async def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(
    issuer: TokenIssuer,
) -> None:
    ring = issuer.keys
    old_kid = ring.current().kid
    old_token = await _mint(issuer)
    rotated = await ring.rotate(T0 + timedelta(seconds=10))
    assert rotated.kid != old_kid and ring.current().kid == rotated.kid
    new_token = await _mint(issuer, T0 + timedelta(seconds=20))
    assert _header(new_token)["kid"] == rotated.kid
    publish_until = T0 + timedelta(seconds=10 + SETTINGS.max_token_lifetime)
    before = publish_until - timedelta(seconds=1)
    assert {k["kid"] for k in ring.jwks(before)["keys"]} == {old_kid, rotated.kid}
    assert await issuer.at(T0 + timedelta(seconds=300)).verify(old_token)
    assert [k["kid"] for k in ring.jwks(publish_until)["keys"]] == [rotated.kid]
    with pytest.raises(InvalidToken, match="not signed by a key warden publishes"):
        await issuer.at(publish_until).verify(old_token)


def _header(token: str) -> dict[str, Any]:
    return dict(jws.extract_compact(token.encode()).protected)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _resigned(issuer: TokenIssuer, token: str, header: dict[str, Any], **claims: Any) -> str:
    """``token``'s claims (changed by ``claims``), signed by the ring's key with ``header``."""
    payload = {**json.loads(jws.extract_compact(token.encode()).payload), **claims}
    key = issuer.keys.current()
    full = {"alg": "ES256", "kid": key.kid, **header}
    return jws.serialize_compact(full, json.dumps(payload), key.key, algorithms=["ES256"])


async def test_a_valid_token_verifies_with_its_claims(issuer: TokenIssuer) -> None:
    claims = await issuer.at(T0 + timedelta(seconds=1)).verify(await _mint(issuer))
    assert claims["iss"] == SETTINGS.issuer and claims["client_id"] == "c1"
    assert claims["exp"] == claims["iat"] + 600 and len(claims["jti"]) == 32


async def test_alg_none_is_refused(issuer: TokenIssuer) -> None:
    token = await _mint(issuer)
    _, payload, _ = token.split(".")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}."
    with pytest.raises(InvalidToken, match="alg `none`"):
        await issuer.at(T0).verify(unsigned)


async def test_hs256_signed_with_the_public_key_is_refused(issuer: TokenIssuer) -> None:
    token = await _mint(issuer)
    public = json.dumps(issuer.keys.current().public_jwk()).encode()
    payload = jws.extract_compact(token.encode()).payload
    header = {"alg": "HS256", "typ": "at+jwt", "kid": issuer.keys.current().kid}
    forged = jws.serialize_compact(header, payload, OctKey.import_key(public), ["HS256"])
    with pytest.raises(InvalidToken, match="alg `HS256`"):
        await issuer.at(T0).verify(forged)


@pytest.mark.parametrize("typ", ["JWT", "dpop+jwt", "txntoken+jwt", None])
async def test_wrong_typ_is_refused(issuer: TokenIssuer, typ: str | None) -> None:
    token = await _resigned(issuer, await _mint(issuer), {"typ": typ} if typ else {})
    with pytest.raises(InvalidToken, match="typ"):
        await issuer.at(T0).verify(token)


async def test_expired_and_not_yet_valid_tokens_are_refused(issuer: TokenIssuer) -> None:
    token = await _mint(issuer)
    with pytest.raises(InvalidToken, match="expired"):
        await issuer.at(T0 + timedelta(seconds=600 + SETTINGS.leeway + 1)).verify(token)
    assert await issuer.at(T0 + timedelta(seconds=600 + SETTINGS.leeway - 1)).verify(token)
    early = await _resigned(issuer, token, {"typ": "at+jwt"}, nbf=int(T0.timestamp()) + 3600)
    with pytest.raises(InvalidToken, match="not valid yet"):
        await issuer.at(T0).verify(early)


async def test_foreign_issuer_and_foreign_key_are_refused(issuer: TokenIssuer) -> None:
    token = await _mint(issuer)
    foreign = await _resigned(issuer, token, {"typ": "at+jwt"}, iss="https://evil.example")
    with pytest.raises(InvalidToken, match="another issuer"):
        await issuer.at(T0).verify(foreign)
    stranger = ECKey.generate_key("P-256", private=True)
    payload = jws.extract_compact(token.encode()).payload
    header = {"alg": "ES256", "typ": "at+jwt", "kid": issuer.keys.current().kid}
    forged = jws.serialize_compact(header, payload, stranger, ["ES256"])
    with pytest.raises(InvalidToken, match="signature"):
        await issuer.at(T0).verify(forged)


async def test_revoked_and_unrecorded_tokens_are_refused(issuer: TokenIssuer) -> None:
    token = await _mint(issuer)
    unrecorded = await _resigned(issuer, token, {"typ": "at+jwt"}, jti="f" * 32)
    with pytest.raises(InvalidToken, match="revoked"):
        await issuer.at(T0).verify(unrecorded)
    await issuer.at(T0).revoke_grant("g1")
    with pytest.raises(InvalidToken, match="revoked"):
        await issuer.at(T0).verify(token)


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "x" * 20000, "e30.e30.e30"])
async def test_malformed_tokens_are_invalid_token(issuer: TokenIssuer, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        await issuer.at(T0).verify(garbage)


async def test_refresh_tokens_are_stored_as_a_hash_only(
    issuer: TokenIssuer, engine: AsyncEngine
) -> None:
    token = await issuer.at(T0).mint_refresh(
        client=CLIENT, grant_id="g2", subject="ann", scope=("read",), claims={}, jkt=None
    )
    async with engine.connect() as conn:
        from sqlalchemy import text

        rows = (await conn.execute(text("SELECT token_hash, claims FROM oauth_tokens"))).all()
    assert rows and all(token not in str(row) for row in rows)
    found = await issuer.at(T0).find(token, "refresh_token")
    assert found is not None and found.kind == "refresh" and found.grant_id == "g2"
