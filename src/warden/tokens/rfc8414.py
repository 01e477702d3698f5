"""Authorization server metadata (RFC 8414 §2), served at
``/.well-known/oauth-authorization-server`` (§3).

``issuer`` is the configured public base URL exactly (§3.3: a client MUST reject metadata whose
``issuer`` differs from the one it used). Only grant types the token endpoint actually serves
are listed. PKCE is S256 only (OAuth 2.1 §4.1.1); ``authorization_response_iss_parameter_
supported`` is RFC 9207 §3; ``dpop_signing_alg_values_supported`` is RFC 9449 §5.1;
``authorization_details_types_supported`` is RFC 9396 §10;
``client_id_metadata_document_supported`` is the MCP 2025-11-25 field (false: not offered).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from warden.tokens.models import ClientAuthMethod

TOKEN_PATH = "/oauth2/token"
AUTHORIZE_PATH = "/oauth2/authorize"
REGISTER_PATH = "/oauth2/register"
INTROSPECT_PATH = "/oauth2/introspect"
REVOKE_PATH = "/oauth2/revoke"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTH_METHODS = tuple(m.value for m in ClientAuthMethod)
ENDPOINT_AUTH_METHODS = tuple(m for m in AUTH_METHODS if m != ClientAuthMethod.NONE.value)
SIGNING_ALGS = ("ES256",)


def metadata(
    issuer: str,
    *,
    grant_types: Collection[str],
    dpop_algs: Collection[str],
    authorization_details_types: Collection[str] = (),
    scopes: Collection[str] = (),
) -> dict[str, Any]:
    """The metadata document for ``issuer``."""
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "registration_endpoint": issuer + REGISTER_PATH,
        "introspection_endpoint": issuer + INTROSPECT_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted(grant_types),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": list(ENDPOINT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": list(dpop_algs),
        "authorization_details_types_supported": list(authorization_details_types),
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": False,
    }
    if scopes:
        doc["scopes_supported"] = sorted(scopes)
    return doc
