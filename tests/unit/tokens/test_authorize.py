"""The authorization endpoint over HTTP (in-process ASGI, real SQLite store): OAuth 2.1
§4.1.1-4.1.2 request checks, exact redirect matching (loopback port variance only), RFC 9207
``iss``, the consent page's protections (escaping, framing, CSRF one-time token) and the
development stand-ins for the person's identity."""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from test_codes import (
    CHALLENGE,
    PERSON,
    SETTINGS,
    T0,
    VERIFIER,
    Authority,
    client,
    open_authority,
)

from warden.tokens.authorize import (
    CONSENT_COOKIE,
    AuthorizationEndpoint,
    PersonSignIn,
    redirect_uri_matches,
)
from warden.tokens.authorize_api import authorize_router
from warden.tokens.grants.authorization_code import AuthorizationCodeGrant
from warden.tokens.models import TokenRequest

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
REDIRECT = "https://app.example/cb"


@dataclass
class Site:
    authority: Authority
    http: httpx.AsyncClient


def base(**params: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": "ap-clerk-app",
        "redirect_uri": REDIRECT,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "st-123",
        "scope": "invoices:read",
        "resource": "https://erp.example/api",
    }
    query.update(params)
    return {k: v for k, v in query.items() if v != "-"}


async def _site(url: str, sign_in: PersonSignIn) -> AsyncIterator[Site]:
    async with open_authority(url) as authority:
        await authority.clients.insert_client(
            client(
                client_id="xss-app",
                client_name="<script>alert(1)</script>",
                redirect_uris=(REDIRECT,),
            )
        )
        endpoint = AuthorizationEndpoint(
            settings=SETTINGS,
            clients=authority.clients,
            codes=authority.codes,
            replay=authority.replay,
            sign_in=sign_in,
            agents=authority.agents,
        )
        app = FastAPI()
        app.include_router(authorize_router(endpoint, clock=lambda: T0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://warden.example") as h:
            yield Site(authority, h)


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[Site]:
    async for s in _site(sqlite_url, PersonSignIn(ADMIN_TOKEN, dev_user=PERSON)):
        yield s


@pytest.fixture
async def vouched(sqlite_url: str) -> AsyncIterator[Site]:
    async for s in _site(sqlite_url, PersonSignIn(ADMIN_TOKEN)):
        yield s


def hidden_fields(page: str) -> list[tuple[str, str]]:
    """The consent form's hidden inputs, as a browser would post them."""
    fields: list[tuple[str, str]] = []

    class Inputs(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("type") == "hidden":
                fields.append((values["name"] or "", values["value"] or ""))

    Inputs().feed(page)
    return fields


async def consent_page(site: Site, **params: str) -> httpx.Response:
    response = await site.http.get("/oauth2/authorize", params=base(**params))
    assert response.status_code == 200, response.text
    return response


async def submit(
    site: Site, page: httpx.Response, decision: str = "approve", **extra: str
) -> httpx.Response:
    form = [*hidden_fields(page.text), ("decision", decision), *extra.items()]
    return await site.http.post(
        "/oauth2/authorize",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def redirected(response: httpx.Response) -> tuple[str, dict[str, str]]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


def refused_without_redirect(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


# -- redirect URI matching (OAuth 2.1 §4.1.2.1, §8.4.2) --------------------------------------


@pytest.mark.parametrize(
    ("registered", "requested", "match"),
    [
        ("https://app.example/cb", "https://app.example/cb", True),
        ("https://app.example/cb", "https://app.example/cb/", False),
        ("https://app.example/cb", "https://APP.example/cb", False),
        ("https://app.example/cb", "https://app.example:443/cb", False),
        ("https://app.example/cb", "https://app.example/cb?x=1", False),
        ("https://app.example/cb", "http://app.example/cb", False),
        ("https://app.example/cb", "https://app.example/CB", False),
        ("https://app.example/cb", "https://app.example/cb#f", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback", True),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1:51004/callback", True),
        ("http://[::1]/callback", "http://[::1]:51004/callback", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/other", False),
        ("http://127.0.0.1/callback", "http://[::1]:51004/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback?x", False),
        ("http://localhost/callback", "http://localhost:51004/callback", False),
        ("https://127.0.0.1/callback", "https://127.0.0.1:51004/callback", False),
    ],
)
def test_redirect_uris_match_exactly_but_for_a_loopback_port(
    registered: str, requested: str, match: bool
) -> None:
    assert redirect_uri_matches(registered, requested) is match


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nobody"},
        {"client_id": "-"},
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": "https://app.example/cb/"},
        {"redirect_uri": "-"},  # two registered: it must be named
    ],
)
async def test_a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect(
    site: Site, params: dict[str, str]
) -> None:
    # the other parameters are wrong too: they must not cause a redirect either
    response = await site.http.get(
        "/oauth2/authorize", params=base(response_type="token", **params)
    )
    refused_without_redirect(response)


async def test_a_repeated_client_id_or_redirect_uri_gets_a_page(site: Site) -> None:
    for name in ("client_id", "redirect_uri"):
        query = [*base().items(), (name, base()[name])]
        refused_without_redirect(await site.http.get("/oauth2/authorize", params=query))


async def test_a_loopback_redirect_may_use_any_port(site: Site) -> None:
    page = await consent_page(site, redirect_uri="http://127.0.0.1:59321/callback")
    uri, query = redirected(await submit(site, page))
    assert uri == "http://127.0.0.1:59321/callback" and "code" in query


async def test_the_only_registered_redirect_uri_is_used_when_none_is_sent(site: Site) -> None:
    page = await consent_page(site, client_id="xss-app", redirect_uri="-")
    uri, query = redirected(await submit(site, page))
    assert uri == REDIRECT and "code" in query


# -- errors by redirect: state and iss (RFC 6749 §4.1.2.1, RFC 9207 §2) ------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),  # no implicit flow
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"response_type": "-"}, "unsupported_response_type"),
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge_method": "-"}, "invalid_request"),  # defaults to plain
        ({"code_challenge_method": "plain", "code_challenge": VERIFIER}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "invoices:read admin"}, "invalid_scope"),
        ({"resource": "/relative"}, "invalid_target"),
        ({"resource": "https://erp.example/api#frag"}, "invalid_target"),
        ({"dpop_jkt": "not-a-thumbprint"}, "invalid_request"),
    ],
)
async def test_other_errors_redirect_with_state_and_iss(
    site: Site, params: dict[str, str], error: str
) -> None:
    response = await site.http.get("/oauth2/authorize", params=base(**params))
    uri, query = redirected(response)
    assert response.status_code == 302 and uri == REDIRECT
    assert query["error"] == error
    assert query["state"] == "st-123" and query["iss"] == SETTINGS.issuer
    assert "code" not in query


