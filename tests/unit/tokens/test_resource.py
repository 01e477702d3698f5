"""The resource-server rules (RFC 6750 §2-3, RFC 9449 §7, OAuth 2.1 §5) through
``DpopResourceMiddleware`` on a small Starlette app, driven by httpx.

Access tokens are real ES256 JWTs signed by an issuer key and checked by a real verifier;
DPoP proofs are signed by the client's own key."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from warden.tokens.errors import InvalidToken
from warden.tokens.replay import MemoryReplayCache
from warden.tokens.resource import DpopResourceMiddleware
from warden.tokens.rfc9449 import DpopNonces, DpopVerifier, ath_of

NOW = 1_750_000_000
BASE = "https://rs.example.com"
ALGS = 'algs="ES256 ES384 ES512 PS256 RS256 EdDSA"'
ISSUER_KEY = ECKey.generate_key("P-256")


def access_token(
    *, jkt: str | None = None, scope: str = "orders:read", exp: int = NOW + 600
) -> str:
    claims: dict[str, Any] = {"sub": "agent-7", "scope": scope, "exp": exp}
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    return jwt.encode({"alg": "ES256", "typ": "at+jwt"}, claims, ISSUER_KEY)


async def verify_token(token: str) -> Mapping[str, Any]:
    try:
        decoded = jwt.decode(token, ISSUER_KEY, algorithms=["ES256"])
    except (JoseError, ValueError):
        raise InvalidToken("the access token is invalid") from None
    if decoded.header.get("typ") != "at+jwt" or decoded.claims.get("exp", 0) <= NOW:
        raise InvalidToken("the access token is invalid or expired")
    return decoded.claims


def dpop_proof(key: ECKey, token: str | None, *, method: str = "GET", path: str = "/api/orders",
               nonce: str | None = None, jti: str | None = None) -> str:  # fmt: skip
    claims: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": BASE + path,
        "iat": NOW,
    }
    if token is not None:
        claims["ath"] = ath_of(token)
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims), key)


async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.token_claims["sub"]})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def make_client(*, require_nonce: bool = False, scope: tuple[str, ...] = ()) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/api/orders", orders, methods=["GET", "POST"]),
            Route("/health", health),
        ]
    )
    nonces = DpopNonces(b"s" * 32)
    guarded = DpopResourceMiddleware(
        app,
        dpop=DpopVerifier(MemoryReplayCache(), nonces),
        verify_token=verify_token,
        prefixes=["/api"],
        clock=lambda: NOW,
        require_nonce=require_nonce,
        required_scope=scope,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url=BASE)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def challenge(response: httpx.Response) -> str:
    return response.headers["www-authenticate"]


async def test_a_dpop_bound_token_with_its_proof_is_served(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, token)}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 200 and response.json() == {"sub": "agent-7"}


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", "dPoP"])
async def test_scheme_names_are_case_insensitive(
    client: httpx.AsyncClient, key: ECKey, scheme: str
) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"{scheme} {token}", "DPoP": dpop_proof(key, token)}
    assert (await client.get("/api/orders", headers=headers)).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_an_unbound_token_is_served_as_bearer(client: httpx.AsyncClient, scheme: str) -> None:
    response = await client.get(
        "/api/orders", headers={"Authorization": f"{scheme} {access_token()}"}
    )
    assert response.status_code == 200


async def test_a_dpop_bound_token_presented_as_bearer_is_refused(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"Bearer {token}", "DPoP": dpop_proof(key, token)}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert challenge(response).startswith('Bearer realm="warden", error="invalid_token"')
    assert token not in response.text and token not in challenge(response)


async def test_an_unbound_token_presented_as_dpop_is_refused(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token()
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, token)}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


async def test_no_credentials_gets_both_challenges_and_no_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/orders")
    assert response.status_code == 401
    assert challenge(response) == f'Bearer realm="warden", DPoP {ALGS}'
    assert "error" not in response.text


async def test_a_token_in_the_query_string_is_ignored(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/orders", params={"access_token": access_token()})
    assert response.status_code == 401
    assert "error=" not in challenge(response)


async def test_another_scheme_counts_as_no_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/orders", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401 and "error=" not in challenge(response)


@pytest.mark.parametrize("value", ["DPoP", "Bearer", "Bearer a b", "Bearer tok\u00e9n", "DPoP ,,"])
async def test_a_malformed_authorization_header_is_invalid_request(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/api/orders", headers={"Authorization": value.encode()})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_two_authorization_headers_are_invalid_request(client: httpx.AsyncClient) -> None:
    token = access_token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"DPoP {token}")]
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "token",
    [access_token(exp=NOW - 1), access_token()[:-4] + "AAAA", "opaque-garbage"],
    ids=["expired", "bad-signature", "garbage"],
)
async def test_a_bad_token_is_invalid_token(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert f"DPoP {ALGS}" in challenge(response)


async def test_a_missing_scope_is_insufficient_scope() -> None:
    async with make_client(scope=("orders:write",)) as client:
        response = await client.get(
            "/api/orders", headers={"Authorization": f"Bearer {access_token()}"}
        )
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in challenge(response)
    assert 'scope="orders:write"' in challenge(response)


async def test_a_dpop_token_without_proof_is_invalid_dpop_proof(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token(jkt=key.thumbprint())
    response = await client.get("/api/orders", headers={"Authorization": f"DPoP {token}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"
    assert challenge(response).startswith('DPoP error="invalid_dpop_proof"')
    assert ALGS in challenge(response)


async def test_a_proof_by_another_key_fails_the_binding(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token(jkt=key.thumbprint())
    thief = ECKey.generate_key("P-256")
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(thief, token)}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401
    assert challenge(response).startswith('DPoP error="invalid_token"')


async def test_a_proof_for_another_request_is_refused(
    client: httpx.AsyncClient, key: ECKey
) -> None:
    token = access_token(jkt=key.thumbprint())
    for proof in (dpop_proof(key, token, method="POST"), dpop_proof(key, token, path="/api/x")):
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        response = await client.get("/api/orders", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"


async def test_the_query_is_not_part_of_htu(client: httpx.AsyncClient, key: ECKey) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, token)}
    response = await client.get("/api/orders", params={"page": "2"}, headers=headers)
    assert response.status_code == 200


async def test_a_replayed_proof_is_refused(client: httpx.AsyncClient, key: ECKey) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, token)}
    assert (await client.get("/api/orders", headers=headers)).status_code == 200
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"


async def test_a_proof_without_ath_is_refused(client: httpx.AsyncClient, key: ECKey) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, None)}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"


async def test_once_nonces_are_required_a_proof_without_one_gets_use_dpop_nonce(
    key: ECKey,
) -> None:
    token = access_token(jkt=key.thumbprint())
    async with make_client(require_nonce=True) as client:
        headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, token)}
        first = await client.get("/api/orders", headers=headers)
        assert first.status_code == 401 and first.json()["error"] == "use_dpop_nonce"
        assert challenge(first).startswith('DPoP error="use_dpop_nonce"')
        assert len(first.headers.get_list("dpop-nonce")) == 1
        nonce = first.headers["dpop-nonce"]
        headers["DPoP"] = dpop_proof(key, token, nonce=nonce)
        assert (await client.get("/api/orders", headers=headers)).status_code == 200


async def test_unprotected_paths_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200


async def test_a_prefix_protects_its_subtree_only(key: ECKey) -> None:
    async with make_client() as client:
        # "/apiary" is not under "/api"
        assert (await client.get("/apiary")).status_code == 404
        assert (await client.get("/api")).status_code == 401


@pytest.mark.parametrize(
    "proof",
    ["x" * 20_000, "a.b.c", "\u00e9t\u00e9", base64.b64encode(b"\x00" * 300).decode()],
)
async def test_garbage_proofs_get_the_spec_error(
    client: httpx.AsyncClient, key: ECKey, proof: str
) -> None:
    token = access_token(jkt=key.thumbprint())
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof.encode()}
    response = await client.get("/api/orders", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"


async def test_a_token_with_an_unsupported_confirmation_is_refused_as_bearer(
    client: httpx.AsyncClient,
) -> None:
    claims = {"sub": "agent-7", "exp": NOW + 60, "cnf": {"x5t#S256": "abc"}}
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt"}, claims, ISSUER_KEY)
    response = await client.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
