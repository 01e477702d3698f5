"""The token, introspection, revocation and registration endpoints over HTTP (in-process
ASGI) on SQLite and PostgreSQL: every error code they produce, and their headers."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.settings import TokenSettings

ISSUER = "http://warden.test"
TOKEN_URL = f"{ISSUER}/oauth2/token"
ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
AGENT = "spiffe://acme.example/agent/ap-clerk"
API = "https://api.acme.example/ledger"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = TokenSettings(issuer=ISSUER, trust_domain="acme.example")
    rt = await Runtime.open(database_url, token_settings=settings)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, admin_token="admin-token-0123456789")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


async def _agent(client: httpx.AsyncClient, agent_id: str = AGENT) -> None:
    body = {"id": agent_id, "display_name": "AP", "owner": "ann@acme.example", "team": "ap"}
    assert (await client.post("/v1/agents", json=body, headers=ADMIN)).status_code == 201


async def _register(client: httpx.AsyncClient, **metadata: Any) -> dict[str, Any]:
    response = await client.post("/oauth2/register", json=metadata, headers=ADMIN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _agent_client(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    await _agent(client)
    metadata = {"spiffe_id": AGENT, "scope": "ledger:read ledger:write", "resources": [API]}
    return await _register(client, **{**metadata, **extra})


def _basic(registered: dict[str, Any]) -> dict[str, str]:
    raw = f"{quote(registered['client_id'], safe='')}:{registered['client_secret']}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


async def _token(
    client: httpx.AsyncClient, body: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/oauth2/token", content=body, headers={**FORM, **(headers or {})})


def _error(response: httpx.Response) -> str:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    error: str = response.json()["error"]
    return error


async def test_token_response_is_not_cacheable_and_audience_is_the_resource(
    client: httpx.AsyncClient,
) -> None:
    registered = await _agent_client(client)
    body = f"grant_type=client_credentials&resource={quote(API, safe='')}&scope=ledger:read"
    response = await _token(client, body, _basic(registered))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    issued = response.json()
    assert issued["token_type"] == "Bearer" and "refresh_token" not in issued
    assert issued["scope"] == "ledger:read"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("scope=ledger:read", 400, "invalid_request"),
        ("grant_type=password&username=a&password=b", 400, "unsupported_grant_type"),
        ("grant_type=implicit", 400, "unsupported_grant_type"),
        ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
        ("grant_type=client_credentials&scope=a&scope=b", 400, "invalid_request"),
        ("grant_type=client_credentials&scope=admin", 400, "invalid_scope"),
        ("grant_type=client_credentials&resource=not-absolute", 400, "invalid_target"),
        ("grant_type=client_credentials&resource=https%3A%2F%2Fx.example", 400, "invalid_target"),
        ("grant_type=client_credentials&authorization_details=%5B1%5D", 400,
         "invalid_authorization_details"),
        ("grant_type=authorization_code&code=x", 400, "unauthorized_client"),
        ("grant_type=client_credentials&a=%ZZ&&=", 400, "invalid_request"),
    ],
)  # fmt: skip
async def test_token_errors(client: httpx.AsyncClient, body: str, status: int, error: str) -> None:
    registered = await _agent_client(client)
    response = await _token(client, body, _basic(registered))
    assert response.status_code == status, response.text
    assert _error(response) == error
    assert response.json()["error_description"]


async def test_resource_may_repeat_and_becomes_every_audience(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = "https://api.acme.example/payments"
    registered = await _agent_client(client, resources=[API, other])
    body = "grant_type=client_credentials" + "".join(
        f"&resource={quote(r, safe='')}" for r in (API, other)
    )
    response = await _token(client, body, _basic(registered))
    assert response.status_code == 200, response.text
    claims = await runtime.verify_access_token(response.json()["access_token"], audience=other)
    assert claims["aud"] == [API, other]


async def test_wrong_content_type_is_invalid_request(client: httpx.AsyncClient) -> None:
    registered = await _agent_client(client)
    response = await client.post(
        "/oauth2/token", json={"grant_type": "client_credentials"}, headers=_basic(registered)
    )
    assert response.status_code == 400 and _error(response) == "invalid_request"


async def test_bad_basic_credentials_are_401_with_a_basic_challenge(
    client: httpx.AsyncClient,
) -> None:
    registered = await _agent_client(client)
    bad = {**registered, "client_secret": "wrong"}
    response = await _token(client, "grant_type=client_credentials", _basic(bad))
    assert response.status_code == 401 and _error(response) == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    garbled = await _token(client, "grant_type=client_credentials", {"Authorization": "Basic %%"})
    assert garbled.status_code == 401 and _error(garbled) == "invalid_client"


async def test_client_secret_post_and_method_mismatch(client: httpx.AsyncClient) -> None:
    registered = await _agent_client(client)
    body = f"grant_type=client_credentials&client_id={quote(AGENT, safe='')}"
    posted = await _token(client, f"{body}&client_secret={registered['client_secret']}")
    assert posted.status_code == 401 and _error(posted) == "invalid_client"  # basic only
    public = await _token(client, body)
    assert public.status_code == 401 and _error(public) == "invalid_client"
    both = await _token(client, f"{body}&client_secret=x", _basic(registered))
    assert both.status_code == 400 and _error(both) == "invalid_request"
    nobody = await _token(client, "grant_type=client_credentials")
    assert nobody.status_code == 401 and _error(nobody) == "invalid_client"


async def test_a_provisioned_agent_is_unauthorized(client: httpx.AsyncClient) -> None:
    registered = await _register(
        client,
        spiffe_id="spiffe://acme.example/agent/ghost",
        contacts=["o@acme.example"],
        token_endpoint_auth_method="client_secret_post",
    )
    body = (
        f"grant_type=client_credentials&client_id={quote(registered['client_id'], safe='')}"
        f"&client_secret={registered['client_secret']}"
    )
    response = await _token(client, body)
    assert response.status_code == 400 and _error(response) == "unauthorized_client"
    assert "provisioned" in response.json()["error_description"]


def _assertion(key: ECKey, claims: dict[str, Any], alg: str = "ES256") -> str:
    now = int(time.time())
    base = {"iss": AGENT, "sub": AGENT, "aud": TOKEN_URL, "exp": now + 60, "jti": str(now)}
    payload = {k: v for k, v in {**base, **claims}.items() if v is not None}
    import json

    return jws.serialize_compact({"alg": alg}, json.dumps(payload), key, algorithms=[alg])


async def _keyed_client(client: httpx.AsyncClient, key: ECKey) -> None:
    await _agent(client)
    await _register(
        client,
        spiffe_id=AGENT,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )


def _jwt_body(assertion: str) -> str:
    kind = quote("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", safe="")
    return (
        f"grant_type=client_credentials&client_assertion_type={kind}&client_assertion={assertion}"
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://elsewhere.example/token"},
        {"iss": "spiffe://acme.example/agent/other"},
        {"exp": None},
        {"exp": 1_000_000},
        {"jti": None},
        {"exp": int(time.time()) + 10 * 3600},
    ],
)
async def test_private_key_jwt_assertion_checks(
    client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    await _keyed_client(client, key)
    response = await _token(client, _jwt_body(_assertion(key, claims)))
    assert response.status_code == 401 and _error(response) == "invalid_client"


async def test_private_key_jwt_is_one_time_and_needs_the_registered_key(
    client: httpx.AsyncClient,
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    await _keyed_client(client, key)
    assertion = _assertion(key, {"jti": "once"})
    assert (await _token(client, _jwt_body(assertion))).status_code == 200
    replayed = await _token(client, _jwt_body(assertion))
    assert replayed.status_code == 401 and "already used" in replayed.json()["error_description"]
    stranger = ECKey.generate_key("P-256", private=True)
    forged = await _token(client, _jwt_body(_assertion(stranger, {"jti": "two"})))
    assert forged.status_code == 401 and _error(forged) == "invalid_client"


async def test_jwt_svid_is_accepted_as_the_client_assertion(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    await _keyed_client(client, key)
    svid = runtime.svids.mint_jwt_svid(AGENT, [TOKEN_URL], datetime.now(UTC))
    response = await _token(client, _jwt_body(svid))
    assert response.status_code == 200, response.text
    wrong_aud = runtime.svids.mint_jwt_svid(AGENT, ["billing"], datetime.now(UTC))
    assert (await _token(client, _jwt_body(wrong_aud))).status_code == 401


async def test_dpop_bound_client_needs_a_proof(client: httpx.AsyncClient) -> None:
    registered = await _agent_client(client, dpop_bound_access_tokens=True)
    response = await _token(client, "grant_type=client_credentials", _basic(registered))
    assert response.status_code == 400 and _error(response) == "invalid_dpop_proof"


async def test_dpop_proof_binds_the_token(client: httpx.AsyncClient, runtime: Runtime) -> None:
    import json
    import uuid

    registered = await _agent_client(client)
    key = ECKey.generate_key("P-256", private=True)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    proof_claims = {
        "jti": uuid.uuid4().hex,
        "htm": "POST",
        "htu": TOKEN_URL,
        "iat": int(time.time()),
    }
    proof = jws.serialize_compact(header, json.dumps(proof_claims), key, algorithms=["ES256"])
    headers = {**_basic(registered), "DPoP": proof}
    response = await _token(client, "grant_type=client_credentials", headers)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = await runtime.verify_access_token(response.json()["access_token"])
    assert claims["cnf"] == {"jkt": key.thumbprint()}
    replay = await _token(client, "grant_type=client_credentials", headers)
    assert replay.status_code == 400 and _error(replay) == "invalid_dpop_proof"


async def test_introspection_and_revocation_are_per_client(client: httpx.AsyncClient) -> None:
    owner = await _agent_client(client)
    other_agent = "spiffe://acme.example/agent/other"
    await _agent(client, other_agent)
    other = await _register(client, spiffe_id=other_agent)
    server = await _register(client, client_name="rs", grant_types=["client_credentials"],
                             resource_server=True)  # fmt: skip
    token = (await _token(client, "grant_type=client_credentials", _basic(owner))).json()
    access = token["access_token"]
    seen = await client.post("/oauth2/introspect", data={"token": access}, headers=_basic(other))
    assert seen.json() == {"active": False}
    by_rs = await client.post("/oauth2/introspect", data={"token": access}, headers=_basic(server))
    assert by_rs.json()["active"] is True and by_rs.json()["sub"] == AGENT
    refused = await client.post("/oauth2/revoke", data={"token": access}, headers=_basic(other))
    assert refused.status_code == 400 and _error(refused) == "unauthorized_client"
    unknown = await client.post("/oauth2/revoke", data={"token": "nope"}, headers=_basic(owner))
    assert unknown.status_code == 200
    missing = await client.post("/oauth2/introspect", data={}, headers=_basic(owner))
    assert missing.status_code == 400 and _error(missing) == "invalid_request"
    anonymous = await client.post("/oauth2/introspect", data={"token": access})
    assert anonymous.status_code == 401 and _error(anonymous) == "invalid_client"


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["/relative"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://a.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"grant_types": ["authorization_code"]}, "invalid_redirect_uri"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "grant_types": ["client_credentials"],
            },
            "invalid_client_metadata",
        ),
        ({"grant_types": ["password"]}, "invalid_client_metadata"),
        ({"spiffe_id": "spiffe://foreign.example/agent/x"}, "invalid_client_metadata"),
        ({"spiffe_id": "spiffe://acme.example/agent/x"}, "invalid_client_metadata"),
        ({"software_statement": "eyJ..."}, "invalid_software_statement"),
    ],
)
async def test_registration_errors(
    client: httpx.AsyncClient, metadata: dict[str, Any], error: str
) -> None:
    response = await client.post("/oauth2/register", json=metadata, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_registration_needs_the_initial_access_token(client: httpx.AsyncClient) -> None:
    body = {"redirect_uris": ["http://127.0.0.1:9000/cb"]}
    assert (await client.post("/oauth2/register", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert (await client.post("/oauth2/register", json=body, headers=wrong)).status_code == 401
    ok = await client.post("/oauth2/register", json=body, headers=ADMIN)
    assert ok.status_code == 201 and ok.json()["client_secret_expires_at"] == 0
    assert ok.json()["redirect_uris"] == body["redirect_uris"]


async def test_metadata_names_the_issuer_and_what_is_served(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert doc["issuer"] == ISSUER and doc["token_endpoint"] == TOKEN_URL
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "client_credentials" in doc["grant_types_supported"]
    assert "password" not in doc["grant_types_supported"]
    assert "implicit" not in doc["grant_types_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "none" not in doc["dpop_signing_alg_values_supported"]


async def test_key_rotation_over_the_admin_api(client: httpx.AsyncClient, runtime: Runtime) -> None:
    registered = await _agent_client(client)
    old = (await _token(client, "grant_type=client_credentials", _basic(registered))).json()
    rotated = await client.post("/v1/keys/rotate", headers=ADMIN)
    assert rotated.status_code == 200 and rotated.json()["signing"] is True
    keys = (await client.get("/v1/keys", headers=ADMIN)).json()["keys"]
    assert [k["signing"] for k in keys] == [False, True] and all(k["published"] for k in keys)
    assert "private" not in str(keys).lower() and all("d" not in k for k in keys)
    jwks = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert {k["kid"] for k in jwks} == {k["kid"] for k in keys}
    new = (await _token(client, "grant_type=client_credentials", _basic(registered))).json()
    assert (
        jws.extract_compact(new["access_token"].encode()).protected["kid"] == rotated.json()["kid"]
    )
    assert await runtime.verify_access_token(old["access_token"])
    assert (await client.post("/v1/keys/rotate")).status_code == 401
    # The rotation is an audited admin change: who, which key; no key material.
    [audited] = [
        e for e in await runtime.ledger_store.tail(50) if e.event_type == "oauth:key:rotated"
    ]
    assert dict(audited.payload) == {"actor": "admin", "kid": rotated.json()["kid"], "alg": "ES256"}
