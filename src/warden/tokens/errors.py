"""OAuth error responses, with the codes and status codes the RFCs define.

::

    WardenError
    └── OAuthError                         error code → HTTP status
        ├── InvalidRequest                 invalid_request → 400 (RFC 6749 §5.2)
        ├── InvalidClient                  invalid_client → 401 (with WWW-Authenticate)
        │   └── UnknownClient              no such client (answered like any other failure)
        ├── InvalidGrant                   invalid_grant → 400
        ├── UnauthorizedClient             unauthorized_client → 400
        ├── UnsupportedGrantType           unsupported_grant_type → 400
        ├── UnsupportedResponseType        unsupported_response_type → 400
        ├── InvalidScope                   invalid_scope → 400
        ├── AccessDenied                   access_denied → 400 / redirect
        ├── InvalidTarget                  invalid_target → 400 (RFC 8693 §2.2.2, RFC 8707)
        ├── UnsupportedTokenType           unsupported_token_type → 400 (RFC 7009 §2.2.1)
        ├── InvalidAuthorizationDetails    invalid_authorization_details → 400 (RFC 9396 §5)
        ├── InvalidDpopProof               invalid_dpop_proof → 400 at the AS, 401 at an RS
        ├── UseDpopNonce                   use_dpop_nonce → 400 / 401, with DPoP-Nonce
        ├── InvalidToken                   invalid_token → 401 (RFC 6750 §3.1)
        ├── InsufficientScope              insufficient_scope → 403
        ├── InvalidRedirectUri             invalid_redirect_uri → 400 (RFC 7591 §3.2.2)
        ├── InvalidClientMetadata          invalid_client_metadata → 400
        └── InvalidSoftwareStatement       invalid_software_statement → 400

Descriptions never contain tokens, secrets or keys: they say what was wrong, not what was
sent. Only ``api.py`` turns these into responses.
"""

from __future__ import annotations

from collections.abc import Mapping

from warden.errors import WardenError


class OAuthError(WardenError):
    """An error with an RFC error code, a description, a status and response headers."""

    code = "server_error"
    status = 400

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "error_description": self.message}


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401


class UnknownClient(InvalidClient):
    """No client has the presented id. The answer is the same as for a wrong credential;
    the type only lets the token endpoint report the sighting (shadow agents)."""


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class AccessDenied(OAuthError):
    code = "access_denied"


class InvalidTarget(OAuthError):
    code = "invalid_target"


class UnsupportedTokenType(OAuthError):
    code = "unsupported_token_type"


class InvalidAuthorizationDetails(OAuthError):
    code = "invalid_authorization_details"


class InvalidDpopProof(OAuthError):
    code = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    code = "use_dpop_nonce"


class InvalidToken(OAuthError):
    code = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    code = "insufficient_scope"
    status = 403


class InvalidRedirectUri(OAuthError):
    code = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    code = "invalid_client_metadata"


class InvalidSoftwareStatement(OAuthError):
    code = "invalid_software_statement"
