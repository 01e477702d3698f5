"""The resource-server side of access tokens: RFC 6750 §2.1 and §3, RFC 9449 §7.

``authenticate`` checks one request's credentials and returns the token's claims:

- ``Authorization: DPoP <token>`` plus one ``DPoP`` proof, for tokens bound by ``cnf.jkt``
  (RFC 9449 §7.1: the proof passes §4.3, its ``ath`` is the token's hash, its key is the
  token's key). A token without ``cnf.jkt`` sent this way is refused as ``invalid_token``.
- ``Authorization: Bearer <token>`` only for tokens without ``cnf.jkt``: a DPoP-bound token
  presented as a bearer token is refused (RFC 9449 §7.2, a MUST).
- Scheme names are case-insensitive (RFC 9110 §11.1); the credentials are ``token68``.
- A token in the query string (or the body) is never looked at (OAuth 2.1 §5.2: the resource
  server MUST ignore it), so such a request has no credentials.

Failures are ``OAuthError`` values carrying the status and ``WWW-Authenticate`` header to send
(RFC 6750 §3.1, RFC 9449 §7.1, §7.2): no credentials → 401 with a ``Bearer realm=...``
and a ``DPoP algs=...`` challenge and no error code; a malformed header → 400
``invalid_request``; a bad token → 401 ``invalid_token``; a missing scope → 403
``insufficient_scope`` with ``scope=``; a bad proof → 401 ``invalid_dpop_proof``; a missing or
stale nonce once the server requires one → 401 ``use_dpop_nonce`` with ``DPoP-Nonce`` (§9).

``DpopResourceMiddleware`` applies it to path prefixes of an ASGI app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from warden.tokens.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from warden.tokens.rfc9449 import DpopVerifier, dpop_challenge, quote_string

TokenVerifier = Callable[[str], Awaitable[Mapping[str, Any]]]
"""Verifies an access token and returns its claims (``scope``, optional ``cnf.jkt``);
raises ``InvalidToken``."""

# RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([A-Za-z0-9\-._~+/]+=*)")
_SCHEMES = ("bearer", "dpop")


async def authenticate(
    headers: Sequence[tuple[str, str]],
    method: str,
    url: str,
    now: int,
    *,
    dpop: DpopVerifier,
    verify_token: TokenVerifier,
    realm: str = "warden",
    required_scope: Sequence[str] = (),
    require_nonce: bool = False,
) -> Mapping[str, Any]:
    """The claims of the request's access token, or an ``OAuthError`` to answer with.

    ``headers`` are (name, value) pairs, names in any case; ``url`` is the request URI as the
    client addressed it (the ``htu`` of its proof). ``require_nonce``: every proof must carry
    a nonce this server issued (RFC 9449 §9, §11.3).
    """
    scheme = ""
    try:
        scheme, token = credentials(headers)
        if scheme == "bearer":
            claims = await verify_token(token)
            if _bound_jkt(claims) is not None:
                raise InvalidToken("a dpop-bound token must be sent with the `DPoP` scheme")
        else:
            claims = await verify_token(token)
            jkt = _bound_jkt(claims)
            if jkt is None:
                raise InvalidToken("the token is not dpop-bound: use the `Bearer` scheme")
            proofs = [value for name, value in headers if name.lower() == "dpop"]
            await dpop.verify(
                proofs,
                method=method,
                url=url,
                now=now,
                access_token=token,
                bound_jkt=jkt,
                require_nonce=require_nonce,
                at_resource_server=True,
            )
        _check_scope(claims, required_scope)
    except OAuthError as error:
        raise _with_challenge(error, scheme, dpop.algs, realm, required_scope) from None
    return claims


def credentials(headers: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """(scheme in lower case, token) of the one ``Authorization`` header, ``bearer`` or
    ``dpop``; raises ``InvalidRequest`` or :class:`MissingCredentials`."""
    values = [value for name, value in headers if name.lower() == "authorization"]
    if not values:
        raise MissingCredentials()
    if len(values) > 1:
        raise InvalidRequest("more than one `Authorization` header")
    match = _CREDENTIALS.fullmatch(values[0].strip(" \t"))
    if match is None:
        scheme = values[0].strip(" \t").partition(" ")[0].lower()
        if scheme in _SCHEMES:
            raise InvalidRequest("malformed `Authorization` header")
        raise MissingCredentials()  # another scheme (Basic...): none of ours were offered
    scheme = match.group(1).lower()
    if scheme not in _SCHEMES:
        raise MissingCredentials()
    return scheme, match.group(2)


class MissingCredentials(InvalidToken):
    """No access token was offered. RFC 6750 §3.1: the answer is a 401 whose challenges carry
    no error code, and no error information in the body either."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        super().__init__("no access token", status=401, headers=headers)

    def to_dict(self) -> dict[str, object]:
        return {}


