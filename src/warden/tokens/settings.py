"""Authorization server settings (lifetimes in seconds)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

DEFAULT_ISSUER = "http://127.0.0.1:8700"


@dataclass(frozen=True, slots=True)
class TokenSettings:
    issuer: str  # exact; RFC 8414 §3.3: metadata `issuer` MUST equal it
    access_token_ttl: int = 600
    refresh_token_ttl: int = 14 * 24 * 3600
    code_ttl: int = 300  # OAuth 2.1 §4.1.2: 10 minutes or less
    txn_token_ttl: int = 300
    max_delegation_depth: int = 5  # RFC 8693 `act` nesting allowed beyond the subject
    trust_domain: str = "warden.local"  # SPIFFE trust domain; Txn-Token audience
    dpop_nonce_required: bool = False
    dpop_proof_max_age: int = 300  # RFC 9449 §11.1 acceptance window for `iat`
    leeway: int = 30  # clock skew allowed on `exp`/`nbf`/`iat` of tokens and assertions
    client_assertion_max_lifetime: int = 3600  # RFC 7523 §3: reject far-future `exp`
    authorization_details_types: tuple[str, ...] = ()  # RFC 9396 §10, advertised in metadata

    @classmethod
    def from_env(cls, issuer: str | None = None) -> TokenSettings:
        """``issuer`` or ``WARDEN_ISSUER`` (the public base URL), else the local default."""
        chosen = issuer or os.environ.get("WARDEN_ISSUER") or DEFAULT_ISSUER
        settings = cls(issuer=chosen.rstrip("/"))
        domain = os.environ.get("WARDEN_TRUST_DOMAIN")
        return replace(settings, trust_domain=domain) if domain else settings

    @property
    def max_token_lifetime(self) -> int:
        """The longest any JWT Warden signs lives: how long a retired key stays published."""
        return max(self.access_token_ttl, self.txn_token_ttl) + self.leeway

    def endpoint(self, path: str) -> str:
        """The absolute URL of one of Warden's endpoints (``path`` starts with ``/``)."""
        return self.issuer + path
