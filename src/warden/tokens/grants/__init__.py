"""Grant handlers: one module per grant type, registered by ``grant_type``.

The token endpoint authenticates the client, verifies any DPoP proof, parses the request into
a :class:`~warden.tokens.models.TokenRequest` and hands it to the handler for its grant type.
A handler returns a :class:`~warden.tokens.models.TokenResponse` or raises an
:class:`~warden.tokens.errors.OAuthError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from warden.tokens.models import Client, TokenRequest, TokenResponse

if TYPE_CHECKING:
    from warden.tokens.service import TokenContext


class GrantHandler(Protocol):
    grant_type: str

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse: ...
