"""The authorization server's values: clients, token requests and responses.

These are the contracts between the token endpoint (``api.py``/``service.py``), the grant
handlers (``grants/``), DPoP (``rfc9449.py``) and token exchange (``rfc8693.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# RFC 8693 §3 token type identifiers, and the Transaction Tokens draft's.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
TXN_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:txn_token"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientAuthMethod(StrEnum):
    """How a client proves who it is at the token endpoint (RFC 7591 §2)."""

    PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523; agents (a JWT-SVID also works)
    CLIENT_SECRET_BASIC = "client_secret_basic"  # development
    CLIENT_SECRET_POST = "client_secret_post"  # OAuth 2.1 §2.4.1: MUST be supported
    NONE = "none"  # public clients (PKCE required)


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client. ``agent_id`` links it to a registry agent (its SPIFFE ID)."""

    client_id: str
    client_name: str
    auth_method: ClientAuthMethod
    secret_hash: str | None
    jwks: Mapping[str, Any] | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]  # the most this client may ever be granted
    dpop_bound: bool  # RFC 9449 §5.2 dpop_bound_access_tokens
    agent_id: str | None
    created_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)  # the rest, echoed (RFC 7591)

    @property
    def is_public(self) -> bool:
        return self.auth_method is ClientAuthMethod.NONE


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A parsed token endpoint request (RFC 6749 §3.2), client already authenticated.

    ``params`` holds the single-valued parameters (a repeated one was already refused with
    ``invalid_request``); ``resources`` and ``audiences`` the repeatable RFC 8707 / RFC 8693
    ones. ``dpop_jkt`` is the thumbprint of a verified DPoP proof's key, if one was sent.
    """

    grant_type: str
    params: Mapping[str, str]
    resources: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    dpop_jkt: str | None = None

    def scope(self) -> tuple[str, ...] | None:
        """The requested scope, split; None when absent."""
        raw = self.params.get("scope")
        return None if raw is None else tuple(s for s in raw.split(" ") if s)


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1, RFC 9449 §5)."""

    access_token: str
    token_type: str  # "Bearer", "DPoP" or "N_A"
    expires_in: int
    scope: tuple[str, ...] | None = None
    refresh_token: str | None = None
    issued_token_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. authorization_details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.scope is not None:
            body["scope"] = " ".join(self.scope)
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.issued_token_type is not None:
            body["issued_token_type"] = self.issued_token_type
        body.update(self.extra)
        return body
