"""The ``authorization_code`` grant with PKCE (OAuth 2.1 §4.1.3, RFC 7636 §4.5-4.6).

The client presents the code it received at its redirect URI and the PKCE ``code_verifier``.
Every code Warden issues carries an S256 challenge (``authorize.py`` requires one), so the
verifier is always required: a missing one is ``invalid_request``, a wrong one ``invalid_grant``.
The code must have been issued to the authenticated client, and a ``redirect_uri`` sent by an
OAuth 2.0 client must equal the one the code went to (RFC 6749 §4.1.3). The access token names
the person as ``sub`` and the agent's client as ``client_id``/``azp`` (RFC 9068 §2.2), with the
RFC 8707 resources as ``aud``; a refresh token comes with it when the client may refresh.
"""

from __future__ import annotations

import hmac

from warden.tokens.codes import CodeStore
from warden.tokens.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from warden.tokens.models import Client, TokenRequest, TokenResponse
from warden.tokens.refresh import PersonGrant, issue_tokens
from warden.tokens.rfc7636 import verify_code_verifier
from warden.tokens.service import TokenContext

GRANT_TYPE = "authorization_code"


class AuthorizationCodeGrant:
    """Redeems authorization codes from :class:`~warden.tokens.codes.CodeStore`."""

    grant_type = GRANT_TYPE

    def __init__(self, codes: CodeStore) -> None:
        self._codes = codes

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        if GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("this client may not use the authorization_code grant")
        code = request.params.get("code")
        verifier = request.params.get("code_verifier")
        if not code:
            raise InvalidRequest("`code` is required")
        if not verifier:
            raise InvalidRequest("`code_verifier` is required (pkce)")
        redeemed = await self._codes.redeem(code, client_id=client.client_id, ctx=ctx)
        granted = redeemed.grant
        # a spent code stays spent: one presented with a wrong verifier has probably leaked
        verify_code_verifier(verifier, granted.code_challenge, granted.code_challenge_method)
        sent_uri = request.params.get("redirect_uri")
        if sent_uri is not None and sent_uri != granted.redirect_uri:
            raise InvalidGrant("`redirect_uri` differs from the authorization request's")
        if granted.dpop_jkt is not None and not (
            request.dpop_jkt and hmac.compare_digest(granted.dpop_jkt, request.dpop_jkt)
        ):
            raise InvalidGrant("the dpop proof key differs from the authorization request's")
        grant = PersonGrant(
            redeemed.grant_id, granted.subject, granted.scope, _audience(granted.resources, ctx)
        )
        response = await issue_tokens(grant, client, ctx, dpop_jkt=request.dpop_jkt)
        await self._codes.confirm(redeemed, ctx)
        return response


def _audience(resources: tuple[str, ...], ctx: TokenContext) -> tuple[str, ...]:
    """RFC 8707 §2: the resources asked for; Warden itself when none was named."""
    return resources or (ctx.settings.issuer,)
