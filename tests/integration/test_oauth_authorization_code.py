"""A person delegates to an agent: authorization code with PKCE end to end, driven by Authlib.

The real server (uvicorn on a free port, temp SQLite store); Authlib's ``OAuth2Client`` with
``code_challenge_method="S256"`` builds the authorization URL; the test answers the consent
page with httpx as the person would (cookie jar, hidden fields, the admin token vouching for the
person until OIDC login exists); Authlib redeems the code from the redirect, refreshes
(rotation), and a reuse of the rotated refresh token revokes the whole grant (OAuth 2.1
§4.1.3, §4.3.1; RFC 7636; RFC 9207; RFC 8707).
"""

from __future__ import annotations

import html.parser
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

# authlib.deprecate adds an "always" filter when first imported: import it before silencing
import authlib.deprecate  # noqa: F401
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import LiveServer, free_port
from warden.tokens.errors import InvalidToken

with warnings.catch_warnings():  # Authlib 1.9 announces its move to httpx2 on import
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import OAuth2Client

ADMIN_TOKEN = "integration-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PERSON = "ann@acme.example"
API = "https://api.acme.example/invoices"


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(ADMIN_TOKEN, trust_domain="acme.example")


def _register_public_client(server: LiveServer) -> str:
    metadata = {
        "client_name": "Ann's invoice assistant",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "invoices:read invoices:pay",
    }
    response = httpx.post(f"{server.url}/oauth2/register", json=metadata, headers=ADMIN)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []

    class Inputs(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("type") == "hidden":
                fields.append((values["name"] or "", values["value"] or ""))

    Inputs().feed(page)
    return fields


def _consent(server: LiveServer, authorization_url: str) -> str:
    """What the person does in the browser: open the page, allow. Returns the redirect."""
    with httpx.Client() as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        assert page.headers["x-frame-options"] == "DENY"
        form = [
            *_hidden_fields(page.text),
            ("person", PERSON),
            ("admin_token", ADMIN_TOKEN),
            ("decision", "approve"),
        ]
        answer = browser.post(f"{server.url}/oauth2/authorize", data=dict(form))
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location


def _claims(server: LiveServer, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims: dict[str, Any] = decoded.claims
    return claims


def _revoked(server: LiveServer, access_token: str) -> bool:
    runtime = server.runtime
    assert runtime is not None
    try:
        server.call(runtime.tokens.verify_access_token(access_token, datetime.now(UTC)))
    except InvalidToken:
        return True
    return False


def test_authlib_pkce_flow_refresh_rotation_and_reuse_detection(server: LiveServer) -> None:
    client_id = _register_public_client(server)
    token_url = f"{server.url}/oauth2/token"
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"  # loopback: any port
    with OAuth2Client(
        client_id,
        redirect_uri=redirect_uri,
        scope="invoices:read",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{server.url}/oauth2/authorize", code_verifier=verifier, resource=API
        )
        assert "code_challenge=" in url and "code_challenge_method=S256" in url

        location = _consent(server, url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert location.startswith(redirect_uri + "?")
        assert query["state"] == state and query["iss"] == server.url  # RFC 9207

        token = oauth.fetch_token(
            token_url, authorization_response=location, code_verifier=verifier
        )
        claims = _claims(server, token["access_token"])
        assert claims["sub"] == PERSON
        assert claims["client_id"] == claims["azp"] == client_id
        assert claims["aud"] == API and claims["scope"] == "invoices:read"
        assert token["token_type"] == "Bearer" and token["refresh_token"]

        # the code was single-use: redeeming it again fails and revokes what it issued
        replay = httpx.post(
            token_url,
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "code_verifier": verifier,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
            },
        )
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert _revoked(server, token["access_token"])


def test_authlib_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(
    server: LiveServer,
) -> None:
    client_id = _register_public_client(server)
    token_url = f"{server.url}/oauth2/token"
    with OAuth2Client(
        client_id,
        redirect_uri="http://127.0.0.1/callback",
        scope="invoices:read invoices:pay",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as oauth:
        verifier = generate_token(48)
        url, _ = oauth.create_authorization_url(
            f"{server.url}/oauth2/authorize", code_verifier=verifier
        )
        first = oauth.fetch_token(
            token_url, authorization_response=_consent(server, url), code_verifier=verifier
        )
        second = oauth.refresh_token(token_url, refresh_token=first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"]
        assert _claims(server, second["access_token"])["sub"] == PERSON
        assert not _revoked(server, second["access_token"])

        with pytest.raises(OAuthError) as reused:
            oauth.refresh_token(token_url, refresh_token=first["refresh_token"])
        assert reused.value.error == "invalid_grant"
        # the legitimate successor went down with the grant
        assert _revoked(server, second["access_token"])
        with pytest.raises(OAuthError) as after:
            oauth.refresh_token(token_url, refresh_token=second["refresh_token"])
        assert after.value.error == "invalid_grant"
