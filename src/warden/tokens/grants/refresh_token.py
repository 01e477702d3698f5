"""The ``refresh_token`` grant with rotation (OAuth 2.1 §4.3, RFC 6749 §6).

Parses the request and hands it to :class:`~warden.tokens.refresh.RefreshTokens`, which spends
the presented token, detects reuse (revoking the whole grant) and issues the successor.
"""

from __future__ import annotations

from warden.tokens.errors import InvalidRequest, UnauthorizedClient
from warden.tokens.models import Client, TokenRequest, TokenResponse
from warden.tokens.refresh import REFRESH_GRANT, RefreshTokens
from warden.tokens.service import TokenContext


class RefreshTokenGrant:
    """Rotates refresh tokens."""

    grant_type = REFRESH_GRANT

    def __init__(self, refresh: RefreshTokens) -> None:
        self._refresh = refresh

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        if REFRESH_GRANT not in client.grant_types:
            raise UnauthorizedClient("this client may not use the refresh_token grant")
        token = request.params.get("refresh_token")
        if not token:
            raise InvalidRequest("`refresh_token` is required")
        return await self._refresh.rotate(
            token, client=client, scope=request.scope() or None, dpop_jkt=request.dpop_jkt, ctx=ctx
        )
