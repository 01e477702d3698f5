"""RFC 7636 (PKCE) Appendix B, the S256 example, and the OAuth 2.1 profile (S256 only).

Source: RFC 7636 Appendix B ("Example for the S256 code_challenge_method"), as quoted in
STANDARDS.md §2.
"""

from __future__ import annotations

import base64

import pytest

from warden.tokens.errors import InvalidGrant, InvalidRequest
from warden.tokens.rfc7636 import check_challenge, s256_challenge, verify_code_verifier

# Appendix B: "The client uses output of a suitable random number generator to create a
# 32-octet sequence. The octets representing the value in this example ... are:"
OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_appendix_b_octets_encode_to_the_verifier() -> None:
    assert base64.urlsafe_b64encode(OCTETS).rstrip(b"=").decode() == VERIFIER


def test_appendix_b_verifier_hashes_to_the_challenge() -> None:
    assert s256_challenge(VERIFIER) == CHALLENGE


def test_appendix_b_challenge_is_accepted_in_an_authorization_request() -> None:
    check_challenge(CHALLENGE, "S256")


def test_appendix_b_verifier_redeems_the_challenge() -> None:
    verify_code_verifier(VERIFIER, CHALLENGE, "S256")


def test_plain_method_of_section_4_2_is_refused_as_oauth_2_1_requires() -> None:
    # §4.2 plain: code_challenge = code_verifier. OAuth 2.1 servers use S256 only.
    with pytest.raises(InvalidRequest):
        check_challenge(VERIFIER, "plain")
    # §4.3: an absent method means plain.
    with pytest.raises(InvalidRequest):
        check_challenge(VERIFIER, None)


def test_section_4_6_mismatch_is_invalid_grant() -> None:
    other = VERIFIER[:-1] + ("A" if VERIFIER[-1] != "A" else "B")
    with pytest.raises(InvalidGrant) as caught:
        verify_code_verifier(other, CHALLENGE)
    assert caught.value.code == "invalid_grant"
    assert other not in caught.value.message and CHALLENGE not in caught.value.message


def test_section_4_4_1_missing_challenge_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_challenge(None, "S256")
    assert caught.value.code == "invalid_request"
