"""Who is calling through a gateway: the MCP authorization spec (2025-06-18 and later) applied to
each protected resource Warden fronts.

- Every MCP server (``/mcp/<server>``) and egress connection (``/egress/<connection>``) is an
  OAuth protected resource whose identifier is its own URL under Warden's issuer. Its RFC 9728
  metadata is at ``/.well-known/oauth-protected-resource`` + its path (§3.1), naming Warden's
  authorization server.
- A request must carry a Warden access token (``Bearer``, or ``DPoP`` with its proof, RFC 9449
  §7) whose ``aud`` names that resource (RFC 8707; MCP: the server MUST check the audience).
  Without one the answer is 401 with ``WWW-Authenticate`` carrying ``resource_metadata`` (RFC
  9728 §5.1); a bad token 401 ``invalid_token``; a malformed header 400.
- The token stops here: adapters forward upstream with the connection's own credential, never
  the agent's (MCP: the server MUST NOT pass tokens through).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from warden.gateway.core import Caller
from warden.tokens.errors import InvalidToken, OAuthError
from warden.tokens.resource import MissingCredentials, authenticate
from warden.tokens.rfc9449 import quote_string
from warden.tokens.rfc9728 import PATH as METADATA_PATH

if TYPE_CHECKING:
    from warden.runtime import Runtime

MCP_PREFIX = "/mcp"
EGRESS_PREFIX = "/egress"


def resource_path(prefix: str, name: str) -> str:
    """The path of a protected resource: ``/mcp/<server>`` or ``/egress/<connection>``."""
    return f"{prefix}/{name}"


def resource_id(issuer: str, path: str) -> str:
    """The resource's identifier (RFC 8707 ``resource``, the token's ``aud``)."""
    return issuer.rstrip("/") + path


def metadata_url(issuer: str, path: str) -> str:
    """Where the resource's RFC 9728 metadata is (§3.1: the well-known path, then its own)."""
    return issuer.rstrip("/") + METADATA_PATH + path


def resource_metadata(
    issuer: str, path: str, dpop_algs: Sequence[str], *, name: str
) -> dict[str, Any]:
    """The RFC 9728 document of one gateway resource. ``resource`` MUST equal the identifier
    the client derived the metadata URL from (§3.3)."""
    return {
        "resource": resource_id(issuer, path),
        "authorization_servers": [issuer.rstrip("/")],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(dpop_algs),
        "dpop_bound_access_tokens_required": False,
        "resource_name": name,
    }


async def identify(
    runtime: Runtime,
    headers: Sequence[tuple[str, str]],
    method: str,
    url: str,
    path: str,
) -> Caller:
    """The caller of a request to the resource at ``path``; raises ``OAuthError`` carrying the
    status and the ``WWW-Authenticate`` challenge to answer with (``resource_metadata``
    added to the ``Bearer`` challenge)."""
    issuer = runtime.token_settings.issuer
    audience = resource_id(issuer, path)

    async def verify(token: str) -> Mapping[str, Any]:
        return await runtime.tokens.verify_access_token(token, _now(), audience=audience)

    try:
        claims = await authenticate(
            headers,
            method,
            url,
            int(_now().timestamp()),
            dpop=runtime.tokens.dpop,
            verify_token=verify,
            realm="warden",
        )
    except OAuthError as error:
        raise with_metadata(error, metadata_url(issuer, path)) from None
    if not isinstance(claims.get("sub"), str):
        raise with_metadata(_no_subject(), metadata_url(issuer, path))
    return Caller.of(claims)


def with_metadata(error: OAuthError, url: str) -> OAuthError:
    """``error`` whose ``Bearer`` challenge points to the resource's metadata (RFC 9728 §5.1)."""
    challenge = error.headers.get("WWW-Authenticate")
    pointer = f'resource_metadata="{quote_string(url)}"'
    if challenge is None:
        challenge = f'Bearer realm="warden", {pointer}'
    elif challenge.startswith("Bearer "):
        scheme, _, rest = challenge.partition(" ")
        challenge = f"{scheme} {pointer}, {rest}"
    else:
        challenge = f'Bearer realm="warden", {pointer}, {challenge}'
    headers = {**error.headers, "WWW-Authenticate": challenge}
    if isinstance(error, MissingCredentials):
        return MissingCredentials(headers)
    return type(error)(error.message, status=error.status, headers=headers)


def _no_subject() -> OAuthError:
    return InvalidToken("the token names no subject", status=401)


def _now() -> datetime:
    return datetime.now(UTC)
