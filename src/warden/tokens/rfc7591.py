"""Dynamic client registration (RFC 7591), gated by an initial access token (§3).

The metadata (§2) is validated: ``redirect_uris`` absolute, ``https`` or ``http`` on a
loopback address (OAuth 2.1 §2.3.1, §8.4.2), no fragment (``invalid_redirect_uri``);
``token_endpoint_auth_method`` one Warden supports, ``grant_types`` ones the token endpoint
serves, ``jwks`` for ``private_key_jwt`` (``invalid_client_metadata``); software statements
are not accepted (``invalid_software_statement``). Unknown fields are ignored (§2).

A client that carries a ``spiffe_id`` (or ``agent_id``) of Warden's trust domain acts as that
agent: its ``client_id`` is the SPIFFE ID, and an agent not yet in the registry is registered
there as ``provisioned`` — an administrator activates it; until then it gets no token. The
registry records that in the audit ledger. The response is 201 with the ``client_id``, a
``client_secret`` when the method needs one (``client_secret_expires_at: 0``), and the
registered metadata echoed (§3.2.1).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from warden.registry.errors import AgentNotFound
from warden.registry.models import AgentStatus
from warden.registry.service import RegistryService
from warden.registry.specs import AgentSpec
from warden.registry.spiffe import spiffe_id_problem
from warden.tokens.clients import hash_secret, new_secret
from warden.tokens.errors import (
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidSoftwareStatement,
    InvalidTarget,
)
from warden.tokens.grants.client_credentials import check_resource
from warden.tokens.models import Client, ClientAuthMethod
from warden.tokens.store import ClientExists, ClientStore

SECRET_METHODS = frozenset(
    {ClientAuthMethod.CLIENT_SECRET_BASIC, ClientAuthMethod.CLIENT_SECRET_POST}
)
KEPT_FIELDS = (
    "contacts", "client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id",
    "software_version", "resources", "default_resource", "authorization_details_types",
    "resource_server", "team",
)  # fmt: skip
_LOOPBACK_NAMES = frozenset({"localhost"})
REGISTRATION_ACTOR = "oauth dynamic registration"


def check_redirect_uri(uri: Any) -> str:
    """OAuth 2.1 §2.3.1: absolute, no fragment, https unless the host is loopback."""
    if not isinstance(uri, str):
        raise InvalidRedirectUri("each redirect uri must be a string")
    parts = urlsplit(uri)
    if not parts.scheme or not parts.hostname or parts.fragment or "#" in uri:
        raise InvalidRedirectUri(f"redirect uri `{uri[:200]}` must be absolute, without fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return uri
    raise InvalidRedirectUri(f"redirect uri `{uri[:200]}` must use https (or http on loopback)")


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _strings(metadata: Mapping[str, Any], name: str) -> list[str] | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"`{name}` must be an array of strings")
    return list(value)


def _auth_method(metadata: Mapping[str, Any]) -> ClientAuthMethod:
    raw = metadata.get("token_endpoint_auth_method", ClientAuthMethod.CLIENT_SECRET_BASIC.value)
    try:
        return ClientAuthMethod(raw)
    except ValueError:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method `{str(raw)[:60]}` is not supported"
        ) from None


class Registration:
    """Registers clients (and provisions their agents)."""

    def __init__(
        self,
        clients: ClientStore,
        registry: RegistryService,
        *,
        trust_domain: str,
        grant_types: Collection[str],
    ) -> None:
        self._clients = clients
        self._registry = registry
        self._trust_domain = trust_domain
        self._grant_types = tuple(grant_types)

    async def register(self, metadata: Any, now: datetime) -> dict[str, Any]:
        """Validate ``metadata``, store the client and answer the §3.2.1 response body."""
        if not isinstance(metadata, dict):
            raise InvalidClientMetadata("client metadata must be a json object")
        if "software_statement" in metadata:
            raise InvalidSoftwareStatement("software statements are not accepted")
        agent_id = self._agent_id(metadata)
        client, secret = self._client(metadata, agent_id, now)
        if agent_id is not None:
            await self._provision(agent_id, metadata, client, now)
        try:
            await self._clients.insert_client(client)
        except ClientExists as exc:
            raise InvalidClientMetadata(exc.message) from exc
        await self._registry.record("oauth:client:registered", _audit_view(client))
        return response_body(client, secret)

    def _agent_id(self, metadata: Mapping[str, Any]) -> str | None:
        agent_id = metadata.get("spiffe_id", metadata.get("agent_id"))
        if agent_id is None:
            return None
        if not isinstance(agent_id, str) or spiffe_id_problem(agent_id):
            raise InvalidClientMetadata("`spiffe_id` must be a spiffe id")
        if not agent_id.startswith(f"spiffe://{self._trust_domain}/"):
            raise InvalidClientMetadata(
                f"`spiffe_id` must be in trust domain `{self._trust_domain}`"
            )
        return agent_id

    def _client(
        self, metadata: Mapping[str, Any], agent_id: str | None, now: datetime
    ) -> tuple[Client, str | None]:
        method = _auth_method(metadata)
        grant_types = self._grants(metadata, agent_id)
        redirect_uris = self._redirect_uris(metadata, grant_types)
        secret = new_secret() if method in SECRET_METHODS else None
        client = Client(
            client_id=agent_id or f"wc_{secrets.token_urlsafe(18)}",
            client_name=_name(metadata, agent_id),
            auth_method=method,
            secret_hash=None if secret is None else hash_secret(secret),
            jwks=_jwks(metadata, method, svid_only=agent_id is not None),
            redirect_uris=tuple(redirect_uris),
            grant_types=tuple(grant_types),
            scope=_scope(metadata),
            dpop_bound=_flag(metadata, "dpop_bound_access_tokens"),
            agent_id=agent_id,
            created_at=now,
            metadata=_kept(metadata),
        )
        return client, secret

    def _grants(self, metadata: Mapping[str, Any], agent_id: str | None) -> list[str]:
        default = ["client_credentials"] if agent_id else ["authorization_code"]
        grant_types = _strings(metadata, "grant_types") or default
        unknown = [g for g in grant_types if g not in self._grant_types]
        if unknown:
            raise InvalidClientMetadata(f"grant type `{unknown[0][:100]}` is not supported")
        response_types = _strings(metadata, "response_types") or ["code"]
        if any(r != "code" for r in response_types):
            raise InvalidClientMetadata("`response_types` may only contain `code`")
        if (
            metadata.get("token_endpoint_auth_method") == "none"
            and "client_credentials" in grant_types
        ):
            raise InvalidClientMetadata("a public client may not use `client_credentials`")
        return grant_types

    def _redirect_uris(self, metadata: Mapping[str, Any], grant_types: list[str]) -> list[str]:
        uris = [check_redirect_uri(u) for u in _strings(metadata, "redirect_uris") or []]
        if "authorization_code" in grant_types and not uris:
            raise InvalidRedirectUri("`redirect_uris` is required for `authorization_code`")
        return uris

    async def _provision(
        self, agent_id: str, metadata: Mapping[str, Any], client: Client, now: datetime
    ) -> None:
        try:
            await self._registry.agent(agent_id)
            return  # already registered: the client is linked, its status unchanged
        except AgentNotFound:
            pass
        contacts = _strings(metadata, "contacts") or []
        try:
            spec = AgentSpec(
                id=agent_id,
                display_name=client.client_name,
                owner=contacts[0] if contacts else "",
                team=str(metadata.get("team") or "unassigned"),
                status=AgentStatus.PROVISIONED,
            )
        except ValidationError as exc:
            raise InvalidClientMetadata(
                "an agent client needs `contacts` with its owner's email first"
            ) from exc
        await self._registry.register_agent(spec, actor=REGISTRATION_ACTOR, now=now)


def _name(metadata: Mapping[str, Any], agent_id: str | None) -> str:
    name = metadata.get("client_name") or (agent_id.rsplit("/", 1)[-1] if agent_id else "client")
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidClientMetadata("`client_name` must be a string of at most 200 characters")
    return name


def _jwks(
    metadata: Mapping[str, Any], method: ClientAuthMethod, *, svid_only: bool
) -> Mapping[str, Any] | None:
    """The client's keys. An agent in Warden's trust domain may register ``private_key_jwt``
    without them: it then authenticates with JWT-SVIDs Warden issues it (RFC 7523 assertion)."""
    if "jwks_uri" in metadata:
        raise InvalidClientMetadata("`jwks_uri` is not supported; register `jwks`")
    jwks = metadata.get("jwks")
    if jwks is None:
        if method is ClientAuthMethod.PRIVATE_KEY_JWT and not svid_only:
            raise InvalidClientMetadata(
                "`private_key_jwt` needs `jwks` (or a `spiffe_id` in warden's trust domain, "
                "to authenticate with jwt-svids)"
            )
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(_public_jwk(k) for k in keys):
        raise InvalidClientMetadata("`jwks` must be a json web key set of public keys")
    return dict(jwks)


def _public_jwk(key: Any) -> bool:
    private = {"d", "p", "q", "dp", "dq", "qi", "k"}
    return isinstance(key, dict) and isinstance(key.get("kty"), str) and not private & set(key)


def _scope(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    scope = metadata.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidClientMetadata("`scope` must be a space-separated string")
    return tuple(dict.fromkeys(s for s in scope.split(" ") if s))


def _flag(metadata: Mapping[str, Any], name: str) -> bool:
    value = metadata.get(name, False)
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"`{name}` must be true or false")
    return value


def _kept(metadata: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: metadata[k] for k in KEPT_FIELDS if k in metadata}
    resources = _strings(kept, "resources") or []
    for resource in [
        *resources,
        *([kept["default_resource"]] if "default_resource" in kept else []),
    ]:
        try:
            check_resource(str(resource))
        except InvalidTarget as exc:
            raise InvalidClientMetadata(exc.message) from exc
    if "resource_server" in kept:
        _flag(kept, "resource_server")
    _strings(kept, "authorization_details_types")
    return kept


def response_body(client: Client, secret: str | None) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the client's id, its secret if any, and the registered metadata."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.client_name,
        "token_endpoint_auth_method": client.auth_method.value,
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "redirect_uris": list(client.redirect_uris),
        "scope": " ".join(client.scope),
        "dpop_bound_access_tokens": client.dpop_bound,
        **dict(client.metadata),
    }
    if client.jwks is not None:
        body["jwks"] = dict(client.jwks)
    if client.agent_id is not None:
        body["spiffe_id"] = client.agent_id
    if secret is not None:
        body.update(client_secret=secret, client_secret_expires_at=0)
    return body


def _audit_view(client: Client) -> dict[str, Any]:
    """What the ledger keeps of a registration: identifiers, never the secret."""
    return {
        "client_id": client.client_id,
        "client_name": client.client_name,
        "auth_method": client.auth_method.value,
        "agent_id": client.agent_id,
        "grant_types": list(client.grant_types),
    }
