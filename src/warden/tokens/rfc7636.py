"""Proof Key for Code Exchange (PKCE), RFC 7636, as OAuth 2.1 profiles it: S256 only.

- Authorization request (RFC 7636 §4.3, §4.4.1; OAuth 2.1 §4.1.1): ``code_challenge`` is
  required; ``code_challenge_method`` defaults to ``plain`` (§4.3), which OAuth 2.1 servers
  need not and Warden does not support, so it must be ``S256``. Either fault is
  ``invalid_request``. An S256 challenge is the base64url of a SHA-256 digest: 43 characters.
- Token request (§4.5, §4.6; OAuth 2.1 §4.1.3): ``code_verifier`` is present if and only if a
  challenge was sent (otherwise ``invalid_request``), matches ``43*128unreserved`` (§4.1),
  and ``BASE64URL(SHA256(ASCII(code_verifier)))`` must equal the challenge, compared in
  constant time; a mismatch is ``invalid_grant``.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from warden.tokens.errors import InvalidGrant, InvalidRequest
from warden.tokens.rfc7638 import b64url

S256 = "S256"
SUPPORTED_METHODS = (S256,)  # RFC 8414 code_challenge_methods_supported

# §4.1: code-verifier = 43*128unreserved; unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# A SHA-256 digest in base64url without padding: 42 free characters, and a last one whose
# two low bits are zero (256 bits do not fill the 258 that 43 characters carry).
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def s256_challenge(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` (RFC 7636 §4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def check_challenge(challenge: str | None, method: str | None) -> None:
    """Validate the PKCE parameters of an authorization request; raises ``InvalidRequest``."""
    if challenge is None or challenge == "":
        raise InvalidRequest("`code_challenge` is required")
    if method is None:
        raise InvalidRequest("`code_challenge_method` must be `S256`; `plain` is not supported")
    if method != S256:
        raise InvalidRequest("unsupported `code_challenge_method`: only `S256` is supported")
    if _S256_CHALLENGE.fullmatch(challenge) is None:
        raise InvalidRequest("`code_challenge` is not a base64url SHA-256 digest")


def verify_code_verifier(verifier: str | None, challenge: str | None, method: str = S256) -> None:
    """Check a token request's ``code_verifier`` against the code's stored challenge.

    Both absent is accepted here (whether a code may lack a challenge is the grant's rule).
    Raises ``InvalidRequest`` for a verifier without challenge, a challenge without verifier,
    a malformed verifier or an unsupported method, and ``InvalidGrant`` for a mismatch.
    """
    if challenge is None:
        if verifier is not None:
            raise InvalidRequest("`code_verifier` sent but no `code_challenge` was")
        return
    if verifier is None:
        raise InvalidRequest("`code_verifier` is required")
    if method != S256:
        raise InvalidRequest("unsupported `code_challenge_method`: only `S256` is supported")
    if _VERIFIER.fullmatch(verifier) is None:
        raise InvalidRequest("`code_verifier` must be 43 to 128 unreserved characters")
    expected = s256_challenge(verifier).encode("ascii")
    if not hmac.compare_digest(expected, challenge.encode("utf-8")):
        raise InvalidGrant("`code_verifier` does not match the `code_challenge`")
