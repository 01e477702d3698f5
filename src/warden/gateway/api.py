"""The gateway API: Warden's decision call for enforcement points that run outside its process.

``warden mcp-proxy`` (an MCP server on an agent's own machine, speaking stdio) cannot call
:class:`~warden.gateway.core.Gateway` in memory, so it asks over HTTP (:mod:`.remote`):

- ``POST /gateway/v1/decisions`` ``{server, tool, action?, arguments?, mandate?, chain?}`` → the
  verdict (:meth:`Verdict.to_dict`) with ``message`` (:meth:`Verdict.explain`). A step-up is
  held here, as in-process, until a person answers or the hold times out.
- ``POST /gateway/v1/observations`` ``{server, tool, mandate, result}`` → what the mandate
  learned from the result (labels, digests, injected instructions), never the content.
- ``POST /gateway/v1/listable`` ``{server, tools, action?}`` → ``{"tools": [...]}``, the ones the
  agent may be shown.

Each request carries the *agent's own* access token, not an admin credential: the caller is
who the token proves (its ``sub``), whatever the body says, and the token's audience must be the
MCP resource the proxy stands for, ``<issuer>/mcp/<server>`` (RFC 8707), exactly as a request
to ``/mcp/<server>`` would be checked (:func:`~warden.gateway.auth.identify`). The ``server``
field names that resource, so it is read before the token is checked; everything else after.

Status codes (only this module maps errors to them)::

    200  a verdict, allow or deny alike (a deny is an answer, not an error)
    400  invalid_request: not JSON, not an object, a missing or mistyped field (named in `field`)
    401  the token is missing or wrong (OAuth body and `WWW-Authenticate` with resource_metadata)
    413  request_too_large
    500  server_error: Warden's own fault; a decision body still says `"outcome": "deny"`
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response

from warden.decisions.api import header_context
from warden.errors import FieldError
from warden.gateway.auth import MCP_PREFIX, identify, resource_path
from warden.gateway.core import INVOKE, Call, Caller
from warden.server.bodies import BodyTooLarge, read_limited
from warden.shadow.models import Surface
from warden.tokens.errors import OAuthError

if TYPE_CHECKING:
    from warden.runtime import Runtime

log = logging.getLogger("warden.gateway.api")

PREFIX = "/gateway/v1"
DECISIONS_PATH = f"{PREFIX}/decisions"
OBSERVATIONS_PATH = f"{PREFIX}/observations"
LISTABLE_PATH = f"{PREFIX}/listable"
MAX_BODY_BYTES = 4 << 20
"""Largest body accepted: tool arguments and results (observations carry whole results)."""
MAX_TOOLS = 10_000
"""Most tool ids one ``listable`` request may ask about."""

_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOOL_ID = 512  # longest tool id or action name accepted

Body = dict[str, Any]
Handler = Callable[[Caller, Body], Awaitable[Body]]


class GatewayRequestError(FieldError):
    """A request to the gateway API that cannot be answered (``field`` names what is wrong)."""

    code = "invalid_request"
    status = 400


class RequestTooLarge(GatewayRequestError):
    code = "request_too_large"
    status = 413


def gateway_router(runtime: Runtime, *, max_body_bytes: int = MAX_BODY_BYTES) -> APIRouter:
    """The gateway API over ``runtime.gateway``."""
    router = APIRouter(tags=["gateway"])

    async def decisions(caller: Caller, body: Body) -> Body:
        call = _call(caller, body, arguments=True)
        verdict = await runtime.gateway.decide(call)
        return {**verdict.to_dict(), "message": verdict.explain(), "agent": caller.agent}

    async def observations(caller: Caller, body: Body) -> Body:
        call = _call(caller, {**body, "mandate": _text(body, "mandate")}, arguments=False)
        if "result" not in body:
            raise GatewayRequestError("`result` is required", field="result")
        return {"observation": await runtime.gateway.observe(call, body["result"])}

    async def listable(caller: Caller, body: Body) -> Body:
        tools = _tool_ids(body)
        action = _optional_text(body, "action") or INVOKE
        shown = await runtime.gateway.listable(caller, tools, action=action)
        return {"tools": [t for t in tools if t in shown], "agent": caller.agent}

    def route(path: str, summary: str, handler: Handler, deny_on_fault: bool) -> None:
        async def endpoint(request: Request) -> Response:
            return await _answer(runtime, request, handler, max_body_bytes, deny_on_fault)

        router.add_api_route(path, endpoint, methods=["POST"], summary=summary)

    route(DECISIONS_PATH, "Decide one call at an outside enforcement point", decisions, True)
    route(OBSERVATIONS_PATH, "Report what a forwarded call returned", observations, False)
    route(LISTABLE_PATH, "The tools the calling agent may be shown", listable, False)
    return router


async def _answer(
    runtime: Runtime, request: Request, handler: Handler, limit: int, deny_on_fault: bool
) -> Response:
    """Read, authenticate, handle. Nothing a client sends yields a 500; a fault never allows."""
    try:
        body = await _read_object(request, limit)
        path = resource_path(MCP_PREFIX, _server(body))
        caller = await identify(
            runtime, request.headers.items(), request.method, str(request.url), path
        )
        return _json(200, await handler(caller, _with_headers(body, request)))
    except OAuthError as error:
        return _json(error.status, error.to_dict(), error.headers)
    except GatewayRequestError as error:
        return _json(error.status, error.to_dict())
    except Exception:
        log.exception("gateway API request to %s failed", request.url.path)
        fault: Body = {"error": "server_error", "message": "warden could not answer the request"}
        if deny_on_fault:
            fault["outcome"] = "deny"
        return _json(500, fault)


async def _read_object(request: Request, limit: int) -> Body:
    try:
        raw = await read_limited(request, limit)
    except BodyTooLarge as error:
        raise RequestTooLarge(str(error)) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayRequestError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise GatewayRequestError("the request body must be a JSON object")
    return body


def _with_headers(body: Body, request: Request) -> Body:
    """The mandate and chain may come in ``Txn-Token`` / ``Warden-Chain`` as on the AuthZEN
    API; the body's own values win."""
    return {**header_context(request.headers), **body}


