"""Where the SPIFFE issuer keeps its keys: rows of ``signing_keys`` on SQLite or PostgreSQL.

Two ``use`` values belong to the issuer: ``x509-ca`` (the CA key, with its certificate) and
``jwt-svid`` (the JWT-SVID signing key). Other uses (``oauth``) belong to the authorization
server and are never read here.

Key ids are deterministic per trust domain and generation (``x509-ca.<tag>.1``), so two
replicas starting together on an empty store race for the same primary key: one insert wins,
the other reloads and uses the winner's key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import signing_keys

X509_CA_USE = "x509-ca"
JWT_SVID_USE = "jwt-svid"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One ``signing_keys`` row. ``private_key`` is PKCS#8 PEM: never log or return it."""

    kid: str
    use: str
    alg: str
    private_key: str
    certificate: str | None
    created_at: datetime
    retired_at: datetime | None = None
    publish_until: datetime | None = None

    @property
    def generation(self) -> int:
        """The key's place in its trust domain's rotation, from its kid (1 = first)."""
        tail = self.kid.rsplit(".", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    def __repr__(self) -> str:  # keep the private key out of logs and tracebacks
        return f"StoredKey(kid={self.kid!r}, use={self.use!r}, alg={self.alg!r})"


def key_id(use: str, trust_domain: str, generation: int) -> str:
    """``<use>.<tag>.<generation>``; the tag tells trust domains apart within one store."""
    return f"{key_prefix(use, trust_domain)}{generation}"


def key_prefix(use: str, trust_domain: str) -> str:
    """What every kid of ``use`` in ``trust_domain`` starts with."""
    tag = hashlib.sha256(trust_domain.encode()).hexdigest()[:16]
    return f"{use}.{tag}."


async def load_keys(engine: AsyncEngine, use: str, trust_domain: str) -> list[StoredKey]:
    """Every key of ``use`` for ``trust_domain``, oldest generation first."""
    prefix = key_prefix(use, trust_domain)
    query = select(signing_keys).where(
        signing_keys.c.use == use, signing_keys.c.kid.startswith(prefix, autoescape=True)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    keys = [
        StoredKey(
            kid=row["kid"],
            use=row["use"],
            alg=row["alg"],
            private_key=row["private_key"],
            certificate=row["certificate"],
            created_at=datetime.fromisoformat(row["created_at"]),
            retired_at=_moment(row["retired_at"]),
            publish_until=_moment(row["publish_until"]),
        )
        for row in rows
    ]
    return sorted(keys, key=lambda k: k.generation)


async def insert_key(engine: AsyncEngine, key: StoredKey) -> bool:
    """Store ``key``; ``False`` when a key with its kid exists already (another replica won)."""
    row = {
        "kid": key.kid,
        "use": key.use,
        "alg": key.alg,
        "private_key": key.private_key,
        "certificate": key.certificate,
        "created_at": key.created_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
        "publish_until": key.publish_until.isoformat() if key.publish_until else None,
    }
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(signing_keys).values(**row))
    except IntegrityError:
        return False
    return True


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
