"""Token exchange over the real token endpoint: the ASGI app over a real SQLite store, agents
and clients registered through the API, tokens from ``client_credentials``, exchanged into
delegation chains and Transaction Tokens, and every JWT checked against the published JWKS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, TXN_TOKEN_TYPE
from warden.tokens.settings import TokenSettings

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ISSUER = "http://warden.test"
DOMAIN = "warden.local"
API = "https://erp.example/api"
NAMES = ["root", "a1", "a2", "a3", "a4", "a5", "a6"]
AGENTS = {n: f"spiffe://{DOMAIN}/agent/{n}" for n in NAMES}


@pytest.fixture
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = TokenSettings(issuer=ISSUER, trust_domain=DOMAIN)
    runtime = await Runtime.open(sqlite_url, token_settings=settings)
    app = create_app(runtime, admin_token=ADMIN_TOKEN)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client
    finally:
        await runtime.close()


class Fleet:
    """Registered agents, each with a confidential client allowed to exchange tokens."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.secrets: dict[str, tuple[str, str]] = {}

    async def register(self, name: str) -> None:
        owner = "ann@acme.example"
        agent = {"id": AGENTS[name], "display_name": name, "owner": owner, "team": "finance"}
        assert (await self.http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
        metadata = {
            "spiffe_id": AGENTS[name],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
            "scope": "invoices:read invoices:pay",
            "resources": [API],
        }
        answer = await self.http.post("/oauth2/register", json=metadata, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        self.secrets[name] = (body["client_id"], body["client_secret"])

    async def token(self, name: str, **form: str) -> httpx.Response:
        response = await self.http.post("/oauth2/token", data=form, auth=self.secrets[name])
        assert response.headers["cache-control"] == "no-store"
        return response

    async def own_token(self, name: str) -> str:
        response = await self.token(name, grant_type="client_credentials", resource=API)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def delegate(self, subject: str, name: str, **form: str) -> httpx.Response:
        return await self.token(
            name,
            grant_type=TOKEN_EXCHANGE_GRANT,
            subject_token=subject,
            subject_token_type=ACCESS_TOKEN_TYPE,
            actor_token=await self.own_token(name),
            actor_token_type=ACCESS_TOKEN_TYPE,
            **form,
        )

    async def decode(self, token: str, typ: str = "at+jwt") -> dict[str, Any]:
        """Claims of a Warden JWT, verified against the published JWKS."""
        jwks = (await self.http.get("/.well-known/jwks.json")).json()
        header = jws.extract_compact(token.encode()).protected
        assert header["typ"] == typ
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
        return dict(decoded.claims)


@pytest.fixture
async def fleet(http: httpx.AsyncClient) -> Fleet:
    fleet = Fleet(http)
    for name in NAMES:
        await fleet.register(name)
    return fleet


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


async def test_a_chain_of_five_exchanges_and_the_sixth_refused(fleet: Fleet) -> None:
    token = await fleet.own_token("root")
    for depth, name in enumerate(NAMES[1:6], start=1):
        response = await fleet.delegate(token, name)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
        assert body["token_type"] == "Bearer"
        assert "refresh_token" not in body
        token = body["access_token"]
        claims = await fleet.decode(token)
        assert claims["sub"] == AGENTS["root"]
        assert claims["act"]["sub"] == AGENTS[name]
        assert claims["chain_depth"] == depth
        assert claims["client_id"] == AGENTS[name]
        assert claims["aud"] == API
    assert error_of(await fleet.delegate(token, "a6")) == "invalid_request"


async def test_widening_over_http_gets_the_spec_codes(fleet: Fleet) -> None:
    narrowed = await fleet.delegate(await fleet.own_token("root"), "a1", scope="invoices:read")
    assert narrowed.status_code == 200 and "scope" not in narrowed.json()
    subject = narrowed.json()["access_token"]
    assert error_of(await fleet.delegate(subject, "a2", scope="invoices:pay")) == "invalid_scope"
    other = "https://other.example/api"
    assert error_of(await fleet.delegate(subject, "a2", resource=other)) == "invalid_target"
    assert error_of(await fleet.delegate(subject, "a2", audience="billing")) == "invalid_target"


async def test_a_cycle_is_refused_over_http(fleet: Fleet) -> None:
    first = (await fleet.delegate(await fleet.own_token("root"), "a1")).json()["access_token"]
    second = (await fleet.delegate(first, "a2")).json()["access_token"]
    assert error_of(await fleet.delegate(second, "a1")) == "invalid_request"
    assert error_of(await fleet.delegate(second, "root")) == "invalid_request"


async def test_the_request_shape_is_enforced(fleet: Fleet) -> None:
    subject = await fleet.own_token("root")
    base = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": subject}
    assert error_of(await fleet.token("a1", **base)) == "invalid_request"  # no type
    half = base | {"subject_token_type": ACCESS_TOKEN_TYPE, "actor_token": subject}
    assert error_of(await fleet.token("a1", **half)) == "invalid_request"


async def test_a_transaction_token_over_http(fleet: Fleet) -> None:
    subject = (await fleet.delegate(await fleet.own_token("root"), "a1")).json()["access_token"]
    response = await fleet.token(
        "a2",
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=subject,
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=TXN_TOKEN_TYPE,
        audience=DOMAIN,
        scope="invoices:pay",
        request_details='{"invoice": "INV-7"}',
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["issued_token_type"]) == ("N_A", TXN_TOKEN_TYPE)
    assert "refresh_token" not in body
    claims = await fleet.decode(body["access_token"], typ="txntoken+jwt")
    assert claims["aud"] == DOMAIN
    assert claims["sub"] == AGENTS["root"]
    assert claims["req_wl"] == AGENTS["a2"]
    assert claims["tctx"] == {"invoice": "INV-7"}
    assert claims["act"] == {"sub": AGENTS["a1"]}
    replaced = await fleet.token(
        "a3",
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=body["access_token"],
        subject_token_type=TXN_TOKEN_TYPE,
        requested_token_type=TXN_TOKEN_TYPE,
        audience=DOMAIN,
        scope="invoices:pay",
    )
    assert replaced.status_code == 200, replaced.text
    again = await fleet.decode(replaced.json()["access_token"], typ="txntoken+jwt")
    assert (again["txn"], again["sub"], again["tctx"]) == (
        claims["txn"],
        claims["sub"],
        claims["tctx"],
    )


async def test_a_transaction_token_for_another_audience_is_invalid_target(fleet: Fleet) -> None:
    response = await fleet.token(
        "a1",
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=await fleet.own_token("root"),
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=TXN_TOKEN_TYPE,
        audience="other.example",
        scope="invoices:pay",
    )
    assert error_of(response) == "invalid_target"


async def test_metadata_advertises_token_exchange(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert TOKEN_EXCHANGE_GRANT in metadata["grant_types_supported"]


@pytest.mark.parametrize("junk", ["x", "a.b.c", "e" * 20_000, "eyJhbGciOiJub25lIn0.e30."])
async def test_junk_subject_tokens_are_400_never_500(fleet: Fleet, junk: str) -> None:
    response = await fleet.token(
        "a1",
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=junk,
        subject_token_type=ACCESS_TOKEN_TYPE,
    )
    assert error_of(response) == "invalid_request"


@pytest.mark.parametrize("audience", [ISSUER, f"{ISSUER}/oauth2/token"])
async def test_a_jwt_svid_from_warden_is_an_actor_token_at_the_endpoint(
    fleet: Fleet, audience: str
) -> None:
    """The delegate proves itself with a JWT-SVID issued through the admin API, addressed to
    the issuer or to the token endpoint (as client assertions may be)."""
    issued = await fleet.http.post(
        f"/v1/agents/{AGENTS['a1']}/credentials",
        json={"kind": "jwt", "audience": [audience]},
        headers=ADMIN,
    )
    assert issued.status_code == 200, issued.text
    response = await fleet.token(
        "a1",
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=await fleet.own_token("root"),
        subject_token_type=ACCESS_TOKEN_TYPE,
        actor_token=issued.json()["token"],
        actor_token_type="urn:ietf:params:oauth:token-type:jwt",
    )
    assert response.status_code == 200, response.text
    claims = await fleet.decode(response.json()["access_token"])
    assert claims["sub"] == AGENTS["root"]
    assert claims["act"]["sub"] == AGENTS["a1"]


async def test_a_delegate_never_gets_more_than_its_client_is_registered_for(
    fleet: Fleet,
) -> None:
    name, agent_id = "narrow", f"spiffe://{DOMAIN}/agent/narrow"
    AGENTS[name] = agent_id
    try:
        agent = {"id": agent_id, "display_name": name, "owner": "a@acme.example", "team": "t"}
        assert (await fleet.http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
        metadata = {
            "spiffe_id": agent_id,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
            "scope": "invoices:read",
            "resources": [API],
        }
        body = (await fleet.http.post("/oauth2/register", json=metadata, headers=ADMIN)).json()
        fleet.secrets[name] = (body["client_id"], body["client_secret"])
        subject = await fleet.own_token("root")  # invoices:read invoices:pay
        capped = await fleet.delegate(subject, name)
        assert capped.status_code == 200, capped.text
        assert (await fleet.decode(capped.json()["access_token"]))["scope"] == "invoices:read"
        widened = await fleet.delegate(subject, name, scope="invoices:pay")
        assert error_of(widened) == "invalid_scope"
    finally:
        AGENTS.pop(name)