async def test_a_repeated_parameter_is_invalid_request(site: Site) -> None:
    query = [*base().items(), ("scope", "ledger:read")]
    _, result = redirected(await site.http.get("/oauth2/authorize", params=query))
    assert result["error"] == "invalid_request"


async def test_a_client_without_the_grant_is_unauthorized(site: Site) -> None:
    await site.authority.clients.insert_client(
        client(client_id="cc-only", redirect_uris=(REDIRECT,), grant_types=("client_credentials",))
    )
    _, result = redirected(
        await site.http.get("/oauth2/authorize", params=base(client_id="cc-only"))
    )
    assert result["error"] == "unauthorized_client"


async def test_a_suspended_agent_gets_no_consent_page(site: Site) -> None:
    site.authority.agents.status[client().agent_id or ""] = "suspended"
    _, result = redirected(await site.http.get("/oauth2/authorize", params=base()))
    assert result["error"] == "unauthorized_client"


# -- the consent page ------------------------------------------------------------------------


async def test_the_consent_page_cannot_be_framed_or_cached(site: Site) -> None:
    page = await consent_page(site)
    csp = page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "form-action 'self' https://app.example" in csp
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert (
        "httponly" in cookie and "samesite=strict" in cookie and "path=/oauth2/authorize" in cookie
    )
    assert "<script" not in page.text and "src=" not in page.text and "href=" not in page.text


