"""DPoP `jti` replay across replicas: two verifiers (two Warden processes) sharing the
``replay_cache`` table of one real SQLite or PostgreSQL database (RFC 9449 §11.1), and a
nonce issued by one replica honoured by the other when they share the nonce secret."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.errors import InvalidDpopProof
from warden.tokens.replay import SqlReplayCache
from warden.tokens.rfc9449 import DpopNonces, DpopVerifier

NOW = 1_750_000_000
URL = "https://as.example.com/oauth2/token"
SECRET = b"shared-nonce-secret-0123456789ab"


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    url = parse_database_url(database_url)
    migrate(url)
    first, second = open_engine(url), open_engine(url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


def replicas(engines: tuple[AsyncEngine, AsyncEngine]) -> tuple[DpopVerifier, DpopVerifier]:
    return (
        DpopVerifier(SqlReplayCache(engines[0]), DpopNonces(SECRET)),
        DpopVerifier(SqlReplayCache(engines[1]), DpopNonces(SECRET)),
    )


def make_proof(
    key: ECKey, *, jti: str | None = None, nonce: str | None = None, iat: int = NOW
) -> str:
    claims = {"jti": jti or uuid.uuid4().hex, "htm": "POST", "htu": URL, "iat": iat}
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims), key)


async def test_a_proof_used_on_one_replica_is_refused_on_the_other(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    a, b = replicas(engines)
    key = ECKey.generate_key("P-256")
    proof = make_proof(key)
    await a.verify([proof], method="POST", url=URL, now=NOW)
    with pytest.raises(InvalidDpopProof, match="already used"):
        await b.verify([proof], method="POST", url=URL, now=NOW + 1)
    await b.verify([make_proof(key)], method="POST", url=URL, now=NOW + 1)


async def test_a_proof_raced_to_both_replicas_is_accepted_once(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    a, b = replicas(engines)
    proof = make_proof(ECKey.generate_key("P-256"))
    results = await asyncio.gather(
        *(v.verify([proof], method="POST", url=URL, now=NOW) for v in (a, b, a, b)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InvalidDpopProof) for r in results if isinstance(r, BaseException))


async def test_the_jti_is_kept_exactly_as_long_as_the_proof_could_be_accepted(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    a, b = replicas(engines)
    key = ECKey.generate_key("P-256")
    await a.verify([make_proof(key, jti="j")], method="POST", url=URL, now=NOW)
    last = NOW + a.max_age + a.leeway  # the last second the first proof is acceptable
    with pytest.raises(InvalidDpopProof, match="already used"):
        await b.verify([make_proof(key, jti="j", iat=last)], method="POST", url=URL, now=last)
    # One second later the first proof is dead, so its jti may be reused.
    await b.verify([make_proof(key, jti="j", iat=last + 1)], method="POST", url=URL, now=last + 1)


async def test_a_nonce_from_one_replica_is_honoured_by_the_other(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    a, b = replicas(engines)
    key = ECKey.generate_key("P-256")
    nonce = a.nonces.issue(NOW)
    proof = make_proof(key, nonce=nonce)
    result = await b.verify([proof], method="POST", url=URL, now=NOW + 3, require_nonce=True)
    assert result.nonce == nonce
