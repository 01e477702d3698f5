"""Secrets at rest: the keys Warden encrypts connection secrets with (``WARDEN_SECRET_KEYS``, or
a key file beside an embedded database) and how rotation and a lost key behave."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from warden.gateway.connections.crypto import ENV, KEY_FILE, SecretBox, key_id
from warden.gateway.connections.errors import SecretsUnavailable


def test_an_embedded_warden_generates_its_key_file_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    database = tmp_path / "data" / "warden.db"
    box = SecretBox.configured(str(database))
    path = database.parent / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = box.encrypt("s3cret")
    assert "s3cret" not in sealed
    again = SecretBox.configured(str(database))  # a restart reads the same key
    assert again.decrypt(sealed) == "s3cret" and again.key_id == box.key_id
    assert box.key_id == key_id(path.read_bytes().strip())


def test_the_configured_keys_win_over_the_key_file_and_the_first_encrypts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(ENV, old.decode())
    sealed = SecretBox.configured(str(tmp_path / "w.db")).encrypt("s3cret")
    assert not (tmp_path / KEY_FILE).exists()
    monkeypatch.setenv(ENV, f" {new.decode()} , {old.decode()} ")
    both = SecretBox.configured(None)
    assert both.key_id == key_id(new) and both.decrypt(sealed) == "s3cret"
    rotated = both.rotate(sealed)
    assert SecretBox([new]).decrypt(rotated) == "s3cret"  # the old key can go now
    with pytest.raises(SecretsUnavailable, match="dropped"):
        SecretBox([Fernet.generate_key()]).decrypt(rotated)


def test_no_key_or_a_malformed_one_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "not-a-fernet-key")
    with pytest.raises(SecretsUnavailable, match="Fernet keys"):
        SecretBox.configured(None)
    monkeypatch.delenv(ENV)
    nothing = SecretBox.configured(None)  # PostgreSQL: no file to keep a key beside
    assert nothing.key_id is None
    with pytest.raises(SecretsUnavailable, match=ENV):
        nothing.encrypt("s3cret")
    in_memory = SecretBox.configured(":memory:")
    with pytest.raises(SecretsUnavailable):
        in_memory.require()
