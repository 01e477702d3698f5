"""The token exchange grant through the real minter, key ring and token store (SQLite and
PostgreSQL): delegation chains, who may exchange, DPoP binding, Transaction Tokens."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.errors import InvalidToken, OAuthError
from warden.tokens.grants.token_exchange import TokenExchangeGrant
from warden.tokens.keys import KeyRing
from warden.tokens.minter import TokenIssuer
from warden.tokens.models import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    TXN_TOKEN_TYPE,
    Client,
    ClientAuthMethod,
    TokenRequest,
    TokenResponse,
)
from warden.tokens.replay import SqlReplayCache
from warden.tokens.rfc8693 import SELF_SIGNED_TOKEN_TYPE, actor_chain
from warden.tokens.service import TokenContext
from warden.tokens.settings import TokenSettings
from warden.tokens.store.sql import SqlKeyStore, SqlTokenStore
from warden.tokens.svid import SvidAuthority
from warden.tokens.txn_tokens import verify_txn_token

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SETTINGS = TokenSettings(issuer="https://warden.example")
DOMAIN = SETTINGS.trust_domain
API = "https://erp.example/api"
NAMES = ["root", "a1", "a2", "a3", "a4", "a5", "a6"]
AGENTS = {n: f"spiffe://warden.local/agent/{n}" for n in NAMES}
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def client_of(name: str, **changes: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": f"{name}-app",
        "client_name": name,
        "auth_method": ClientAuthMethod.PRIVATE_KEY_JWT,
        "secret_hash": None,
        "jwks": None,
        "redirect_uris": (),
        "grant_types": ("client_credentials", TOKEN_EXCHANGE_GRANT),
        "scope": ("invoices:read", "invoices:pay"),
        "dpop_bound": False,
        "agent_id": AGENTS[name],
        "created_at": T0,
    }
    return Client(**(fields | changes))


class Agents:
    def __init__(self) -> None:
        self.status = dict.fromkeys(AGENTS.values(), "active")

    def agent_status(self, agent_id: str) -> str | None:
        return self.status.get(agent_id)


@dataclass
class Authority:
    engine: AsyncEngine
    issuer: TokenIssuer
    agents: Agents
    replay: SqlReplayCache
    grant: TokenExchangeGrant

    def ctx(self, now: datetime = T0) -> TokenContext:
        return TokenContext(SETTINGS, now, self.issuer.at(now), self.agents, self.replay)

    async def own_token(
        self, name: str, *, scope: str = "invoices:read invoices:pay", **more: Any
    ) -> str:
        """The agent's own access token, as client_credentials would issue it."""
        claims = {"sub": AGENTS[name], "scope": scope, "aud": API, **more}
        token, _ = await self.ctx().tokens.mint(
            claims, kind="access", client=client_of(name), grant_id=f"g-{name}", ttl=600
        )
        return token

    async def exchange(
        self, name: str, now: datetime = T0, jkt: str | None = None, **params: str
    ) -> TokenResponse:
        base = {"subject_token_type": ACCESS_TOKEN_TYPE}
        audiences = (params.pop("audience"),) if "audience" in params else ()
        request = TokenRequest(
            TOKEN_EXCHANGE_GRANT, base | params, audiences=audiences, dpop_jkt=jkt
        )
        return await self.grant.exchange(request, client_of(name), self.ctx(now))

    async def delegate_to(self, subject: str, name: str, **params: str) -> TokenResponse:
        actor = await self.own_token(name)
        return await self.exchange(
            name,
            subject_token=subject,
            actor_token=actor,
            actor_token_type=ACCESS_TOKEN_TYPE,
            **params,
        )

    async def claims(self, token: str, typ: str = "at+jwt") -> Mapping[str, Any]:
        return await self.ctx().tokens.verify(token, typ=typ)


