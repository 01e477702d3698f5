"""Token revocation (RFC 7009).

The caller authenticates as a client (§2.1) and may revoke its own tokens (a resource server
client any). Revoking a refresh token revokes its whole grant: every access and refresh token
issued under it (§2.1 "SHOULD also invalidate all access tokens based on the same
authorization grant"); revoking an access token revokes that token. A token Warden does not
know, or one already revoked or expired, still answers 200 (§2.2): the client's goal is met.
A client revoking another client's token is ``unauthorized_client`` (§2.1: the request is
refused). ``token_type_hint`` only orders the search.
"""

from __future__ import annotations

from warden.tokens.errors import UnauthorizedClient
from warden.tokens.minter import Minter
from warden.tokens.models import Client
from warden.tokens.rfc7662 import may_see
from warden.tokens.store import TokenStore


async def revoke(
    token: str, hint: str | None, requester: Client, minter: Minter, store: TokenStore
) -> None:
    record = await minter.find(token, hint)
    if record is None:
        return
    if not may_see(requester, record):
        raise UnauthorizedClient("the token was not issued to this client")
    if record.kind == "refresh":
        await store.revoke_grant(record.grant_id, minter.now)
    else:
        await store.revoke_token(record.jti, minter.now)
