"""The governed MCP server: an upstream's tools, resources and prompts, each use decided first.

:func:`build_server` is the one place the MCP protocol meets :class:`~warden.gateway.core.Call`;
the streamable HTTP gateway (:mod:`warden.gateway.mcp.http`) and the stdio proxy build their
server with it and differ only in where the caller comes from (the request's access token, or
the proxy's environment) and which :class:`~warden.gateway.core.Decider` they ask.

- ``tools/list``: the upstream's tools the caller may be shown (``Decider.listable``); a name
  stays the upstream's, Warden's tool id is ``tool_prefix`` + that name.
- ``tools/call``: decided with the full arguments, the mandate (``Txn-Token``, or
  ``_meta["warden/mandate"]``) and the chain (``Warden-Chain``, or ``_meta["warden/chain"]``).
  Allowed: forwarded, and what came back is observed. Refused (or held, then not approved): a
  tool error whose text is the verdict's explanation, so the agent can recover; the upstream
  never sees the call.
- ``resources/read`` is the tool ``<prefix>resource`` (action ``read``, ``{"uri": ...}``);
  ``prompts/get`` the tool ``<prefix>prompt.<name>``. Refused: an MCP error carrying the
  explanation. The lists show them only to callers that may use them.
- The upstream failing is a tool error that says so: it is not a Warden decision.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import mcp.types as types
from mcp import ClientSession
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import McpError

from warden.gateway.core import Call, Caller, Decider, Verdict
from warden.gateway.mcp.upstream import Upstream, UpstreamFailed
from warden.shadow.models import Surface

log = logging.getLogger("warden.gateway.mcp")

Identity = tuple[Caller, str | None, str | None]
"""The caller, its mandate (Txn-Token) and its chain assertion (Warden-Chain), if sent."""

IdentitySource = Callable[[], Identity | Awaitable[Identity]]

MANDATE_META = "warden/mandate"
CHAIN_META = "warden/chain"
VERDICT_META = "warden/verdict"
REFUSED = -32003  # JSON-RPC server error: Warden refused the request (resources, prompts)
UPSTREAM_FAILED = -32004  # JSON-RPC server error: the upstream failed (resources, prompts)
R = TypeVar("R")
MAX_PAGES = 50  # upstream list pages followed per list request


def build_server(
    name: str,
    upstream: Upstream,
    decider: Decider,
    identity: IdentitySource,
    tool_prefix: str,
) -> Server[Any, Any]:
    """A lowlevel MCP server fronting ``upstream`` under Warden's governance.

    - ``name``: the server name announced to agents (the connection's name).
    - ``upstream``: the shared client session to the real server (:class:`Upstream`; its
      ``running()`` context must be entered before the server handles requests).
    - ``decider``: ``runtime.gateway`` in the server's process, or a client of its API.
    - ``identity``: called (sync or async) inside each request handler; returns
      ``(caller, mandate, chain)`` — from the HTTP request, or from the proxy's environment.
      A mandate or chain it does not give is taken from the request's ``_meta``.
    - ``tool_prefix``: Warden's tool id = ``tool_prefix`` + the upstream tool name.
    """
    server: Server[Any, Any] = Server(name)
    governed = _Governed(upstream, decider, identity, tool_prefix)
    handlers = server.request_handlers
    handlers[types.ListToolsRequest] = governed.list_tools
    handlers[types.CallToolRequest] = governed.call_tool
    handlers[types.ListResourcesRequest] = governed.list_resources
    handlers[types.ListResourceTemplatesRequest] = governed.list_resource_templates
    handlers[types.ReadResourceRequest] = governed.read_resource
    handlers[types.ListPromptsRequest] = governed.list_prompts
    handlers[types.GetPromptRequest] = governed.get_prompt
    return server


class _Governed:
    def __init__(
        self, upstream: Upstream, decider: Decider, identity: IdentitySource, prefix: str
    ) -> None:
        self.upstream = upstream
        self.decider = decider
        self.identity = identity
        self.prefix = prefix

    # -- tools ---------------------------------------------------------------------------

    async def list_tools(self, _: types.ListToolsRequest | None) -> types.ServerResult:
        caller, _mandate, _chain = await self._who(None)
        tools: list[types.Tool] = await self._all(_tool_page, "tools")
        shown = await self.decider.listable(caller, [self.prefix + t.name for t in tools])
        visible = [t for t in tools if self.prefix + t.name in shown]
        return types.ServerResult(types.ListToolsResult(tools=visible))

    async def call_tool(self, request: types.CallToolRequest) -> types.ServerResult:
        params = request.params
        arguments = dict(params.arguments or {})
        call = await self._call(self.prefix + params.name, arguments, params.meta)
        verdict = await self.decider.decide(call)
        if not verdict.allowed:
            return types.ServerResult(_refused_tool(verdict))
        try:
            result = await self.upstream.run(lambda s: _forward_call(s, params.name, arguments))
        except (UpstreamFailed, McpError) as error:
            return types.ServerResult(_failed_tool(self.upstream.name, error))
        observed = result.structuredContent if result.structuredContent else _text(result.content)
        await self.decider.report(call, observed)
        return types.ServerResult(result)

    # -- resources -----------------------------------------------------------------------

    async def list_resources(self, _: types.ListResourcesRequest) -> types.ServerResult:
        resources: list[types.Resource] = []
        if await self._offers("resources") and await self._may_read_resources():
            resources = await self._all(_resource_page, "resources")
        return types.ServerResult(types.ListResourcesResult(resources=resources))

    async def list_resource_templates(self, _: Any) -> types.ServerResult:
        templates: list[types.ResourceTemplate] = []
        if await self._offers("resources") and await self._may_read_resources():
            templates = await self._all(_template_page, "resourceTemplates")
        return types.ServerResult(types.ListResourceTemplatesResult(resourceTemplates=templates))

    async def read_resource(self, request: types.ReadResourceRequest) -> types.ServerResult:
        uri = request.params.uri
        tool = self.prefix + "resource"
        call = await self._call(tool, {"uri": str(uri)}, request.params.meta, action="read")
        result = await self._decided(call, lambda s: s.read_resource(uri))
        await self.decider.report(call, _resource_text(result.contents))
        return types.ServerResult(result)

    async def _may_read_resources(self) -> bool:
        caller, _mandate, _chain = await self._who(None)
        tool = self.prefix + "resource"
        return tool in await self.decider.listable(caller, [tool], action="read")

    # -- prompts -------------------------------------------------------------------------

    async def list_prompts(self, _: types.ListPromptsRequest) -> types.ServerResult:
        prompts: list[types.Prompt] = []
        if await self._offers("prompts"):
            caller, _mandate, _chain = await self._who(None)
            every: list[types.Prompt] = await self._all(_prompt_page, "prompts")
            shown = await self.decider.listable(caller, [self._prompt(p.name) for p in every])
            prompts = [p for p in every if self._prompt(p.name) in shown]
        return types.ServerResult(types.ListPromptsResult(prompts=prompts))

    async def get_prompt(self, request: types.GetPromptRequest) -> types.ServerResult:
        params = request.params
        arguments = dict(params.arguments or {})
        call = await self._call(self._prompt(params.name), arguments, params.meta)
        result = await self._decided(call, lambda s: s.get_prompt(params.name, arguments or None))
        await self.decider.report(call, _text([m.content for m in result.messages]))
        return types.ServerResult(result)

    def _prompt(self, name: str) -> str:
        return f"{self.prefix}prompt.{name}"

    # -- plumbing ------------------------------------------------------------------------

    async def _who(self, meta: types.RequestParams.Meta | None) -> Identity:
        given = self.identity()
        caller, mandate, chain = await given if inspect.isawaitable(given) else given
        extra: Mapping[str, Any] = (meta.model_extra or {}) if meta is not None else {}
        if mandate is None and isinstance(extra.get(MANDATE_META), str):
            mandate = extra[MANDATE_META]
        if chain is None and isinstance(extra.get(CHAIN_META), str):
            chain = extra[CHAIN_META]
        return caller, mandate, chain

    async def _call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        meta: types.RequestParams.Meta | None,
        *,
        action: str = "invoke",
    ) -> Call:
        caller, mandate, chain = await self._who(meta)
        return Call(
            caller,
            tool,
            arguments,
            mandate=mandate,
            chain=chain,
            action=action,
            surface=Surface.MCP,
        )

    async def _decided(self, call: Call, operation: Callable[[ClientSession], Awaitable[R]]) -> R:
        """A resource or prompt request: decided, then forwarded; refused, an MCP error."""
        verdict = await self.decider.decide(call)
        if not verdict.allowed:
            raise _refused_error(verdict)
        return await self._forward(operation)

    async def _forward(self, operation: Callable[[ClientSession], Awaitable[R]]) -> R:
        """A resource or prompt request upstream; a failure is an MCP error saying so."""
        try:
            return await self.upstream.run(operation)
        except UpstreamFailed as error:
            raise McpError(types.ErrorData(code=UPSTREAM_FAILED, message=error.message)) from None

    async def _offers(self, capability: str) -> bool:
        """Whether the upstream announced ``capability`` (an unreachable one offers nothing)."""
        try:
            session = await self.upstream.session()
        except UpstreamFailed:
            return False
        offered = session.get_server_capabilities()
        return offered is not None and getattr(offered, capability, None) is not None

    async def _all(
        self, page: Callable[[ClientSession, str | None], Awaitable[Any]], key: str
    ) -> Any:
        """Every item of an upstream list, following its cursor (bounded)."""
        items: list[Any] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            answer = await self._forward(_paging(page, cursor))
            items.extend(getattr(answer, key))
            cursor = answer.nextCursor
            if not cursor:
                break
        return items


def _paging(
    page: Callable[[ClientSession, str | None], Awaitable[Any]], cursor: str | None
) -> Callable[[ClientSession], Awaitable[Any]]:
    return lambda session: page(session, cursor)


async def _tool_page(session: ClientSession, cursor: str | None) -> types.ListToolsResult:
    return await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))


async def _resource_page(session: ClientSession, cursor: str | None) -> types.ListResourcesResult:
    return await session.list_resources(params=types.PaginatedRequestParams(cursor=cursor))


async def _template_page(
    session: ClientSession, cursor: str | None
) -> types.ListResourceTemplatesResult:
    return await session.list_resource_templates(params=types.PaginatedRequestParams(cursor=cursor))


async def _prompt_page(session: ClientSession, cursor: str | None) -> types.ListPromptsResult:
    return await session.list_prompts(params=types.PaginatedRequestParams(cursor=cursor))


async def _forward_call(
    session: ClientSession, name: str, arguments: dict[str, Any]
) -> types.CallToolResult:
    """``tools/call`` relayed as is: unlike ``ClientSession.call_tool``, the upstream's result
    is not checked against its output schema here (the agent's own client does that; a proxy
    that did it too would add a schema validation to every call and refuse what it relays)."""
    request = types.CallToolRequest(
        params=types.CallToolRequestParams(name=name, arguments=arguments)
    )
    return await session.send_request(types.ClientRequest(request), types.CallToolResult)


def _refused_tool(verdict: Verdict) -> types.CallToolResult:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text=verdict.explain())], isError=True
    )
    result.meta = {VERDICT_META: verdict.to_dict()}
    return result


def _failed_tool(upstream: str, error: UpstreamFailed | McpError) -> types.CallToolResult:
    if isinstance(error, UpstreamFailed):
        text = f"{error.message} (the call was allowed by Warden; the upstream did not complete it)"
    else:
        text = f"upstream `{upstream}` answered with an error: {error.error.message}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)


def _refused_error(verdict: Verdict) -> McpError:
    data = {VERDICT_META: verdict.to_dict()}
    return McpError(types.ErrorData(code=REFUSED, message=verdict.explain(), data=data))


def _text(blocks: list[Any]) -> str:
    """The text an agent reads from content blocks (what is observed when there is no
    structured content)."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.EmbeddedResource):
            parts.append(_resource_text([block.resource]))
    return "\n".join(parts)


def _resource_text(
    contents: list[types.TextResourceContents | types.BlobResourceContents],
) -> str:
    return "\n".join(c.text for c in contents if isinstance(c, types.TextResourceContents))
