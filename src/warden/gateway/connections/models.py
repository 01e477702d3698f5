"""What a connection is: an upstream and how Warden authenticates to it.

A connection's secret (API key, password, client secret) is never part of these values: it is
stored encrypted (:mod:`warden.gateway.connections.crypto`) and read only to authenticate an
upstream request (:meth:`ConnectionService.headers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Protocol(StrEnum):
    HTTP = "http"  # reached through /egress/<name>/<path>
    MCP = "mcp"  # an MCP server fronted at /mcp/<name> (streamable HTTP upstream)


class AuthKind(StrEnum):
    """How Warden authenticates to the upstream. ``params`` per kind:

    - ``none``: nothing injected.
    - ``api_key``: ``header`` (default ``Authorization``), ``prefix`` (e.g. ``Bearer ``);
      the secret is the key.
    - ``basic``: ``username``; the secret is the password.
    - ``oauth_client_credentials``: ``token_url``, ``client_id``, optional ``scope``,
      ``audience``/``resource``; the secret is the client secret. Tokens are cached until
      shortly before they expire.
    - ``oauth_token_exchange``: as above plus RFC 8693: the access token the agent presented
      to the gateway is exchanged (``subject_token``) for an upstream token acting for it
      (egress only: an MCP upstream session is shared by every agent).
    """

    NONE = "none"
    API_KEY = "api_key"
    BASIC = "basic"
    CLIENT_CREDENTIALS = "oauth_client_credentials"
    TOKEN_EXCHANGE = "oauth_token_exchange"


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route of an egress connection, and the Warden tool a call to it is."""

    method: str  # GET, POST... or * for any
    template: str  # /invoices/{id}; {name} is one path segment, {name:path} the rest
    tool: str  # Warden's tool id, e.g. erp.invoice.read

    def to_dict(self) -> dict[str, str]:
        return {"method": self.method, "template": self.template, "tool": self.tool}


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 30.0  # seconds, for connecting and for each read
    max_request_bytes: int = 1 << 20
    max_response_bytes: int = 16 << 20

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "max_request_bytes": self.max_request_bytes,
            "max_response_bytes": self.max_response_bytes,
        }


@dataclass(frozen=True, slots=True)
class Connection:
    name: str  # [a-z0-9][a-z0-9_-]{0,62}: the path segment after /mcp/ or /egress/
    protocol: Protocol
    url: str  # the upstream's base URL (HTTP) or MCP endpoint (streamable HTTP)
    auth: AuthKind
    params: Mapping[str, str] = field(default_factory=dict)  # never secret
    routes: tuple[Route, ...] = ()  # HTTP only; a call matching none is refused
    tool_prefix: str = ""  # MCP only: Warden's tool id = tool_prefix + the upstream tool name
    limits: Limits = field(default_factory=Limits)
    description: str = ""
    has_secret: bool = False
    key_id: str | None = None  # which encryption key holds the secret (for rotation)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the API and CLI show: never the secret, only whether there is one."""
        return {
            "name": self.name,
            "protocol": self.protocol.value,
            "url": self.url,
            "auth": self.auth.value,
            "params": dict(self.params),
            "routes": [r.to_dict() for r in self.routes],
            "tool_prefix": self.tool_prefix,
            "limits": self.limits.to_dict(),
            "description": self.description,
            "has_secret": self.has_secret,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }
