"""The ``client_credentials`` grant for agents (OAuth 2.1 §4.2, RFC 6749 §4.4).

Only a confidential client linked to a registry agent may use it, and only while that agent
is ``active`` (checked by the token endpoint for every grant: an unknown agent is
``invalid_client``, a provisioned, suspended or retired one ``unauthorized_client``).
The scope is the requested subset of the client's registered scope
(``invalid_scope`` otherwise; all of it when none is asked for). Each RFC 8707 ``resource``
must be an absolute URI without a fragment (§2) that the client may address, else
``invalid_target``; together they are the token's ``aud``. No refresh token is issued
(OAuth 2.1 §4.2.3). With a DPoP proof the token is bound to its key (RFC 9449 §5).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from warden.tokens.errors import (
    InvalidAuthorizationDetails,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from warden.tokens.models import Client, TokenRequest, TokenResponse

if TYPE_CHECKING:
    from warden.tokens.service import TokenContext

GRANT_TYPE = "client_credentials"


class ClientCredentialsGrant:
    """Issues an agent its own access token."""

    grant_type = GRANT_TYPE

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        agent_id = _active_agent(client, ctx)
        scope = granted_scope(request.scope(), client.scope)
        claims: dict[str, Any] = {
            "sub": agent_id,
            "aud": _aud(audience(request.resources, client, ctx.settings.issuer)),
            "client_id": client.client_id,
            "scope": " ".join(scope),
        }
        details = authorization_details(request.params.get("authorization_details"), client)
        if details is not None:
            claims["authorization_details"] = details
        token, _ = await ctx.tokens.mint(
            claims,
            kind="access",
            client=client,
            grant_id=uuid.uuid4().hex,
            ttl=ctx.settings.access_token_ttl,
            jkt=request.dpop_jkt,
        )
        extra = {} if details is None else {"authorization_details": details}
        return TokenResponse(
            access_token=token,
            token_type="DPoP" if request.dpop_jkt else "Bearer",
            expires_in=ctx.settings.access_token_ttl,
            scope=scope,
            extra=extra,
        )


def _active_agent(client: Client, ctx: TokenContext) -> str:
    if client.is_public:
        raise UnauthorizedClient("a public client may not use the client_credentials grant")
    if client.agent_id is None:
        raise UnauthorizedClient(f"client `{client.client_id}` is not linked to an agent")
    return client.agent_id  # the token endpoint already refused inactive agents


def granted_scope(requested: Sequence[str] | None, registered: Sequence[str]) -> tuple[str, ...]:
    """The requested scope if the client may have all of it; its whole scope if none asked."""
    if requested is None:
        return tuple(registered)
    extra = [s for s in requested if s not in registered]
    if extra:
        raise InvalidScope(f"scope `{extra[0]}` is not registered for this client")
    return tuple(dict.fromkeys(requested))


def audience(resources: Sequence[str], client: Client, issuer: str) -> tuple[str, ...]:
    """RFC 8707 §2: the requested resources, each absolute and allowed for the client; when
    none is named, the client's default resource, else Warden itself."""
    allowed = tuple(client.metadata.get("resources") or ())
    for resource in resources:
        check_resource(resource)
        if resource not in allowed:
            raise InvalidTarget(f"resource `{resource}` is not allowed for this client")
    if resources:
        return tuple(dict.fromkeys(resources))
    default = client.metadata.get("default_resource") or (allowed[0] if allowed else issuer)
    return (str(default),)


def check_resource(resource: str) -> None:
    """RFC 8707 §2: an absolute URI, without a fragment."""
    parts = urlsplit(resource)
    if not parts.scheme or not (parts.netloc or parts.path) or "#" in resource:
        raise InvalidTarget(f"resource `{resource[:200]}` must be an absolute uri")


def _aud(values: tuple[str, ...]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def authorization_details(raw: str | None, client: Client) -> list[Any] | None:
    """RFC 9396 §2: a JSON array of objects with a ``type`` the client registered (§5)."""
    if raw is None:
        return None
    try:
        details = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidAuthorizationDetails("`authorization_details` is not json") from exc
    allowed = set(client.metadata.get("authorization_details_types") or ())
    if not isinstance(details, list) or not all(_detail_ok(d) for d in details):
        raise InvalidAuthorizationDetails("`authorization_details` must be objects with a `type`")
    unknown = [d["type"] for d in details if d["type"] not in allowed]
    if unknown:
        raise InvalidAuthorizationDetails(f"type `{unknown[0]}` is not allowed for this client")
    return details


def _detail_ok(detail: Mapping[str, Any] | Any) -> bool:
    return isinstance(detail, dict) and isinstance(detail.get("type"), str)
