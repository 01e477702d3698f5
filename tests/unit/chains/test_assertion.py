"""The chain assertion: signed by Warden's key ring (over the real key store), verified with
every way a chain is refused — including lists Warden's own key signed but that do not link up,
so a bug that signs a bad list is still caught."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.chains import assertion
from warden.chains.errors import InvalidChain
from warden.chains.models import Hop, hop_digest
from warden.tokens import rfc9068
from warden.tokens.keys import KeyRing
from warden.tokens.store.sql import SqlKeyStore

T0 = datetime(2030, 1, 1, 9, tzinfo=UTC)
ISSUER = "https://warden.example"
DOMAIN = "acme.example"
PERSON = "ann@acme.example"
AGENTS = [f"spiffe://{DOMAIN}/agent/{n}" for n in ("root", "a1", "a2", "a3")]


@pytest.fixture
async def keys(engine: AsyncEngine) -> KeyRing:
    ring = KeyRing(SqlKeyStore(engine), max_token_lifetime=3600)
    await ring.load(T0)
    return ring


def chain(depth: int) -> list[Hop]:
    """Hop 0 (person → root) and ``depth`` delegations, digests chained."""
    hops: list[Hop] = []
    for level in range(depth + 1):
        parent = hops[-1] if hops else None
        hop = Hop(
            id=f"hop_{level}",
            chain_id="chn_1",
            parent_id=parent.id if parent else None,
            depth=level,
            person=PERSON,
            from_party=parent.to_agent if parent else PERSON,
            to_agent=AGENTS[level],
            mandate_id=f"m{level}",
            root_mandate_id="m0",
            exchange_jti=f"jti{level}",
            task="",
            tools=("erp.invoice.read",) if level else None,
            limits={},
            digest="",
            created_at=T0,
            expires_at=T0 + timedelta(hours=1),
        )
        hops.append(_digested(hop, parent.digest if parent else None))
    return hops


def _digested(hop: Hop, parent_digest: str | None) -> Hop:
    return dataclasses.replace(hop, digest=hop_digest(parent_digest, hop.body()))


def sign(keys: KeyRing, hops: list[Hop], exp: datetime | None = None) -> str:
    expires = int((exp or T0 + timedelta(hours=1)).timestamp())
    return assertion.sign(hops, issuer=ISSUER, audience=DOMAIN, expires_at=expires, keys=keys)


def verify(keys: KeyRing, token: str, now: datetime = T0, audience: str = DOMAIN) -> list[Hop]:
    verified = assertion.verify(token, issuer=ISSUER, audience=audience, keys=keys, now=now)
    return list(verified.hops)


def refused(keys: KeyRing, token: str, now: datetime = T0, audience: str = DOMAIN) -> str:
    with pytest.raises(InvalidChain) as caught:
        verify(keys, token, now, audience)
    return caught.value.code


async def test_a_chain_of_depth_three_round_trips(keys: KeyRing) -> None:
    hops = chain(3)
    token = sign(keys, hops)
    assert rfc9068.read_header(token)["typ"] == "wch+jwt"
    back = verify(keys, token)
    assert [h.to_agent for h in back] == AGENTS
    assert [h.digest for h in back] == [h.digest for h in hops]
    assert back[2].tools == ("erp.invoice.read",)
    assert "task" not in json.dumps(_claims(token)["hops"][0])  # tasks stay out of headers


async def test_a_tampered_payload_is_forged(keys: KeyRing) -> None:
    header, payload, signature = sign(keys, chain(2)).split(".")
    claims = _claims(f"{header}.{payload}.{signature}")
    claims["hops"][2]["tools"] = None
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refused(keys, f"{header}.{altered}.{signature}") == "chain.forged"


async def test_lists_that_do_not_link_up_are_broken_even_when_signed(keys: KeyRing) -> None:
    hops = chain(3)
    # A hop dropped from the middle.
    assert refused(keys, sign(keys, [hops[0], hops[1], hops[3]])) == "chain.broken"
    # Re-ordered.
    assert refused(keys, sign(keys, [hops[0], hops[2], hops[1], hops[3]])) == "chain.broken"
    # A hop whose tools were changed after its digest was taken.
    widened = dataclasses.replace(hops[2], tools=None)
    assert refused(keys, sign(keys, [*hops[:2], widened, hops[3]])) == "chain.broken"
    # A chain that does not start at the person.
    assert refused(keys, sign(keys, hops[1:])) == "chain.broken"


async def test_expiry_audience_type_and_garbage(keys: KeyRing) -> None:
    token = sign(keys, chain(1), exp=T0 + timedelta(minutes=5))
    assert refused(keys, token, now=T0 + timedelta(minutes=6)) == "chain.expired"
    assert refused(keys, token, audience="other.example") == "chain.forged"
    mandate_like = rfc9068.sign("txntoken+jwt", {"iss": ISSUER, "aud": DOMAIN}, keys)
    assert refused(keys, mandate_like) == "chain.malformed"
    assert refused(keys, "not-a-token") == "chain.malformed"
    assert refused(keys, "") == "chain.malformed"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    data: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return data