def _server(body: Body) -> str:
    server = body.get("server")
    if not isinstance(server, str) or not _SERVER_NAME.fullmatch(server):
        raise GatewayRequestError(
            "`server` must name the MCP server (letters, digits, `.`, `_`, `-`)", field="server"
        )
    return server


def _call(caller: Caller, body: Body, *, arguments: bool) -> Call:
    return Call(
        caller=caller,
        tool=_text(body, "tool"),
        arguments=_arguments(body) if arguments else {},
        mandate=_optional_text(body, "mandate"),
        chain=_optional_text(body, "chain"),
        action=_optional_text(body, "action") or INVOKE,
        surface=Surface.MCP,
    )


def _arguments(body: Body) -> Mapping[str, Any]:
    value = body.get("arguments")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GatewayRequestError("`arguments` must be a JSON object", field="arguments")
    return value


def _text(body: Body, name: str) -> str:
    value = _optional_text(body, name)
    if value is None:
        raise GatewayRequestError(f"`{name}` is required", field=name)
    return value


def _optional_text(body: Body, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise GatewayRequestError(f"`{name}` must be a non-empty string", field=name)
    if name in ("tool", "action") and len(value) > _TOOL_ID:
        raise GatewayRequestError(f"`{name}` is longer than {_TOOL_ID} characters", field=name)
    return value


def _tool_ids(body: Body) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        raise GatewayRequestError("`tools` must be a list of tool ids", field="tools")
    if len(tools) > MAX_TOOLS:
        raise GatewayRequestError(f"`tools` lists more than {MAX_TOOLS} ids", field="tools")
    for index, tool in enumerate(tools):
        if not isinstance(tool, str) or not tool or len(tool) > _TOOL_ID:
            raise GatewayRequestError(
                "each tool must be a non-empty string", field=f"tools.{index}"
            )
    return list(tools)


def _json(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        content=orjson.dumps(payload),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
