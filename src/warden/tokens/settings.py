"""Authorization server settings (lifetimes in seconds)."""

from __future__ import annotations

from dataclasses import dataclass


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
