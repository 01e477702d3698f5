"""Client secrets are stored only as hashes and checked in constant time."""

from __future__ import annotations

from warden.tokens.clients import hash_secret, new_secret, secret_matches


def test_a_secret_is_never_stored_and_only_it_matches() -> None:
    secret = new_secret()
    stored = hash_secret(secret)
    assert secret not in stored
    assert len(secret) >= 43  # 256 random bits, base64url
    assert secret_matches(secret, stored)
    assert not secret_matches(secret + "x", stored)
    assert not secret_matches(new_secret(), stored)


def test_malformed_or_foreign_hashes_never_match() -> None:
    secret = new_secret()
    for stored in ("", "sha256", "sha256$", "md5$" + "0" * 32, secret, f"plain${secret}"):
        assert not secret_matches(secret, stored)
