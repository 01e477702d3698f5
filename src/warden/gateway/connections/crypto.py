"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) under keys from
configuration, with rotation.

``WARDEN_SECRET_KEYS`` holds one or more Fernet keys separated by commas, the newest first: new
secrets are encrypted with the first, any of them decrypts (``MultiFernet``), and
:meth:`SecretBox.rotate` re-encrypts a secret under the first. Rotating is: put a new key in
front, run ``warden connections rekey``, then drop the old key.

Without the variable, an embedded (SQLite file) Warden keeps a key it generated in
``secrets.key`` beside its database (mode 0600), so ``make run`` works out of the box; any other
store needs the variable (replicas must share the key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from warden.gateway.connections.errors import SecretsUnavailable

ENV = "WARDEN_SECRET_KEYS"
KEY_FILE = "secrets.key"


class SecretBox:
    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = tuple(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    @classmethod
    def configured(cls, database_path: str | None) -> SecretBox:
        """The keys from ``WARDEN_SECRET_KEYS``, else the embedded key file beside a SQLite
        database (created on first use), else none (storing a secret is then refused)."""
        raw = os.environ.get(ENV, "").strip()
        if raw:
            keys = [k.strip().encode() for k in raw.split(",") if k.strip()]
            try:
                return cls(keys)
            except ValueError:
                raise SecretsUnavailable(
                    f"`{ENV}` must hold Fernet keys (32 url-safe base64 bytes each)"
                ) from None
        if database_path and database_path != ":memory:":
            return cls([_key_file(Path(database_path).parent / KEY_FILE)])
        return cls([])

    @property
    def key_id(self) -> str | None:
        """The id of the key new secrets are encrypted with (a digest, never the key)."""
        return key_id(self._keys[0]) if self._keys else None

    def require(self) -> None:
        """Raise :class:`SecretsUnavailable` unless a key is configured."""
        self._box()

    def encrypt(self, secret: str) -> str:
        return self._box().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._box().decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable(
                "no configured key decrypts this secret (was its key dropped from "
                f"`{ENV}` before `warden connections rekey`?)"
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the first key."""
        try:
            return self._box().rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable("no configured key decrypts this secret") from None

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretsUnavailable(
                f"no encryption key for secrets: set `{ENV}` (see docs/gateway.md)"
            )
        return self._fernet


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
