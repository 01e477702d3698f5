"""PKCE as OAuth 2.1 profiles RFC 7636: S256 only, verifier iff challenge, exact match."""

from __future__ import annotations

import secrets

import pytest

from warden.tokens.errors import InvalidGrant, InvalidRequest
from warden.tokens.rfc7636 import check_challenge, s256_challenge, verify_code_verifier

VERIFIER = secrets.token_urlsafe(48)  # 64 characters
CHALLENGE = s256_challenge(VERIFIER)


def test_a_fresh_pair_round_trips() -> None:
    check_challenge(CHALLENGE, "S256")
    verify_code_verifier(VERIFIER, CHALLENGE)


@pytest.mark.parametrize("challenge", [None, ""])
def test_an_authorization_request_without_challenge_is_refused(challenge: str | None) -> None:
    with pytest.raises(InvalidRequest, match="`code_challenge` is required"):
        check_challenge(challenge, "S256")


@pytest.mark.parametrize("method", ["plain", "s256", "S512", None])
def test_methods_other_than_s256_are_refused(method: str | None) -> None:
    with pytest.raises(InvalidRequest, match="S256"):
        check_challenge(CHALLENGE, method)


@pytest.mark.parametrize(
    "challenge",
    [
        CHALLENGE[:-1],  # 42 characters
        CHALLENGE + "A",  # 44
        CHALLENGE[:-1] + "=",
        CHALLENGE[:-1] + "+",
        VERIFIER,  # a plain challenge, 64 characters
        CHALLENGE[:-1] + "B",  # 43 characters but not a 256-bit digest (low bits set)
    ],
)
def test_a_challenge_that_is_not_a_sha256_digest_is_refused(challenge: str) -> None:
    with pytest.raises(InvalidRequest):
        check_challenge(challenge, "S256")


def test_a_verifier_without_a_challenge_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        verify_code_verifier(VERIFIER, None)


def test_a_challenge_without_a_verifier_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        verify_code_verifier(None, CHALLENGE)


def test_neither_is_left_to_the_grant() -> None:
    verify_code_verifier(None, None)


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + " ", "a" * 42 + "+", "a" * 42 + "=", "é" * 43, ""],
)
def test_a_malformed_verifier_is_invalid_request(verifier: str) -> None:
    with pytest.raises(InvalidRequest, match="43 to 128"):
        verify_code_verifier(verifier, CHALLENGE)


@pytest.mark.parametrize("length", [43, 128])
def test_verifier_lengths_at_the_bounds_are_accepted(length: int) -> None:
    verifier = ("-._~" + "a1Z" * 50)[:length]
    verify_code_verifier(verifier, s256_challenge(verifier))


def test_a_mismatch_is_invalid_grant_and_does_not_echo_values() -> None:
    other = secrets.token_urlsafe(48)
    with pytest.raises(InvalidGrant) as caught:
        verify_code_verifier(other, CHALLENGE)
    assert other not in caught.value.message and CHALLENGE not in caught.value.message


def test_a_stored_plain_method_is_refused_at_the_token_endpoint() -> None:
    with pytest.raises(InvalidRequest):
        verify_code_verifier(VERIFIER, VERIFIER, "plain")


def test_a_challenge_with_non_ascii_characters_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(InvalidGrant):
        verify_code_verifier(VERIFIER, "é" * 43)
