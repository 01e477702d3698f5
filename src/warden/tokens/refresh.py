"""Issuing tokens for a person's grant, and refresh token rotation with reuse detection.

OAuth 2.1 §4.3 and §4.3.1: every refresh returns a new refresh token and invalidates the one
presented; the new token carries the same scope, or a requested subset (a wider request is
``invalid_scope``, RFC 6749 §6). A refresh token that was already rotated and is presented again
has leaked or been stolen: the whole grant is revoked — the active refresh token and every
access token issued under it — and the request answers ``invalid_grant`` (OAuth 2.1 §4.3.1,
RFC 9700 §4.14.2).

Refresh tokens of public clients are bound to the DPoP key of the request that obtained them
(RFC 9449 §5), and rotated in any case; a bound one is only accepted with a proof by that key.
Refresh tokens are stored in ``oauth_tokens`` (``kind = 'refresh'``) by the token minter, as the
hex SHA-256 of their text only. Claiming one for rotation is an atomic
``UPDATE … WHERE replaced_by IS NULL AND revoked_at IS NULL``: two concurrent refreshes with the
same token cannot both succeed, and the loser counts as a reuse. The winner links the spent token
to its successor only if the grant was not revoked meanwhile; otherwise it revokes the grant
again, so tokens minted during a concurrent reuse do not survive it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import oauth_tokens
from warden.tokens.codes import code_hash
from warden.tokens.errors import InvalidGrant, InvalidScope
from warden.tokens.models import Client, TokenResponse
from warden.tokens.service import TokenContext

REFRESH_GRANT = "refresh_token"
_CLAIMING = "rotating"  # replaced_by while the successor is being minted


@dataclass(frozen=True, slots=True)
class PersonGrant:
    """What a person allowed a client: who, which scope, for which resources (RFC 8707)."""

    grant_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]


def access_claims(grant: PersonGrant, client: Client) -> dict[str, Any]:
    """The claims of an access token for ``grant`` (RFC 9068 §2.2): the person is ``sub``,
    the agent's client is ``client_id`` and ``azp``."""
    return {
        "sub": grant.subject,
        "aud": list(grant.audience) if len(grant.audience) != 1 else grant.audience[0],
        "client_id": client.client_id,
        "azp": client.client_id,
        "scope": " ".join(grant.scope),
    }


async def issue_tokens(
    grant: PersonGrant, client: Client, ctx: TokenContext, *, dpop_jkt: str | None
) -> TokenResponse:
    """An access token for ``grant`` (DPoP-bound when the request proved a key), and a
    refresh token when the client may use the refresh_token grant."""
    access, _ = await ctx.tokens.mint(
        access_claims(grant, client),
        kind="access",
        client=client,
        grant_id=grant.grant_id,
        ttl=ctx.settings.access_token_ttl,
        jkt=dpop_jkt,
    )
    refresh = None
    if REFRESH_GRANT in client.grant_types:
        refresh = await ctx.tokens.mint_refresh(
            client=client,
            grant_id=grant.grant_id,
            subject=grant.subject,
            scope=grant.scope,
            claims={"aud": list(grant.audience)},
            # RFC 9449 §5: a confidential client's refresh token is bound by its authentication
            jkt=dpop_jkt if client.is_public else None,
        )
    return TokenResponse(
        access_token=access,
        token_type="DPoP" if dpop_jkt else "Bearer",
        expires_in=ctx.settings.access_token_ttl,
        scope=grant.scope,
        refresh_token=refresh,
    )


