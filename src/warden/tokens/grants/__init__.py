"""Grant handlers: one module per grant type, registered by ``grant_type``.

The token endpoint authenticates the client, verifies any DPoP proof, parses the request into
a :class:`~warden.tokens.models.TokenRequest` and hands it to the handler for its grant type.
A handler returns a :class:`~warden.tokens.models.TokenResponse` or raises an
:class:`~warden.tokens.errors.OAuthError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.tokens.models import Client, TokenRequest, TokenResponse

if TYPE_CHECKING:
    from warden.tokens.rfc7523 import SvidVerifier
    from warden.tokens.service import TokenContext


class GrantHandler(Protocol):
    grant_type: str

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse: ...


def handlers(engine: AsyncEngine, svids: SvidVerifier | None = None) -> dict[str, GrantHandler]:
    """Every grant the token endpoint serves, by ``grant_type`` (one line per grant module).

    Imported here, not at the top, because grant modules import the token service.
    """
    from warden.tokens.codes import CodeStore
    from warden.tokens.grants.authorization_code import AuthorizationCodeGrant
    from warden.tokens.grants.client_credentials import ClientCredentialsGrant
    from warden.tokens.grants.refresh_token import RefreshTokenGrant
    from warden.tokens.grants.token_exchange import TokenExchangeGrant
    from warden.tokens.refresh import RefreshTokens

    found: list[GrantHandler] = [
        ClientCredentialsGrant(),
        AuthorizationCodeGrant(CodeStore(engine)),
        RefreshTokenGrant(RefreshTokens(engine)),
        TokenExchangeGrant(svids),  # JWT-SVIDs are accepted as actor tokens
    ]
    return {handler.grant_type: handler for handler in found}
