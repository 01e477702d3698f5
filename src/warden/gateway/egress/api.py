"""HTTP routes of the egress gateway: ``/egress/<connection>/<path>`` and its RFC 9728 metadata.

One request, in order (each step refuses before anything reaches the upstream):

1. the agent's access token for ``<issuer>/egress/<connection>`` (401 with
   ``resource_metadata``; 400 malformed), then the connection (404 unless it is ``http``);
2. the route: method and path against the connection's routes. None matches → 403
   ``egress.no_route``, recorded in the ledger as a deny of the tool ``<connection>.unrouted``
   (an agent probing unlisted routes shows up in the ledger and its session, not only in logs);
3. the body, read up to ``max_request_bytes`` (413), and the arguments (400 when ambiguous);
4. the decision: ``Gateway.decide`` with the mandate (``Txn-Token``) and chain
   (``Warden-Chain``). Denied, or held and then refused → 403 with the verdict's explanation;
5. forwarding with the connection's credential; the answer is streamed back with a
   ``Warden-Decision`` header naming the decision. Upstream failures: 502, timeouts: 504.

After the stream ends, what came back is reported under the mandate in the background
(``Gateway.report``: a later call under the same mandate through this replica first waits,
briefly, for it, so a value the agent just read is known to have come from a tool when used).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from warden.decisions.api import header_context
from warden.decisions.models import Outcome, Reason
from warden.errors import WardenError
from warden.gateway.auth import EGRESS_PREFIX, identify, resource_metadata, resource_path
from warden.gateway.connections.api import connections_router
from warden.gateway.connections.errors import (
    ConnectionError_,
    ConnectionNotFound,
    SecretsUnavailable,
)
from warden.gateway.connections.models import Connection, Protocol
from warden.gateway.core import Call, Caller, Verdict
from warden.gateway.egress import routes
from warden.gateway.egress.errors import (
    EgressError,
    InvalidEgressRequest,
    NoRoute,
    RequestTooLarge,
    ResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from warden.gateway.egress.upstream import Tee, Upstreams, relay, request_headers, response_headers
from warden.server.bodies import BodyTooLarge, read_limited
from warden.shadow.models import Surface
from warden.tokens.errors import OAuthError
from warden.tokens.resource import credentials
from warden.tokens.rfc9728 import PATH as METADATA_PATH

if TYPE_CHECKING:
    from warden.runtime import Runtime
    from warden.server.auth import AdminAuth

log = logging.getLogger("warden.gateway.egress")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DECISION_HEADER = "warden-decision"
_TEXTUAL = ("json", "text/", "xml", "javascript", "x-www-form-urlencoded")

Credentials = Callable[[Connection, str | None], Awaitable[dict[str, str]]]
"""The headers authenticating to a connection, given the agent's access token as presented."""

_STATUS: dict[type[WardenError], int] = {
    InvalidEgressRequest: 400,
    NoRoute: 403,
    ConnectionNotFound: 404,
    RequestTooLarge: 413,
    UpstreamUnreachable: 502,
    ResponseTooLarge: 502,
    SecretsUnavailable: 503,
    ConnectionError_: 502,  # the upstream credential could not be had (token endpoint...)
    UpstreamTimeout: 504,
}


def mount(app: FastAPI, runtime: Runtime, admin: AdminAuth) -> None:
    """Mount ``/egress/<connection>/<path>`` (every method), each connection's protected
    resource metadata, and the connections' admin API (``/v1/connections``) on ``app``; the
    upstream pool opens and closes with the server."""
    app.include_router(connections_router(runtime.connections, admin))
    gateway = EgressGateway(runtime, _credentials(runtime))
    app.state.on_start.append(gateway.running)
    for path in ("/egress/{name}", "/egress/{name}/{path:path}"):
        app.add_api_route(path, gateway.forward, methods=METHODS, include_in_schema=False)
        # First in the router: an egress call is not matched against the whole admin API.
        app.router.routes.insert(0, app.router.routes.pop())
    app.add_api_route(
        METADATA_PATH + EGRESS_PREFIX + "/{name}",
        gateway.metadata,
        methods=["GET"],
        tags=["gateway"],
        summary="Protected resource metadata of an egress connection (RFC 9728)",
    )


def _credentials(runtime: Runtime) -> Credentials:
    """Headers from the credential broker: static ones, or an OAuth token it obtains (cached);
    a token exchange acts for the agent, from the access token the agent presented here."""
    broker = runtime.broker

    async def credential(connection: Connection, presented: str | None) -> dict[str, str]:
        return await broker.headers(connection, subject_token=presented)

    return credential