class RefreshTokens:
    """Rotation of the refresh tokens in ``oauth_tokens``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rotate(
        self,
        token: str,
        *,
        client: Client,
        scope: tuple[str, ...] | None,
        dpop_jkt: str | None,
        ctx: TokenContext,
    ) -> TokenResponse:
        """Spend ``token`` and issue its successor (and a new access token)."""
        row = await self._find(token)
        if row is None or not hmac.compare_digest(row["client_id"], client.client_id):
            raise InvalidGrant("the refresh token is not valid")
        if row["replaced_by"] is not None:
            await ctx.tokens.revoke_grant(row["grant_id"])
            raise InvalidGrant("the refresh token was already used; the grant is revoked")
        _check_usable(row, ctx.now, dpop_jkt)
        granted = _scope(row)
        narrowed = _narrow(granted, scope)
        if not await self._claim(row["jti"]):
            await ctx.tokens.revoke_grant(row["grant_id"])
            raise InvalidGrant("the refresh token was already used; the grant is revoked")
        grant = PersonGrant(row["grant_id"], row["subject"], narrowed, _audience(row))
        # the bound key, or the request's, so a public client's refresh token stays bound
        response = await issue_tokens(grant, client, ctx, dpop_jkt=row["jkt"] or dpop_jkt)
        if response.refresh_token is None or not await self._link(
            row["jti"], response.refresh_token, ctx.now
        ):
            # the grant was revoked while the successor was minted (a concurrent reuse)
            await ctx.tokens.revoke_grant(row["grant_id"])
            raise InvalidGrant("the refresh token was already used; the grant is revoked")
        return response

    async def _find(self, token: str) -> Mapping[str, Any] | None:
        digest = code_hash(token)
        query = select(oauth_tokens).where(
            oauth_tokens.c.token_hash == digest, oauth_tokens.c.kind == "refresh"
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        return dict(row)

    async def _claim(self, jti: str) -> bool:
        query = (
            update(oauth_tokens)
            .where(
                oauth_tokens.c.jti == jti,
                oauth_tokens.c.replaced_by.is_(None),
                oauth_tokens.c.revoked_at.is_(None),
            )
            .values(replaced_by=_CLAIMING)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1

    async def _link(self, jti: str, successor: str, now: datetime) -> bool:
        """Point the spent token at its successor's ``jti`` (a rotated token introspects as
        revoked); False when the grant was revoked in the meantime."""
        async with self._engine.begin() as conn:
            new_jti = (
                await conn.execute(
                    select(oauth_tokens.c.jti).where(
                        oauth_tokens.c.token_hash == code_hash(successor)
                    )
                )
            ).scalar_one_or_none()
            linked = await conn.execute(
                update(oauth_tokens)
                .where(
                    oauth_tokens.c.jti == jti,
                    oauth_tokens.c.replaced_by == _CLAIMING,
                    oauth_tokens.c.revoked_at.is_(None),
                )
                .values(replaced_by=new_jti or _CLAIMING, revoked_at=now.isoformat())
            )
        return new_jti is not None and linked.rowcount == 1


def _check_usable(row: Mapping[str, Any], now: datetime, dpop_jkt: str | None) -> None:
    if row["revoked_at"] is not None:
        raise InvalidGrant("the refresh token was revoked")
    if datetime.fromisoformat(row["expires_at"]) <= now:
        raise InvalidGrant("the refresh token has expired")
    bound = row["jkt"]
    if bound is not None and (dpop_jkt is None or not hmac.compare_digest(bound, dpop_jkt)):
        # RFC 9449 §5: a bound refresh token needs a proof by the same key
        raise InvalidGrant("the refresh token is bound to another dpop key")


def _scope(row: Mapping[str, Any]) -> tuple[str, ...]:
    raw = row["scope"]
    if isinstance(raw, str) and raw.startswith("["):
        return tuple(orjson.loads(raw))
    return tuple(s for s in str(raw).split(" ") if s)


def _audience(row: Mapping[str, Any]) -> tuple[str, ...]:
    raw = orjson.loads(row["claims"]).get("aud") or orjson.loads(row["audience"])
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _narrow(granted: tuple[str, ...], requested: tuple[str, ...] | None) -> tuple[str, ...]:
    """The same scope, or the requested subset of it (RFC 6749 §6)."""
    if requested is None:
        return granted
    wider = [s for s in requested if s not in granted]
    if wider:
        raise InvalidScope(f"the refresh token does not cover `{' '.join(wider)}`")
    return tuple(s for s in granted if s in requested)
