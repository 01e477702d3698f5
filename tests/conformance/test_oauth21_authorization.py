"""OAuth 2.1 MUSTs for the authorization code flow, over HTTP (in-process ASGI, SQLite store).

Source: draft-ietf-oauth-v2-1 (oauth-wg/oauth-v2-1@08614f6), quoted per test; RFC 7636
Appendix B for the PKCE vector; RFC 9207 §2 for ``iss``.
"""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.errors import InvalidToken
from warden.tokens.settings import TokenSettings

ISSUER = "https://warden.test"
ADMIN_TOKEN = "conformance-admin-token-0123456789"
PERSON = "ann@acme.example"
REDIRECT = "https://app.example/cb"
# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@dataclass
class AS:
    runtime: Runtime
    http: httpx.AsyncClient
    client_id: str


@pytest.fixture
async def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AS]:
    monkeypatch.setenv("WARDEN_DEV_USER", PERSON)
    runtime = await Runtime.open(sqlite_url, token_settings=TokenSettings(issuer=ISSUER))
    app = create_app(runtime, admin_token=ADMIN_TOKEN)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            metadata = {
                "client_name": "assistant",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none",
                "scope": "invoices:read",
            }
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            registered = await http.post("/oauth2/register", json=metadata, headers=auth)
            assert registered.status_code == 201, registered.text
            yield AS(runtime, http, registered.json()["client_id"])
    finally:
        await runtime.close()


def _query(server: AS, **params: str) -> dict[str, str]:
    base = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "xyz",
    }
    base.update(params)
    return {k: v for k, v in base.items() if v != "-"}


def _location(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    parts = urlsplit(response.headers["location"])
    assert not parts.fragment
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


async def _code(server: AS) -> str:
    page = await server.http.get("/oauth2/authorize", params=_query(server))
    assert page.status_code == 200, page.text
    fields: list[tuple[str, str]] = []

    class Inputs(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("type") == "hidden":
                fields.append((values["name"] or "", values["value"] or ""))

    Inputs().feed(page.text)
    answer = await server.http.post(
        "/oauth2/authorize", data=dict([*fields, ("decision", "approve")])
    )
    query = _location(answer)
    assert query["iss"] == ISSUER and query["state"] == "xyz"  # RFC 9207 §2, RFC 6749 §4.1.2
    return query["code"]


async def _token(server: AS, **params: str) -> httpx.Response:
    body = {"client_id": server.client_id, **params}
    return await server.http.post("/oauth2/token", data=body)


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code


async def test_metadata_offers_code_and_s256_only(server: AS) -> None:
    """§4.1.1 "response_type: REQUIRED. The value MUST be code"; RFC 8414 §2."""
    doc = (await server.http.get("/.well-known/oauth-authorization-server")).json()
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    assert not {"password", "implicit"} & set(doc["grant_types_supported"])


@pytest.mark.parametrize("response_type", ["token", "id_token token", "-"])
async def test_no_implicit_flow(server: AS, response_type: str) -> None:
    """§10.1: the implicit grant (response_type=token) is omitted from OAuth 2.1."""
    response = await server.http.get(
        "/oauth2/authorize", params=_query(server, response_type=response_type)
    )
    query = _location(response)
    assert query["error"] == "unsupported_response_type"
    assert "access_token" not in response.headers["location"]
    assert query["iss"] == ISSUER and query["state"] == "xyz"


async def test_no_password_grant(server: AS) -> None:
    """§10.4: the resource owner password credentials grant is omitted from OAuth 2.1."""
    response = await _token(server, grant_type="password", username=PERSON, password="x")
    _error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://app.example/cb/", "https://app.example/cb?x=1", "https://evil.example/cb"],
)
async def test_exact_redirect_uri_match_and_no_redirect_when_it_fails(
    server: AS, redirect_uri: str
) -> None:
    """§4.1.2.1: "If the request fails due to a missing, invalid, or mismatching redirect URI
    ... the authorization server ... MUST NOT automatically redirect the user agent"."""
    response = await server.http.get(
        "/oauth2/authorize", params=_query(server, redirect_uri=redirect_uri)
    )
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize(
    "params",
    [{"code_challenge": "-"}, {"code_challenge_method": "-"}, {"code_challenge_method": "plain"}],
)
async def test_pkce_s256_is_required(server: AS, params: dict[str, str]) -> None:
    """§4.1.1: clients MUST use code_challenge (public clients); RFC 7636 §4.4.1."""
    response = await server.http.get("/oauth2/authorize", params=_query(server, **params))
    assert _location(response)["error"] == "invalid_request"


async def test_rfc7636_appendix_b_verifier_redeems_the_code(server: AS) -> None:
    response = await _token(
        server,
        grant_type="authorization_code",
        code=await _code(server),
        code_verifier=VERIFIER,
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"  # §3.2.3
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]


async def test_a_wrong_or_missing_verifier_is_refused(server: AS) -> None:
    """§4.1.3: verify the code_verifier; RFC 7636 §4.6: a mismatch is invalid_grant."""
    missing = await _token(server, grant_type="authorization_code", code=await _code(server))
    _error(missing, 400, "invalid_request")
    wrong = await _token(
        server,
        grant_type="authorization_code",
        code=await _code(server),
        code_verifier="x" * 43,
    )
    _error(wrong, 400, "invalid_grant")


async def test_codes_are_single_use_and_a_replay_revokes_what_they_issued(server: AS) -> None:
    """§4.1.3: "If an authorization code is used more than once, the authorization server MUST
    deny the request and SHOULD revoke (when possible) all tokens previously issued based on
    that authorization code"."""
    code = await _code(server)
    params = {"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER}
    first = await _token(server, **params)
    assert first.status_code == 200, first.text
    _error(await _token(server, **params), 400, "invalid_grant")
    with pytest.raises(InvalidToken):
        await server.runtime.tokens.verify_access_token(
            first.json()["access_token"], datetime.now(UTC)
        )
    refresh = await _token(
        server, grant_type="refresh_token", refresh_token=first.json()["refresh_token"]
    )
    _error(refresh, 400, "invalid_grant")


async def test_redirect_uri_in_the_token_request_must_match(server: AS) -> None:
    """§4.1.3 / RFC 6749 §4.1.3: enforced for OAuth 2.0 clients that send it."""
    response = await _token(
        server,
        grant_type="authorization_code",
        code=await _code(server),
        code_verifier=VERIFIER,
        redirect_uri="https://app.example/other",
    )
    _error(response, 400, "invalid_grant")


async def test_refresh_tokens_of_public_clients_rotate_and_reuse_revokes_the_grant(
    server: AS,
) -> None:
    """§4.3.1: public clients' refresh tokens MUST be sender-constrained or rotated; an
    invalidated refresh token used again revokes the active one."""
    params = {"grant_type": "authorization_code", "code_verifier": VERIFIER}
    first = (await _token(server, code=await _code(server), **params)).json()
    rotated = await _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"] == "invoices:read"
    reused = await _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    _error(reused, 400, "invalid_grant")
    latest = await _token(server, grant_type="refresh_token", refresh_token=second["refresh_token"])
    _error(latest, 400, "invalid_grant")
