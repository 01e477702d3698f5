"""JSON Web Key (JWK) Thumbprint, RFC 7638, with SHA-256.

§3: the thumbprint is the base64url-encoded hash of the JSON object holding only the key's
required members (§3.2: EC ``crv kty x y``, RSA ``e kty n``, OKP ``crv kty x`` per RFC 8037
§2, oct ``k kty``), in lexicographic order, without whitespace. Optional members (``kid``,
``alg``, ``use``...) do not change it, so two JWKs of one key share a thumbprint. DPoP uses it
as the key identifier in ``cnf.jkt`` (RFC 9449 §6.1).

This is the hot-path twin of joserfc's ``Key.thumbprint()`` (the tests check they agree):
it works on the raw JWK mapping, without importing the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

# RFC 7638 §3.2 and RFC 8037 §2: the members that define the key, per key type.
REQUIRED_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``jwk``.

    Raises ``ValueError`` for an unknown ``kty`` or a missing or non-string required member.
    """
    kty = jwk.get("kty")
    members = REQUIRED_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("unsupported `kty`")
    subset: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"jwk member `{name}` is missing or not a string")
        subset[name] = value
    # §3.3: UTF-8 of the JSON text, no whitespace, members in lexicographic order.
    text = json.dumps(subset, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())