def _bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """The token's ``cnf.jkt`` (RFC 9449 §6.1), None for an unbound token."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if not isinstance(jkt, str):
        # A confirmation we cannot check (mTLS x5t#S256...) must not pass as a bearer token.
        raise InvalidToken("the token's `cnf` confirmation method is not supported")
    return jkt


def _check_scope(claims: Mapping[str, Any], required: Sequence[str]) -> None:
    if not required:
        return
    raw = claims.get("scope", "")
    granted = set(raw.split(" ")) if isinstance(raw, str) else set()
    if isinstance(raw, list):
        granted = {s for s in raw if isinstance(s, str)}
    if not set(required) <= granted:
        raise InsufficientScope("the access token lacks the required scope")


def _with_challenge(
    error: OAuthError, scheme: str, algs: Sequence[str], realm: str, scope: Sequence[str]
) -> OAuthError:
    """``error`` with its status and the ``WWW-Authenticate`` challenges of RFC 6750 §3 and
    RFC 9449 §7.1, §7.2: the error goes to the scheme the client used."""
    if "WWW-Authenticate" in error.headers:  # the DPoP verifier already built its challenge
        return error
    bearer = f'Bearer realm="{quote_string(realm)}"'
    if isinstance(error, MissingCredentials):
        return MissingCredentials({"WWW-Authenticate": f"{bearer}, {dpop_challenge(algs)}"})
    scope_for = scope if isinstance(error, InsufficientScope) else ()
    if scheme == "dpop":
        dpop = dpop_challenge(algs, error=error.code, description=error.message, scope=scope_for)
        challenge = f"{bearer}, {dpop}"
    else:
        params = [f'error="{error.code}"', f'error_description="{quote_string(error.message)}"']
        if scope_for:
            params.append(f'scope="{quote_string(" ".join(scope_for))}"')
        challenge = f"{bearer}, {', '.join(params)}, {dpop_challenge(algs)}"
    status = {"invalid_request": 400, "insufficient_scope": 403}.get(error.code, 401)
    headers = {**error.headers, "WWW-Authenticate": challenge}
    return type(error)(error.message, status=status, headers=headers)


class DpopResourceMiddleware:
    """ASGI middleware: requests under ``prefixes`` need a valid access token (``authenticate``).

    On success the claims are put in ``scope["state"]["token_claims"]`` (Starlette's
    ``request.state.token_claims``); on failure the error is answered as JSON with its status
    and headers. ``base_url`` (``https://host[:port]``) fixes the scheme and authority of the
    URI a proof's ``htu`` is compared with; without it they come from the request (its
    ``Host`` header). WebSocket
    connections under a protected prefix are closed (policy violation): no proof format
    exists for them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        dpop: DpopVerifier,
        verify_token: TokenVerifier,
        prefixes: Sequence[str],
        realm: str = "warden",
        clock: Callable[[], int] = lambda: int(time.time()),
        require_nonce: bool = False,
        required_scope: Sequence[str] = (),
        base_url: str | None = None,
    ) -> None:
        self.app = app
        self.dpop = dpop
        self.verify_token = verify_token
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)
        self.realm = realm
        self.clock = clock
        self.require_nonce = require_nonce
        self.required_scope = tuple(required_scope)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._protects(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        try:
            claims = await authenticate(
                headers,
                scope["method"],
                self._url(scope),
                self.clock(),
                dpop=self.dpop,
                verify_token=self.verify_token,
                realm=self.realm,
                required_scope=self.required_scope,
                require_nonce=self.require_nonce,
            )
        except OAuthError as error:
            await _answer(send, error)
            return
        scope.setdefault("state", {})["token_claims"] = claims
        await self.app(scope, receive, send)

    def _protects(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") or not p for p in self.prefixes)

    def _url(self, scope: Scope) -> str:
        """The request URI without query: the raw path as received, so percent-encoding is
        compared as the client sent it (some servers put the query in ``raw_path``)."""
        raw = scope.get("raw_path")
        path: str
        if raw:
            path = bytes(raw).decode("latin-1").partition("?")[0]
        else:
            path = quote(scope.get("root_path", "") + scope["path"])
        if self.base_url is not None:
            return self.base_url + path
        host: str | None = next(
            (bytes(v).decode("latin-1") for k, v in scope["headers"] if k == b"host"), None
        )
        if host is None:
            server = scope.get("server") or ("localhost", None)
            host = str(server[0]) if server[1] is None else f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{path}"


async def _answer(send: Send, error: OAuthError) -> None:
    body = orjson.dumps(error.to_dict())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
