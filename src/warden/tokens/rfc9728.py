"""Protected resource metadata (RFC 9728) for Warden's own API.

Served at ``/.well-known/oauth-protected-resource`` (§3). ``resource`` is Warden's base URL —
the identifier a client used to find the document — and MUST equal it (§3.3); the admin API
(``/v1``) is the protected resource, reached with a Warden access token of scope
``warden:admin`` (DPoP-bound or Bearer, RFC 9449 §7) or the static admin token. The 401 of the
admin API points here with ``resource_metadata`` (§5.1), as MCP clients expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PATH = "/.well-known/oauth-protected-resource"
ADMIN_SCOPE = "warden:admin"


def metadata(issuer: str, dpop_algs: Sequence[str]) -> dict[str, Any]:
    """The document for Warden itself: its own authorization server protects it."""
    return {
        "resource": issuer,
        "authorization_servers": [issuer],
        "scopes_supported": [ADMIN_SCOPE],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(dpop_algs),
        "dpop_bound_access_tokens_required": False,
        "resource_name": "Warden admin API",
    }


def challenge(issuer: str) -> str:
    """``WWW-Authenticate`` for an unauthenticated request to the protected resource (§5.1)."""
    return f'Bearer realm="warden", resource_metadata="{issuer}{PATH}"'
