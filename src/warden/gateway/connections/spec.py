"""What a person sends to define a connection (the admin API's body, the CLI's options).

One model for both, so ``warden connections add`` on the local store and ``POST
/v1/connections`` accept and refuse the same things. The secret is write-only: a
:class:`~pydantic.SecretStr`, so it never shows in a repr, a log line or a validation error,
and it is not part of the :class:`Connection` it becomes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from warden.gateway.connections.errors import InvalidConnection
from warden.gateway.connections.models import AuthKind, Connection, Limits, Protocol, Route

_DEFAULT = Limits()


class RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(min_length=1, max_length=10, description="GET, POST… or * for any")
    template: str = Field(min_length=1, max_length=2048, description="/invoices/{id}")
    tool: str = Field(min_length=1, max_length=200, description="Warden's tool id")

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = _DEFAULT.timeout  # seconds, to connect and for each read
    max_request_bytes: int = _DEFAULT.max_request_bytes
    max_response_bytes: int = _DEFAULT.max_response_bytes


class ConnectionSpec(BaseModel):
    """A connection as a replacement (``PUT``): everything but the name. ``secret`` omitted
    keeps the stored one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Protocol
    url: str = Field(min_length=1, max_length=2048)
    auth: AuthKind = AuthKind.NONE
    params: dict[str, str] = Field(default_factory=dict, description="never secret")
    routes: list[RouteSpec] = Field(default_factory=list, max_length=500)
    tool_prefix: str | None = Field(None, max_length=200, description="mcp only; default `<name>.`")
    limits: LimitsSpec = Field(default_factory=lambda: LimitsSpec())
    description: str = Field("", max_length=2000)
    secret: SecretStr | None = Field(None, description="write-only: never returned")
    # What a GET returns besides: accepted (so a fetched connection can be sent back) and
    # ignored; a name must be the connection's own.
    name: str | None = None
    has_secret: Any = None
    key_id: Any = None
    created_at: Any = None
    updated_at: Any = None

    def connection(self, name: str) -> Connection:
        if self.name is not None and self.name != name:
            raise InvalidConnection(
                f"a connection keeps its name: `{self.name}` is not `{name}`", field="name"
            )
        prefix = self.tool_prefix
        if prefix is None:
            prefix = f"{name}." if self.protocol is Protocol.MCP else ""
        return Connection(
            name=name,
            protocol=self.protocol,
            url=self.url,
            auth=self.auth,
            params=dict(self.params),
            routes=tuple(Route(r.method, r.template, r.tool) for r in self.routes),
            tool_prefix=prefix,
            limits=Limits(**self.limits.model_dump()),
            description=self.description,
        )

    def plain_secret(self) -> str | None:
        return self.secret.get_secret_value() if self.secret is not None else None


class NewConnection(ConnectionSpec):
    """A connection to create (``POST``)."""

    name: str = Field(min_length=1, max_length=63)

    def connection(self, name: str | None = None) -> Connection:
        return super().connection(name or self.name)