@pytest.fixture
async def authority(database_url: str) -> AsyncIterator[Authority]:
    parsed = parse_database_url(database_url)
    await asyncio.to_thread(migrate, parsed)
    engine = open_engine(parsed)
    keys = KeyRing(SqlKeyStore(engine), max_token_lifetime=SETTINGS.max_token_lifetime)
    await keys.load(T0)
    issuer = TokenIssuer(SETTINGS, keys, SqlTokenStore(engine))
    try:
        yield Authority(engine, issuer, Agents(), SqlReplayCache(engine), TokenExchangeGrant())
    finally:
        await engine.dispose()


@contextmanager
def refused(code: str) -> Iterator[None]:
    with pytest.raises(OAuthError) as caught:
        yield
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"


# -- delegation --------------------------------------------------------------------------


async def test_a_delegated_token_and_its_response(authority: Authority) -> None:
    response = await authority.delegate_to(await authority.own_token("root"), "a1")
    body = response.to_dict()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == SETTINGS.access_token_ttl
    assert body["scope"] == "invoices:read invoices:pay"  # none was asked for: say what it is
    assert "refresh_token" not in body
    claims = await authority.claims(response.access_token)
    assert claims["sub"] == AGENTS["root"]
    assert claims["act"] == {"sub": AGENTS["a1"]}
    assert claims["chain_depth"] == 1
    assert claims["client_id"] == "a1-app"
    assert claims["aud"] == API


async def test_scope_is_left_out_of_the_response_when_it_is_what_was_asked(
    authority: Authority,
) -> None:
    subject = await authority.own_token("root")
    response = await authority.delegate_to(subject, "a1", scope="invoices:read")
    assert "scope" not in response.to_dict()
    assert (await authority.claims(response.access_token))["scope"] == "invoices:read"


async def test_chains_of_depth_1_to_5_by_successive_exchanges(authority: Authority) -> None:
    token = await authority.own_token("root")
    for depth, name in enumerate(NAMES[1:6], start=1):
        token = (await authority.delegate_to(token, name)).access_token
        claims = await authority.claims(token)
        assert claims["sub"] == AGENTS["root"]
        assert claims["chain_depth"] == depth
        assert actor_chain(claims) == tuple(AGENTS[n] for n in reversed(NAMES[1 : depth + 1]))
    with refused("invalid_request"):
        await authority.delegate_to(token, "a6")


async def test_widening_on_the_second_hop_is_refused(authority: Authority) -> None:
    subject = await authority.own_token("root")
    first = await authority.delegate_to(subject, "a1", scope="invoices:read")
    with refused("invalid_scope"):
        await authority.delegate_to(first.access_token, "a2", scope="invoices:pay")
    with refused("invalid_target"):
        await authority.delegate_to(first.access_token, "a2", audience="https://other.example")


async def test_a_suspended_actor_is_refused(authority: Authority) -> None:
    subject = await authority.own_token("root")
    authority.agents.status[AGENTS["a1"]] = "suspended"
    with refused("invalid_request"):
        await authority.delegate_to(subject, "a1")


async def test_a_suspended_agent_in_the_chain_stops_further_delegation(
    authority: Authority,
) -> None:
    first = await authority.delegate_to(await authority.own_token("root"), "a1")
    authority.agents.status[AGENTS["a1"]] = "suspended"
    with refused("invalid_request"):
        await authority.delegate_to(first.access_token, "a2")


async def test_the_actor_token_must_be_the_requesting_clients_own(authority: Authority) -> None:
    subject, someone_else = await authority.own_token("root"), await authority.own_token("a2")
    with refused("invalid_request"):
        await authority.exchange(
            "a1",
            subject_token=subject,
            actor_token=someone_else,
            actor_token_type=ACCESS_TOKEN_TYPE,
        )


@pytest.mark.parametrize("bad", ["not-a-jwt", "a.b.c"])
async def test_an_invalid_subject_token_is_invalid_request(authority: Authority, bad: str) -> None:
    with refused("invalid_request"):
        await authority.delegate_to(bad, "a1")


