"""Warden's signing keys for OAuth tokens, and their rotation.

ES256 (P-256) keys (RFC 7518 §3.4) generated here and kept in the ``signing_keys`` table with
``use = "oauth"``; never in the repository. A key's ``kid`` is its RFC 7638 JWK thumbprint.
One key signs (the newest not retired); :meth:`KeyRing.rotate` creates a new one and retires
the old, which stays in the JWKS (RFC 7517 §5) until ``publish_until`` = rotation time plus
the longest token lifetime, so every token it signed can still be verified until it expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey

from warden.tokens.store import KeyStore, StoredKey

SIGNING_ALG = "ES256"
OAUTH_USE = "oauth"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A loaded key: the joserfc key object and its lifecycle."""

    kid: str
    alg: str
    key: ECKey = field(repr=False)
    created_at: datetime
    retired_at: datetime | None
    publish_until: datetime | None

    def published_at(self, now: datetime) -> bool:
        return self.publish_until is None or now < self.publish_until

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = dict(self.key.as_dict(private=False))
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk


class KeyRing:
    """The signing keys of one ``use``, loaded once and cached until the next change."""

    def __init__(self, store: KeyStore, *, max_token_lifetime: int, use: str = OAUTH_USE) -> None:
        self._store = store
        self._use = use
        self._lifetime = timedelta(seconds=max_token_lifetime)
        self._keys: tuple[SigningKey, ...] = ()
        self._lock = asyncio.Lock()

    async def load(self, now: datetime) -> None:
        """Read the keys; create the first one when there is none."""
        async with self._lock:
            keys = await self._store.list_keys(self._use)
            if not any(k.retired_at is None for k in keys):
                keys = [*keys, await self._create(now)]
            self._keys = tuple(_load(k) for k in keys)

    async def refresh(self) -> None:
        """Re-read the keys (another replica may have rotated)."""
        async with self._lock:
            self._keys = tuple(_load(k) for k in await self._store.list_keys(self._use))

    def current(self) -> SigningKey:
        """The key that signs: the newest one not retired."""
        active = [k for k in self._keys if k.retired_at is None]
        if not active:
            raise RuntimeError("the key ring is not loaded")
        return active[-1]

    def find(self, kid: str, now: datetime) -> SigningKey | None:
        """The still-published key ``kid``, if any."""
        return next((k for k in self._keys if k.kid == kid and k.published_at(now)), None)

    def all_keys(self) -> Sequence[SigningKey]:
        return self._keys

    def jwks(self, now: datetime) -> dict[str, Any]:
        """The public JWK Set: the signing key and every retired key still published."""
        return {"keys": [k.public_jwk() for k in self._keys if k.published_at(now)]}

    async def rotate(self, now: datetime) -> SigningKey:
        """A new key signs from now on; the old ones are retired but stay published."""
        async with self._lock:
            for key in self._keys:
                if key.retired_at is None:
                    await self._store.retire_key(key.kid, now, now + self._lifetime)
            await self._create(now)
            self._keys = tuple(_load(k) for k in await self._store.list_keys(self._use))
        return self.current()

    async def _create(self, now: datetime) -> StoredKey:
        key = ECKey.generate_key("P-256", private=True)
        pem = key.as_pem(private=True).decode()
        stored = StoredKey(key.thumbprint(), self._use, SIGNING_ALG, pem, now)
        await self._store.insert_key(stored)
        return stored


def _load(stored: StoredKey) -> SigningKey:
    key = ECKey.import_key(stored.private_pem)
    return SigningKey(
        stored.kid, stored.alg, key, stored.created_at, stored.retired_at, stored.publish_until
    )
