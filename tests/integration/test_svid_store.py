"""The SPIFFE issuer's keys in a real store, SQLite and PostgreSQL (``signing_keys``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import signing_keys
from warden.tokens.svid import SvidAuthority, SvidError

TD = "acme.example"
AGENT = "spiffe://acme.example/agent/ap-clerk"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


async def rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(signing_keys).order_by(signing_keys.c.kid))
    return [dict(r) for r in result.mappings()]


async def test_the_ca_and_jwt_key_persist_across_restarts(engine: AsyncEngine) -> None:
    first = await SvidAuthority.open(engine, TD, NOW)
    token = first.mint_jwt_svid(AGENT, ["billing"], NOW)
    leaf = first.mint_x509_svid(AGENT, NOW).cert_pem

    later = NOW + timedelta(days=30)
    second = await SvidAuthority.open(engine, TD, later)

    assert second.bundle_pem() == first.bundle_pem()  # the same CA certificate
    assert second.jwt_bundle() == first.jwt_bundle()  # the same JWT-SVID key
    assert second.bundle()["spiffe_sequence"] == first.bundle()["spiffe_sequence"]
    assert second.verify_jwt_svid(token, "billing", int(NOW.timestamp()))["sub"] == AGENT
    assert second.verify_x509_svid(leaf, NOW + timedelta(minutes=1)) == AGENT
    stored = await rows(engine)
    assert sorted(r["use"] for r in stored) == ["jwt-svid", "x509-ca"]
    assert all(r["alg"] == "ES256" for r in stored)


async def test_issued_private_keys_are_never_stored(engine: AsyncEngine) -> None:
    authority = await SvidAuthority.open(engine, TD, NOW)
    svid = authority.mint_x509_svid(AGENT, NOW)
    assert svid.key_pem is not None
    stored = await rows(engine)
    assert len(stored) == 2
    assert all(svid.key_pem != r["private_key"] for r in stored)


async def test_each_trust_domain_has_its_own_keys(engine: AsyncEngine) -> None:
    acme = await SvidAuthority.open(engine, TD, NOW)
    other = await SvidAuthority.open(engine, "other.example", NOW)
    assert acme.bundle_pem() != other.bundle_pem()
    assert acme.jwt_bundle() != other.jwt_bundle()
    token = other.mint_jwt_svid("spiffe://other.example/agent/x", ["billing"], NOW)
    with pytest.raises(SvidError, match=r"not signed by a key of `acme\.example`"):
        acme.verify_jwt_svid(token, "billing", int(NOW.timestamp()))
    assert len(await rows(engine)) == 4
    # reopening acme still finds acme's keys, not other's
    assert (await SvidAuthority.open(engine, TD, NOW)).bundle_pem() == acme.bundle_pem()


async def test_replicas_starting_together_agree_on_one_ca(engine: AsyncEngine) -> None:
    authorities = await asyncio.gather(*(SvidAuthority.open(engine, TD, NOW) for _ in range(4)))
    assert len({a.bundle_pem() for a in authorities}) == 1
    assert len({str(a.jwt_bundle()) for a in authorities}) == 1
    assert len(await rows(engine)) == 2
    token = authorities[0].mint_jwt_svid(AGENT, ["billing"], NOW)
    assert authorities[3].verify_jwt_svid(token, "billing", int(NOW.timestamp()))


async def test_a_retired_jwt_key_stays_published_until_its_tokens_expire(
    engine: AsyncEngine,
) -> None:
    first = await SvidAuthority.open(engine, TD, NOW)
    old_token = first.mint_jwt_svid(AGENT, ["billing"], NOW)
    async with engine.begin() as conn:
        await conn.execute(
            update(signing_keys)
            .where(signing_keys.c.use == "jwt-svid")
            .values(
                retired_at=NOW.isoformat(),
                publish_until=(NOW + timedelta(hours=1)).isoformat(),
            )
        )

    rotated = await SvidAuthority.open(engine, TD, NOW + timedelta(minutes=1))
    kids = [k["kid"] for k in rotated.jwt_bundle()["keys"]]
    assert len(kids) == 2  # the old key is still published, a new one signs
    assert rotated.verify_jwt_svid(old_token, "billing", int(NOW.timestamp()))
    new_token = rotated.mint_jwt_svid(AGENT, ["billing"], NOW)
    assert new_token.split(".")[0] != old_token.split(".")[0]  # a different kid
    assert rotated.bundle()["spiffe_sequence"] > first.bundle()["spiffe_sequence"]

    after = await SvidAuthority.open(engine, TD, NOW + timedelta(hours=2))
    assert len(after.jwt_bundle()["keys"]) == 1
    with pytest.raises(SvidError, match="not signed by a key of"):
        after.verify_jwt_svid(old_token, "billing", int(NOW.timestamp()))
