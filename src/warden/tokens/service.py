"""The token service: what every grant handler is given (see ``grants/``).

``TokenContext`` bundles the request's clock with the services a grant needs, each behind a
protocol so grant handlers are testable with real stores and keys but no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from warden.tokens.models import Client
from warden.tokens.replay import ReplayCache
from warden.tokens.settings import TokenSettings


class TokenMinter(Protocol):
    """Signs and records tokens, and verifies the ones Warden issued."""

    async def mint(
        self,
        claims: Mapping[str, Any],
        *,
        kind: str,
        client: Client,
        grant_id: str,
        ttl: int,
        jkt: str | None = None,
        typ: str = "at+jwt",
    ) -> tuple[str, Mapping[str, Any]]:
        """Sign ``claims`` (adding iss, iat, exp, jti, and cnf.jkt when ``jkt``) as a JWT with
        header ``typ``, record it (kind: access | txn) for introspection and revocation, and
        return the token and the final claims."""

    async def mint_refresh(
        self,
        *,
        client: Client,
        grant_id: str,
        subject: str,
        scope: tuple[str, ...],
        claims: Mapping[str, Any],
        jkt: str | None,
    ) -> str:
        """A new opaque refresh token for ``grant_id`` (only its hash is stored)."""

    async def verify(self, token: str, *, typ: str = "at+jwt") -> Mapping[str, Any]:
        """Claims of a token Warden issued: signature by a published key, ``typ``, ``iss``,
        ``exp``/``nbf`` against the context clock, and not revoked. Raises ``InvalidToken``."""

    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token issued under ``grant_id``."""


class AgentDirectory(Protocol):
    """What the authorization server needs to know of the registry."""

    def agent_status(self, agent_id: str) -> str | None:
        """The agent's lifecycle status (``active``, ``suspended``...), None if unknown."""


@dataclass(frozen=True, slots=True)
class TokenContext:
    """Per-request context handed to a grant handler; ``now`` is the request's clock."""

    settings: TokenSettings
    now: datetime
    tokens: TokenMinter
    agents: AgentDirectory
    replay: ReplayCache
