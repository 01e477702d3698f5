"""The MCP gateway: Warden in front of MCP servers, deciding every tool call, resource read and
prompt before it reaches them.

- :mod:`.governed`: :func:`build_server`, the governed lowlevel MCP server (shared by the
  streamable HTTP gateway and the stdio proxy).
- :mod:`.upstream`: :class:`Upstream`, the shared, self-healing client session to the real
  server.
- :mod:`.api`: :func:`mount`, ``/mcp/<server>`` over streamable HTTP with the MCP
  authorization spec's protected-resource metadata.
"""

from __future__ import annotations

from warden.gateway.mcp.api import McpGateway, mount
from warden.gateway.mcp.governed import Identity, IdentitySource, build_server
from warden.gateway.mcp.upstream import Upstream, UpstreamFailed, http_opener

__all__ = [
    "Identity",
    "IdentitySource",
    "McpGateway",
    "Upstream",
    "UpstreamFailed",
    "build_server",
    "http_opener",
    "mount",
]
