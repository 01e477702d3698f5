"""The authorization endpoint: a person lets an agent act for them (OAuth 2.1 §4.1.1-4.1.2).

Only ``response_type=code`` exists (OAuth 2.1 §4.1.1; the implicit ``token`` response type was
removed, §10.1). The request is checked in the order RFC 6749 §4.1.2.1 sets:

1. ``client_id`` and ``redirect_uri`` first. Either one bad → an error page, **never a
   redirect** (OAuth 2.1 §4.1.2.1). The redirect URI is compared with the registered ones by
   simple string comparison (RFC 3986 §6.2.1); the one exception is a loopback redirect
   (``http://127.0.0.1`` or ``http://[::1]``) whose port may differ (OAuth 2.1 §8.4.2,
   RFC 8252 §7.3). It may be omitted only when the client registered exactly one.
2. Everything else answers by redirect with ``error``, the ``state`` echoed and the RFC 9207
   ``iss``: a missing or unknown ``response_type`` is ``unsupported_response_type``; a missing
   PKCE challenge, ``plain`` or another method is ``invalid_request`` (RFC 7636 §4.4.1: S256 is
   required of every client, public or confidential); a scope beyond the client's is
   ``invalid_scope``; a ``resource`` that is not an absolute URI is ``invalid_target``
   (RFC 8707 §2); a repeated parameter is ``invalid_request`` (RFC 6749 §3.1).

A valid request shows the consent page. Who is the person? Warden has no login for people
yet (OIDC login arrives with the identity-governance layer). Until then the page identifies the
person in one of two development stand-ins, and says so on the page:

- ``WARDEN_DEV_USER`` is set: every consent is given as that user (a developer's own machine);
- otherwise the form asks for the person's name *and Warden's admin token*: whoever holds the
  admin token vouches for the person.

The consent form is protected against cross-site request forgery by a one-time token: an HMAC
over the validated request, an expiry and a random cookie set with the page (``SameSite=Strict``,
``HttpOnly``), spent through the shared replay cache so it works once. The page is
self-contained (no external assets), escapes every value, and forbids framing
(``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``). Approving issues a single-use code
(``codes.py``) and redirects with ``code``, ``state`` and ``iss`` (RFC 9207 §2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import orjson

from warden.tokens.codes import CodeGrant, CodeStore
from warden.tokens.errors import (
    AccessDenied,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from warden.tokens.models import Client
from warden.tokens.replay import ReplayCache
from warden.tokens.rfc7636 import check_challenge
from warden.tokens.service import AgentDirectory
from warden.tokens.settings import TokenSettings

GRANT_TYPE = "authorization_code"
CONSENT_COOKIE = "warden_consent"
CONSENT_TTL = 600  # seconds a consent page stays usable
_REPEATABLE = frozenset({"resource"})  # RFC 8707 §2
_FORM_FIELDS = frozenset({"consent_token", "decision", "person", "admin_token"})
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::\d{1,5})?([/?#].*)?")
_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}")
_PERSON = re.compile(r"[^\x00-\x1f\x7f]{1,320}")


class ClientDirectory(Protocol):
    async def get_client(self, client_id: str) -> Client | None:
        """The registered client, None when unknown."""


@dataclass(frozen=True, slots=True)
class PersonSignIn:
    """How the consent page learns who the person is, until OIDC login exists (development).

    ``dev_user``: every consent is given as this user (``WARDEN_DEV_USER``). Otherwise the
    form takes a person's name and Warden's ``admin_token``.
    """

    admin_token: str
    dev_user: str | None = None


# -- outcomes: what the HTTP layer sends ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """A request that cannot be answered by redirect (bad client or redirect URI)."""

    message: str
    status: int = 400

    def html(self) -> str:
        return _page("Authorization request refused", f"<p>{_e(self.message)}</p>")


@dataclass(frozen=True, slots=True)
class Redirect:
    """Back to the client: ``location`` carries the code or the error (RFC 6749 §4.1.2)."""

    location: str


@dataclass(frozen=True, slots=True)
class ConsentPage:
    """The consent form, and the cookie its one-time token is bound to."""

    html: str
    cookie: str
    form_action: str  # CSP form-action: the redirect's origin follows the form post
    status: int = 200


Outcome = ErrorPage | Redirect | ConsentPage


# -- the validated request ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    redirect_uri_sent: bool
    scope: tuple[str, ...]
    resources: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    state: str | None
    dpop_jkt: str | None
    params: tuple[tuple[str, str], ...] = field(default=())  # as received, for the form

    def digest(self) -> bytes:
        """What the consent token is bound to: everything the person is asked to approve."""
        return hashlib.sha256(
            orjson.dumps(
                [
                    self.client.client_id,
                    self.redirect_uri,
                    list(self.scope),
                    list(self.resources),
                    self.code_challenge,
                    self.state,
                    self.dpop_jkt,
                ]
            )
        ).digest()


class _Refused(Exception):
    """A request error that must not redirect."""


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Simple string comparison, except that a loopback redirect's port may vary."""
    if hmac.compare_digest(registered.encode(), requested.encode()):
        return True
    ours, theirs = _LOOPBACK.fullmatch(registered), _LOOPBACK.fullmatch(requested)
    if ours is None or theirs is None:
        return False
    return ours.group(1) == theirs.group(1) and (ours.group(2) or "") == (theirs.group(2) or "")