class EgressGateway:
    """The egress adapter: identify, match, decide, forward, observe."""

    def __init__(self, runtime: Runtime, credentials: Credentials) -> None:
        self.runtime = runtime
        self.upstreams = Upstreams()
        self._credentials = credentials

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The server's lifetime: the upstream pool; at the end, the last observations."""
        async with self.upstreams.running():
            try:
                yield
            finally:
                await self.runtime.gateway.settled()

    async def metadata(self, name: str) -> Response:
        try:
            connection = await self._connection(name)
        except ConnectionNotFound as error:
            return _error(error)
        document = resource_metadata(
            self.runtime.token_settings.issuer,
            resource_path(EGRESS_PREFIX, name),
            self.runtime.tokens.dpop.algs,
            name=connection.description or connection.name,
        )
        return JSONResponse(document)

    async def forward(self, request: Request, name: str) -> Response:
        try:
            caller = await identify(
                self.runtime,
                request.headers.items(),
                request.method,
                str(request.url),
                resource_path(EGRESS_PREFIX, name),
            )
        except OAuthError as error:
            return JSONResponse(error.to_dict(), status_code=error.status, headers=error.headers)
        try:
            return await self._forward(request, name, caller)
        except (EgressError, ConnectionError_) as error:
            return _error(error)

    async def _forward(self, request: Request, name: str, caller: Caller) -> Response:
        connection = await self._connection(name)
        parts = routes.segments(_raw_remainder(request))
        matched = routes.match(connection.routes, request.method, parts)
        if matched is None:
            return await self._no_route(request, connection, caller, parts)
        body = await _read_body(request, connection.limits.max_request_bytes)
        query = routes.query_pairs(_decoded(request.scope.get("query_string", b"")))
        arguments = routes.arguments(
            matched.parameters, query, body, request.headers.get("content-type")
        )
        call = Call(
            caller,
            matched.route.tool,
            arguments,
            **header_context(request.headers),
            surface=Surface.EGRESS,
        )
        verdict = await self.runtime.gateway.decide(call)
        if not verdict.allowed:
            return _denied(verdict)
        credential = await self._credentials(connection, _presented(request))
        url = connection.url.rstrip("/") + routes.upstream_path(parts)
        if query:
            url += "?" + routes.upstream_query(query)
        upstream = await self.upstreams.send(
            request.method,
            url,
            request_headers(request.headers.items(), credential),
            body,
            connection.limits,
        )
        encoding = upstream.headers.get("content-encoding")
        media = upstream.headers.get("content-type", "")

        def done(tee: Tee) -> None:
            self._observe(call, tee, encoding, media)

        relayed = StreamingResponse(
            relay(upstream, connection.limits, Tee(), done), status_code=upstream.status_code
        )
        headers = response_headers(upstream.headers, credential)
        headers.append((DECISION_HEADER, verdict.decision_id or ""))
        relayed.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
        ]
        return relayed

    async def _connection(self, name: str) -> Connection:
        connection = await self.runtime.connections.get(name)
        if connection.protocol is not Protocol.HTTP:
            raise ConnectionNotFound(f"no http connection `{name}`")
        return connection

    async def _no_route(
        self, request: Request, connection: Connection, caller: Caller, parts: tuple[str, ...]
    ) -> Response:
        """Refuse and record a request no route of the connection lists (never forwarded)."""
        path = routes.upstream_path(parts)
        error = NoRoute(
            f"connection `{connection.name}` lists no route for `{request.method} {path}`; "
            "only listed routes are forwarded"
        )
        unrouted = Call(
            caller,
            f"{connection.name}.unrouted",
            {"method": request.method, "path": path},
            surface=Surface.EGRESS,
        )
        reason = Reason(error.code, error.message, "gateway", Outcome.DENY)
        body: dict[str, Any] = error.to_dict()
        verdict = await self.runtime.gateway.refuse(unrouted, reason)
        if verdict.decision_id is not None:  # else refused all the same, only not recorded
            body["decision_id"] = verdict.decision_id
        return JSONResponse(body, status_code=403)

    # -- observations --------------------------------------------------------------------

    def _observe(self, call: Call, tee: Tee, encoding: str | None, media: str) -> None:
        """Report what the agent received, in the background (the stream is not held)."""
        if call.mandate is None or tee.size == 0 or not _textual(media):
            return
        result = _result(tee.body(encoding), complete=tee.complete, media=media)
        self.runtime.gateway.observe_later(call, result)


def _presented(request: Request) -> str:
    """The agent's access token as presented (``Bearer`` or ``DPoP``; ``identify`` already
    accepted it), for a token exchange; it is never forwarded itself."""
    return credentials(request.headers.items())[1]


def _raw_remainder(request: Request) -> str:
    """The still-encoded path after ``/egress/<name>`` (decoding first would turn an
    encoded ``/`` into a segment boundary the upstream does not see)."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    text = _decoded(raw).partition("?")[0]
    root = request.scope.get("root_path", "")
    if root and text.startswith(root):
        text = text[len(root) :]
    pieces = text.split("/", 3)  # "", "egress", name, rest
    return pieces[3] if len(pieces) > 3 else ""


def _decoded(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEgressRequest("the request target is not UTF-8") from None


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body (the decision needs it), refused past ``limit`` bytes."""
    try:
        return await read_limited(request, limit)
    except BodyTooLarge:
        raise RequestTooLarge(_too_large(limit)) from None


def _too_large(limit: int) -> str:
    return f"the request body is over the connection's limit of {limit} bytes"


def _textual(media: str) -> bool:
    media = media.lower()
    return not media or any(kind in media for kind in _TEXTUAL)


def _result(body: bytes, *, complete: bool, media: str) -> Any:
    """What is observed: the parsed JSON of a complete JSON answer, else its text."""
    text = body.decode("utf-8", errors="replace")
    if complete and "json" in media.lower():
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return text


def _denied(verdict: Verdict) -> JSONResponse:
    body = {"error": "denied", "message": verdict.explain(), **verdict.to_dict()}
    return JSONResponse(body, status_code=403)


def _error(error: WardenError) -> JSONResponse:
    status = next((s for kind, s in _STATUS.items() if isinstance(error, kind)), 502)
    return JSONResponse(error.to_dict(), status_code=status)