async def test_a_revoked_subject_token_is_invalid_request(authority: Authority) -> None:
    subject = await authority.own_token("root")
    await authority.ctx().tokens.revoke_grant("g-root")
    with refused("invalid_request"):
        await authority.delegate_to(subject, "a1")


async def test_may_act_is_enforced_with_real_tokens(authority: Authority) -> None:
    subject = await authority.own_token("root", may_act={"sub": AGENTS["a2"]})
    with refused("invalid_request"):
        await authority.delegate_to(subject, "a1")
    done = await authority.delegate_to(subject, "a2")
    assert (await authority.claims(done.access_token))["act"] == {"sub": AGENTS["a2"]}


async def test_without_an_actor_only_the_holder_may_narrow(authority: Authority) -> None:
    subject = await authority.own_token("root")
    narrowed = await authority.exchange("root", subject_token=subject, scope="invoices:read")
    claims = await authority.claims(narrowed.access_token)
    assert (claims["sub"], claims["scope"], "act" in claims) == (
        AGENTS["root"],
        "invoices:read",
        False,
    )
    with refused("invalid_request"):
        await authority.exchange("a1", subject_token=subject)


async def test_a_dpop_proof_binds_the_new_token(authority: Authority) -> None:
    actor = await authority.own_token("a1")
    response = await authority.exchange(
        "a1",
        jkt=JKT,
        subject_token=await authority.own_token("root"),
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    assert response.token_type == "DPoP"
    assert (await authority.claims(response.access_token))["cnf"] == {"jkt": JKT}


async def test_a_sender_constrained_subject_needs_its_key_or_may_act(authority: Authority) -> None:
    bound = await authority.own_token("root", cnf={"jkt": "root-key"})
    with refused("invalid_request"):
        await authority.delegate_to(bound, "a1")
    consented = await authority.own_token(
        "root", cnf={"jkt": "root-key"}, may_act={"sub": AGENTS["a1"]}
    )
    assert (await authority.delegate_to(consented, "a1")).access_token


async def test_a_delegated_token_never_outlives_its_subject(authority: Authority) -> None:
    subject = await authority.own_token("root")
    later = T0 + timedelta(seconds=500)
    actor = await authority.own_token("a1")
    response = await authority.exchange(
        "a1",
        now=later,
        subject_token=subject,
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    assert response.expires_in == 100


# -- transaction tokens ------------------------------------------------------------------


async def txn_token(authority: Authority, **params: str) -> TokenResponse:
    subject = await authority.own_token("root", sub="ann@acme.example")
    base = {
        "subject_token": subject,
        "requested_token_type": TXN_TOKEN_TYPE,
        "audience": DOMAIN,
        "scope": "invoices:pay",
        "request_details": '{"invoice": "INV-7", "amount": 120}',
        "request_context": '{"req_ip": "10.0.0.7"}',
    }
    return await authority.exchange("a1", **(base | params))


async def test_a_transaction_token_response_and_claims(authority: Authority) -> None:
    response = await txn_token(authority)
    body = response.to_dict()
    assert body["token_type"] == "N_A"
    assert body["issued_token_type"] == TXN_TOKEN_TYPE
    assert "refresh_token" not in body
    header = jws.extract_compact(response.access_token.encode()).protected
    assert header["typ"] == "txntoken+jwt"
    claims = await verify_txn_token(response.access_token, authority.ctx(), DOMAIN)
    assert claims["aud"] == DOMAIN
    assert claims["sub"] == "ann@acme.example"
    assert claims["scope"] == "invoices:pay"
    assert claims["req_wl"] == AGENTS["a1"]
    assert claims["tctx"] == {"invoice": "INV-7", "amount": 120}
    assert claims["rctx"] == {"req_ip": "10.0.0.7"}
    assert claims["exp"] - claims["iat"] == SETTINGS.txn_token_ttl
    assert len(claims["txn"]) >= 16


async def test_a_transaction_token_is_not_an_access_token(authority: Authority) -> None:
    response = await txn_token(authority)
    with pytest.raises(InvalidToken):
        await authority.claims(response.access_token)


async def test_receivers_refuse_another_trust_domain_and_expiry(authority: Authority) -> None:
    token = (await txn_token(authority)).access_token
    with pytest.raises(InvalidToken):
        await verify_txn_token(token, authority.ctx(), "other.example")
    with pytest.raises(InvalidToken):
        await verify_txn_token(token, authority.ctx(T0 + timedelta(hours=1)), DOMAIN)


async def test_a_refresh_token_cannot_be_the_subject(authority: Authority) -> None:
    with refused("invalid_request"):
        await txn_token(authority, subject_token_type=REFRESH_TOKEN_TYPE)


async def test_the_audience_must_be_the_trust_domain(authority: Authority) -> None:
    with refused("invalid_target"):
        await txn_token(authority, audience="other.example")


async def test_scope_cannot_exceed_the_subject_tokens(authority: Authority) -> None:
    with refused("invalid_scope"):
        await txn_token(authority, scope="payroll:run")


async def replace(
    authority: Authority, presented: str, now: datetime = T0, **params: str
) -> TokenResponse:
    base = {
        "subject_token": presented,
        "subject_token_type": TXN_TOKEN_TYPE,
        "requested_token_type": TXN_TOKEN_TYPE,
        "audience": DOMAIN,
        "scope": "invoices:pay",
    }
    return await authority.exchange("a2", now=now, **(base | params))


async def test_a_replacement_keeps_txn_sub_aud_tctx(authority: Authority) -> None:
    first = (await txn_token(authority)).access_token
    replaced = await replace(authority, first)
    assert replaced.token_type == "N_A" and replaced.refresh_token is None
    old = await verify_txn_token(first, authority.ctx(), DOMAIN)
    new = await verify_txn_token(replaced.access_token, authority.ctx(), DOMAIN)
    for name in ("txn", "sub", "aud", "tctx"):
        assert new[name] == old[name]
    assert new["req_wl"] == f"{AGENTS['a1']},{AGENTS['a2']}"


async def test_a_replacement_never_widens_scope(authority: Authority) -> None:
    first = (await txn_token(authority)).access_token
    with refused("invalid_scope"):
        await replace(authority, first, scope="invoices:pay invoices:read")


async def test_an_expired_transaction_token_is_not_replaced(authority: Authority) -> None:
    first = (await txn_token(authority)).access_token
    with refused("invalid_request"):
        await replace(authority, first, now=T0 + timedelta(seconds=SETTINGS.txn_token_ttl))


async def test_an_access_token_cannot_pose_as_a_transaction_token(authority: Authority) -> None:
    with refused("invalid_request"):
        await replace(authority, await authority.own_token("root"))


async def test_a_self_signed_subject_from_a_client_with_keys(authority: Authority) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    client = client_of("a1", jwks={"keys": [key.as_dict(private=False)]})
    claims = {
        "iss": "a1-app",
        "sub": "ann@acme.example",
        "aud": SETTINGS.issuer,
        "iat": int(T0.timestamp()),
        "exp": int(T0.timestamp()) + 60,
    }
    request = TokenRequest(
        TOKEN_EXCHANGE_GRANT,
        {
            "subject_token": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key),
            "subject_token_type": SELF_SIGNED_TOKEN_TYPE,
            "requested_token_type": TXN_TOKEN_TYPE,
            "scope": "invoices:read",
        },
        audiences=(DOMAIN,),
    )
    response = await authority.grant.exchange(request, client, authority.ctx())
    issued = await verify_txn_token(response.access_token, authority.ctx(), DOMAIN)
    assert (issued["sub"], issued["scope"]) == ("ann@acme.example", "invoices:read")
    assert response.expires_in == 60
    with refused("invalid_request"):  # signed by a key the client never registered
        await authority.grant.exchange(request, client_of("a1"), authority.ctx())


# -- a JWT-SVID as the actor token -------------------------------------------------------


async def test_a_jwt_svid_can_be_the_actor_token(authority: Authority) -> None:
    svids = await SvidAuthority.open(authority.engine, DOMAIN, T0)
    authority.grant = TokenExchangeGrant(svids)
    subject = await authority.own_token("root")
    svid = svids.mint_jwt_svid(AGENTS["a1"], [SETTINGS.issuer], T0)
    response = await authority.exchange(
        "a1", subject_token=subject, actor_token=svid, actor_token_type=JWT_TOKEN_TYPE
    )
    assert (await authority.claims(response.access_token))["act"] == {"sub": AGENTS["a1"]}
    elsewhere = svids.mint_jwt_svid(AGENTS["a1"], ["https://other.example"], T0)
    with refused("invalid_request"):
        await authority.exchange(
            "a1", subject_token=subject, actor_token=elsewhere, actor_token_type=JWT_TOKEN_TYPE
        )


# -- bad input: each is the spec's error code, never a crash -----------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: Mapping[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _claims(**more: Any) -> dict[str, Any]:
    now = int(T0.timestamp())
    base = {"iss": SETTINGS.issuer, "sub": AGENTS["root"], "aud": API, "scope": "invoices:read"}
    return base | {"iat": now, "exp": now + 600, "jti": "j-1", "client_id": "root-app"} | more


BAD_TOKENS: dict[str, Any] = {
    "malformed": lambda: "%%%.%%%.%%%",
    "oversized": lambda: "e" * 40_000 + ".e.e",
    "alg none": lambda: _unsigned(_claims()),
    "hmac": lambda: jwt.encode(
        {"alg": "HS256", "typ": "at+jwt"}, _claims(), OctKey.generate_key(256)
    ),
    "foreign key": lambda: jwt.encode(
        {"alg": "ES256", "typ": "at+jwt"}, _claims(), ECKey.generate_key("P-256")
    ),
}


@pytest.mark.parametrize("bad", list(BAD_TOKENS))
@pytest.mark.parametrize("role", ["subject", "actor"])
async def test_bad_tokens_are_invalid_request(authority: Authority, bad: str, role: str) -> None:
    token = BAD_TOKENS[bad]()
    subject = token if role == "subject" else await authority.own_token("root")
    actor = token if role == "actor" else await authority.own_token("a1")
    with refused("invalid_request"):
        await authority.exchange(
            "a1", subject_token=subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE
        )


@pytest.mark.parametrize(
    ("when", "why"),
    [(timedelta(hours=1), "expired"), (timedelta(minutes=-10), "not yet valid")],
)
async def test_expired_and_not_yet_valid_subjects_are_invalid_request(
    authority: Authority, when: timedelta, why: str
) -> None:
    subject = await authority.own_token("root")
    with refused("invalid_request"):
        await authority.exchange("root", now=T0 + when, subject_token=subject)


async def test_a_foreign_issuer_is_invalid_request(authority: Authority) -> None:
    foreign = TokenIssuer(
        TokenSettings(issuer="https://evil.example"), authority.issuer.keys, authority.issuer.store
    )
    token, _ = await foreign.at(T0).mint(
        _claims(), kind="access", client=client_of("root"), grant_id="g-x", ttl=600
    )
    with refused("invalid_request"):
        await authority.exchange("root", subject_token=token)


async def test_revoking_the_subjects_grant_revokes_its_delegations(authority: Authority) -> None:
    subject = await authority.own_token("root")  # issued under grant `g-root`
    hop1 = (await authority.delegate_to(subject, "a1")).access_token
    hop2 = (await authority.delegate_to(hop1, "a2")).access_token
    assert (await authority.claims(hop2))["chain_depth"] == 2
    await authority.ctx().tokens.revoke_grant("g-root")
    for token in (subject, hop1, hop2):
        with pytest.raises(InvalidToken):
            await authority.claims(token)