class AuthorizationEndpoint:
    """``GET`` shows the consent page; ``POST`` records the person's decision."""

    def __init__(
        self,
        *,
        settings: TokenSettings,
        clients: ClientDirectory,
        codes: CodeStore,
        replay: ReplayCache,
        sign_in: PersonSignIn,
        agents: AgentDirectory | None = None,
        consent_key: bytes | None = None,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._codes = codes
        self._replay = replay
        self._sign_in = sign_in
        self._agents = agents
        # Per process unless given: a consent page must be posted back to the same replica.
        self._key = consent_key or secrets.token_bytes(32)

    async def begin(
        self, params: Sequence[tuple[str, str]], *, cookie: str | None, now: datetime
    ) -> Outcome:
        """An authorization request (the query of ``GET /oauth2/authorize``); ``cookie`` is
        the consent cookie the browser already holds, if any (kept, so two open consent pages
        both work)."""
        checked = await self._check(params)
        if not isinstance(checked, AuthorizationRequest):
            return checked
        return self._consent(checked, cookie=cookie, now=now)

    async def decide(
        self, form: Sequence[tuple[str, str]], *, cookie: str | None, now: datetime
    ) -> Outcome:
        """The consent form posted back: approve (a code) or deny (``access_denied``)."""
        fields = _single(form, _FORM_FIELDS)
        checked = await self._check([(k, v) for k, v in form if k not in _FORM_FIELDS])
        if not isinstance(checked, AuthorizationRequest):
            return checked
        if fields is None or not self._token_valid(fields, checked, cookie, now):
            return ErrorPage("the consent form has expired or was not sent from this page")
        if fields.get("decision") != "approve":
            await self._spend(fields["consent_token"], now)
            return self._error(checked, AccessDenied("the person declined"))
        person = self._person(fields)
        if person is None:
            problem = self._sign_in_problem(fields)
            return self._consent(checked, cookie=cookie, now=now, problem=problem)
        if not await self._spend(fields["consent_token"], now):
            return ErrorPage("this consent form was already submitted")
        code = await self._codes.issue(
            _code_grant(checked, person), now=now, ttl=self._settings.code_ttl
        )
        return self._redirect(checked, {"code": code})

    # -- checks ----------------------------------------------------------------------------

    async def _check(self, params: Sequence[tuple[str, str]]) -> AuthorizationRequest | Outcome:
        values = _multi(params)
        try:
            client = await self._client(values)
            redirect_uri = _redirect_uri(client, values)
        except _Refused as exc:
            return ErrorPage(str(exc))
        state = values.get("state", [None])[0]
        partial = AuthorizationRequest(client, redirect_uri, False, (), (), "", "", state, None)
        try:
            return self._validated(client, values, redirect_uri, tuple(params))
        except OAuthError as exc:
            return self._error(partial, exc)

    async def _client(self, values: Mapping[str, list[str]]) -> Client:
        ids = values.get("client_id", [])
        if len(ids) != 1 or not ids[0]:
            raise _Refused("the request must name one `client_id`")
        client = await self._clients.get_client(ids[0])
        if client is None:
            raise _Refused("the client is not registered")
        if not client.redirect_uris:
            raise _Refused("the client has no registered redirect uri")
        return client

    def _validated(
        self,
        client: Client,
        values: Mapping[str, list[str]],
        redirect_uri: str,
        params: tuple[tuple[str, str], ...],
    ) -> AuthorizationRequest:
        one = _singles(values)
        if one.get("response_type") != "code":
            # OAuth 2.1 §4.1.1: `code` is the only response type; `token` (implicit) is gone
            raise UnsupportedResponseType("`response_type` must be `code`")
        if GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("this client may not use the authorization_code grant")
        self._check_agent(client)
        check_challenge(one.get("code_challenge"), one.get("code_challenge_method"))
        jkt = one.get("dpop_jkt")
        if jkt is not None and _JKT.fullmatch(jkt) is None:
            raise InvalidRequest("`dpop_jkt` is not a jwk sha-256 thumbprint")
        return AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            redirect_uri_sent="redirect_uri" in values,
            scope=_scope(client, one.get("scope")),
            resources=_resources(values.get("resource", [])),
            code_challenge=one["code_challenge"],
            code_challenge_method=one["code_challenge_method"],
            state=one.get("state"),
            dpop_jkt=jkt,
            params=params,
        )

    def _check_agent(self, client: Client) -> None:
        if self._agents is None or client.agent_id is None:
            return
        if self._agents.agent_status(client.agent_id) != "active":
            raise UnauthorizedClient("the agent behind this client is not active")

    # -- the person and the consent token ----------------------------------------------------

    def _person(self, fields: Mapping[str, str]) -> str | None:
        if self._sign_in.dev_user:
            return self._sign_in.dev_user
        person = fields.get("person", "").strip()
        token = fields.get("admin_token", "").encode()
        if not hmac.compare_digest(token, self._sign_in.admin_token.encode()):
            return None
        return person if _PERSON.fullmatch(person) else None

    def _sign_in_problem(self, fields: Mapping[str, str]) -> str:
        if not _PERSON.fullmatch(fields.get("person", "").strip()):
            return "Enter the name of the person giving consent."
        return "The admin token is not valid."

    def _token(self, request: AuthorizationRequest, cookie: str, expires: int) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{expires}.{self._mac(nonce, expires, cookie, request)}"

    def _mac(self, nonce: str, expires: int, cookie: str, request: AuthorizationRequest) -> str:
        message = b"|".join([nonce.encode(), str(expires).encode(), cookie.encode()])
        mac = hmac.new(self._key, message + b"|" + request.digest(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def _token_valid(
        self,
        fields: Mapping[str, str],
        request: AuthorizationRequest,
        cookie: str | None,
        now: datetime,
    ) -> bool:
        nonce, _, rest = fields.get("consent_token", "").partition(".")
        expires, _, mac = rest.partition(".")
        if not cookie or not nonce or not expires.isdigit() or int(expires) <= now.timestamp():
            return False
        expected = self._mac(nonce, int(expires), cookie, request)
        return hmac.compare_digest(expected.encode(), mac.encode())

    async def _spend(self, token: str, now: datetime) -> bool:
        nonce, _, rest = token.partition(".")
        expires = int(rest.partition(".")[0])
        return await self._replay.first_use(f"consent:{nonce}", expires, int(now.timestamp()))

    # -- responses ---------------------------------------------------------------------------

    def _consent(
        self,
        request: AuthorizationRequest,
        *,
        cookie: str | None,
        now: datetime,
        problem: str | None = None,
    ) -> ConsentPage:
        if cookie is None or _COOKIE.fullmatch(cookie) is None:
            cookie = secrets.token_urlsafe(32)
        token = self._token(request, cookie, int(now.timestamp()) + CONSENT_TTL)
        body = _consent_body(request, token, self._sign_in, problem)
        return ConsentPage(
            html=_page("Allow access?", body),
            cookie=cookie,
            form_action=_origin(request.redirect_uri),
            status=200 if problem is None else 403,
        )

    def _error(self, request: AuthorizationRequest, error: OAuthError) -> Redirect:
        return self._redirect(request, {"error": error.code, "error_description": error.message})

    def _redirect(self, request: AuthorizationRequest, values: dict[str, str]) -> Redirect:
        if request.state is not None:
            values["state"] = request.state
        values["iss"] = self._settings.issuer  # RFC 9207 §2
        separator = "&" if urlsplit(request.redirect_uri).query else "?"
        return Redirect(request.redirect_uri + separator + urlencode(values))


# -- parameter helpers --------------------------------------------------------------------------


def _multi(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    return values


def _singles(values: Mapping[str, list[str]]) -> dict[str, str]:
    """Each parameter's value; a repeated one is ``invalid_request`` (RFC 6749 §3.1)."""
    repeated = sorted(k for k, v in values.items() if len(v) > 1 and k not in _REPEATABLE)
    if repeated:
        raise InvalidRequest(f"`{repeated[0]}` must not be repeated")
    return {k: v[0] for k, v in values.items() if k not in _REPEATABLE}


def _single(form: Sequence[tuple[str, str]], names: frozenset[str]) -> dict[str, str] | None:
    values = _multi([(k, v) for k, v in form if k in names])
    if any(len(v) > 1 for v in values.values()) or "consent_token" not in values:
        return None
    return {k: v[0] for k, v in values.items()}


def _redirect_uri(client: Client, values: Mapping[str, list[str]]) -> str:
    sent = values.get("redirect_uri")
    if sent is None:
        if len(client.redirect_uris) != 1:
            raise _Refused("`redirect_uri` is required: the client registered several")
        return client.redirect_uris[0]
    if len(sent) != 1:
        raise _Refused("`redirect_uri` must not be repeated")
    if not any(redirect_uri_matches(uri, sent[0]) for uri in client.redirect_uris):
        raise _Refused("`redirect_uri` is not one the client registered")
    return sent[0]


def _scope(client: Client, raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return client.scope
    asked = tuple(dict.fromkeys(s for s in raw.split(" ") if s))
    if any(_SCOPE_TOKEN.fullmatch(s) is None for s in asked):
        raise InvalidScope("`scope` is malformed")
    beyond = [s for s in asked if s not in client.scope]
    if beyond:
        raise InvalidScope(f"the client may not be granted `{beyond[0]}`")
    return asked


def _resources(raw: list[str]) -> tuple[str, ...]:
    """RFC 8707 §2: each ``resource`` is an absolute URI without a fragment."""
    for uri in raw:
        parts = urlsplit(uri)
        if not parts.scheme or not parts.netloc or "#" in uri:
            raise InvalidTarget("`resource` must be an absolute uri without a fragment")
    return tuple(dict.fromkeys(raw))


def _code_grant(request: AuthorizationRequest, person: str) -> CodeGrant:
    return CodeGrant(
        client_id=request.client.client_id,
        subject=person,
        redirect_uri=request.redirect_uri,
        redirect_uri_sent=request.redirect_uri_sent,
        scope=request.scope,
        resources=request.resources,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        dpop_jkt=request.dpop_jkt,
    )


def _origin(uri: str) -> str:
    """The CSP source of the redirect target (a private-use scheme is named by its scheme)."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


# -- HTML -----------------------------------------------------------------------------------------

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#1b1f24}h1{font-size:1.4rem}code{background:#f0f2f4;padding:0 .25rem}"
    ".dev{border:1px solid #c98a00;background:#fff8e5;padding:.5rem .75rem}"
    ".problem{border:1px solid #b3261e;background:#fdecea;padding:.5rem .75rem}"
    "label{display:block;margin:.5rem 0}input[type=text],input[type=password]{width:100%}"
    "button{margin:1rem .5rem 0 0;padding:.4rem 1rem}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)} · Warden</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )


def _consent_body(
    request: AuthorizationRequest, token: str, sign_in: PersonSignIn, problem: str | None
) -> str:
    client = request.client
    scope = "".join(f"<li><code>{_e(s)}</code></li>" for s in request.scope) or "<li>none</li>"
    targets = "".join(f"<li><code>{_e(r)}</code></li>" for r in request.resources)
    hidden = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in request.params
    )
    agent = f" (agent <code>{_e(client.agent_id)}</code>)" if client.agent_id else ""
    parts = [
        f"<p><strong>{_e(client.client_name)}</strong> <code>{_e(client.client_id)}</code>"
        f"{agent} asks to act on your behalf.</p>",
        f"<p>It asks for:</p><ul>{scope}</ul>",
        f"<p>At:</p><ul>{targets}</ul>" if targets else "",
        f"<p>You will be sent back to <code>{_e(request.redirect_uri)}</code>.</p>",
        f'<p class="problem">{_e(problem)}</p>' if problem else "",
        '<form method="post" action="/oauth2/authorize">',
        hidden,
        f'<input type="hidden" name="consent_token" value="{_e(token)}">',
        _sign_in_fields(sign_in),
        '<button type="submit" name="decision" value="approve">Allow</button>',
        '<button type="submit" name="decision" value="deny">Deny</button></form>',
    ]
    return "".join(parts)


def _sign_in_fields(sign_in: PersonSignIn) -> str:
    if sign_in.dev_user:
        return (
            '<p class="dev">Development sign-in: Warden has no login for people yet, so you are '
            f"consenting as <strong>{_e(sign_in.dev_user)}</strong>, the user named by "
            "<code>WARDEN_DEV_USER</code>. Do not run Warden like this in production.</p>"
        )
    return (
        '<p class="dev">Warden has no login for people yet. Until OIDC login arrives, the '
        "holder of Warden's admin token vouches for the person giving consent.</p>"
        '<label>Person giving consent <input type="text" name="person" autocomplete="username" '
        'required maxlength="320"></label>'
        '<label>Warden admin token <input type="password" name="admin_token" '
        'autocomplete="off" required></label>'
    )
