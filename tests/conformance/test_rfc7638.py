"""RFC 7638 (JWK Thumbprint) §3.1 example, and the RFC 9449 §6.1 EC example.

Sources: RFC 7638 §3.1 "Example JWK Thumbprint Computation"; RFC 9449 §6.1 (the `jkt` of
the key in the proofs of §4.1), as quoted in STANDARDS.md §3.
"""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey, RSAKey

from warden.tokens.rfc7638 import jwk_thumbprint

# RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1, with "alg" and "kid".
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# RFC 9449 §4.1 / §6.1.
RFC9449_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_section_3_1_rsa_example() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_optional_members_do_not_change_the_thumbprint() -> None:
    bare = {k: RFC7638_JWK[k] for k in ("kty", "n", "e")}
    assert jwk_thumbprint(bare) == RFC7638_THUMBPRINT
    assert jwk_thumbprint({**bare, "use": "sig", "kid": "other"}) == RFC7638_THUMBPRINT


def test_rfc9449_ec_example() -> None:
    assert jwk_thumbprint(RFC9449_JWK) == RFC9449_JKT


def test_agrees_with_joserfc() -> None:
    assert RSAKey.import_key(RFC7638_JWK).thumbprint() == RFC7638_THUMBPRINT
    key = ECKey.generate_key("P-384")
    assert jwk_thumbprint(key.as_dict(private=False)) == key.thumbprint()


@pytest.mark.parametrize(
    "jwk",
    [{"kty": "RSA", "n": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": 1, "y": "a"}, {"kty": "X"}],
)
def test_incomplete_or_unknown_keys_are_refused(jwk: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)