async def test_the_consent_page_says_who_asks_for_what(site: Site) -> None:
    page = await consent_page(site)
    assert "AP clerk" in page.text and "spiffe://warden.local/agent/ap-clerk" in page.text
    assert "invoices:read" in page.text and "https://erp.example/api" in page.text
    assert "WARDEN_DEV_USER" in page.text and PERSON in page.text


async def test_everything_on_the_consent_page_is_escaped(site: Site) -> None:
    page = await consent_page(site, client_id="xss-app", state='"><img src=x onerror=alert(1)>')
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img" not in page.text
    _, query = redirected(await submit(site, page))
    assert query["state"] == '"><img src=x onerror=alert(1)>'  # echoed as sent


async def test_approving_redirects_with_code_state_and_iss(site: Site) -> None:
    page = await consent_page(site)
    response = await submit(site, page)
    uri, query = redirected(response)
    assert response.status_code == 303 and uri == REDIRECT
    assert query["state"] == "st-123" and query["iss"] == SETTINGS.issuer
    assert response.headers["referrer-policy"] == "no-referrer"
    grant = AuthorizationCodeGrant(site.authority.codes)
    request = TokenRequest("authorization_code", {"code": query["code"], "code_verifier": VERIFIER})
    tokens = await grant.exchange(request, client(), site.authority.ctx())
    claims = await site.authority.ctx().tokens.verify(tokens.access_token)
    assert claims["sub"] == PERSON and claims["azp"] == "ap-clerk-app"
    assert claims["aud"] == "https://erp.example/api" and claims["scope"] == "invoices:read"


async def test_denying_redirects_with_access_denied(site: Site) -> None:
    _, query = redirected(await submit(site, await consent_page(site), decision="deny"))
    assert query["error"] == "access_denied" and query["state"] == "st-123"
    assert "code" not in query


async def test_the_consent_form_works_once(site: Site) -> None:
    page = await consent_page(site)
    redirected(await submit(site, page))
    again = await submit(site, page)
    refused_without_redirect(again)
    assert "already submitted" in again.text


async def test_a_forged_consent_post_without_the_pages_cookie_is_refused(site: Site) -> None:
    page = await consent_page(site)
    site.http.cookies.clear()  # a cross-site post does not carry the SameSite=Strict cookie
    refused_without_redirect(await submit(site, page))
    site.http.cookies.set(CONSENT_COOKIE, "A" * 43, domain="warden.example")
    refused_without_redirect(await submit(site, page))


async def test_a_tampered_consent_form_is_refused(site: Site) -> None:
    page = await consent_page(site)
    fields = [
        (k, "invoices:read invoices:pay" if k == "scope" else v)
        for k, v in hidden_fields(page.text)
    ]
    response = await site.http.post(
        "/oauth2/authorize",
        content=urlencode([*fields, ("decision", "approve")]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    refused_without_redirect(response)


async def test_a_consent_post_must_be_a_form(site: Site) -> None:
    response = await site.http.post("/oauth2/authorize", json={"decision": "approve"})
    assert response.status_code == 415 and "location" not in response.headers


# -- without WARDEN_DEV_USER: the admin token vouches for the person ---------------------------


async def test_the_admin_token_vouches_for_the_named_person(vouched: Site) -> None:
    page = await consent_page(vouched)
    assert "admin token" in page.text and 'name="person"' in page.text
    wrong = await submit(vouched, page, person="bob@acme.example", admin_token="guess")
    assert wrong.status_code == 403 and "location" not in wrong.headers
    assert "The admin token is not valid." in wrong.text
    response = await submit(vouched, page, person="bob@acme.example", admin_token=ADMIN_TOKEN)
    _, query = redirected(response)
    grant = AuthorizationCodeGrant(vouched.authority.codes)
    request = TokenRequest("authorization_code", {"code": query["code"], "code_verifier": VERIFIER})
    tokens = await grant.exchange(request, client(), vouched.authority.ctx())
    claims = await vouched.authority.ctx().tokens.verify(tokens.access_token)
    assert claims["sub"] == "bob@acme.example"


async def test_a_person_must_be_named(vouched: Site) -> None:
    page = await consent_page(vouched)
    response = await submit(vouched, page, person="", admin_token=ADMIN_TOKEN)
    assert response.status_code == 403 and "Enter the name" in response.text
    assert ADMIN_TOKEN not in response.text
