"""Registered clients and how they authenticate at the token, introspection and revocation
endpoints (OAuth 2.1 §2.4, RFC 6749 §2.3).

- ``client_secret_basic``: HTTP Basic, id and secret each form-urlencoded first
  (RFC 6749 §2.3.1), so they are decoded here;
- ``client_secret_post``: ``client_id`` and ``client_secret`` in the body (OAuth 2.1 §2.4.1);
- ``private_key_jwt``: an RFC 7523 assertion, or a JWT-SVID (see ``rfc7523.py``);
- ``none``: a public client that only names itself.

A client uses exactly one method (RFC 6749 §2.3: more is ``invalid_request``). Secrets are
stored as salted scrypt hashes and compared in constant time. Every failure is
``invalid_client``; the API answers it 401 with ``WWW-Authenticate: Basic``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from warden.tokens.errors import InvalidClient, InvalidRequest
from warden.tokens.models import JWT_BEARER_ASSERTION, Client, ClientAuthMethod
from warden.tokens.rfc7523 import AssertionVerifier, unverified_claims
from warden.tokens.store import ClientStore

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def hash_secret(secret: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64url, unpadded) for a new client secret."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "$".join(("scrypt", *(str(v) for v in _SCRYPT.values()), _b64(salt), _b64(digest)))


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, binascii.Error):
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """What a request offered to authenticate its client (not yet checked)."""

    method: ClientAuthMethod
    client_id: str
    secret: str | None = None
    assertion: str | None = None
    via_header: bool = False

    def __repr__(self) -> str:  # the secret and assertion stay out of logs
        return f"PresentedCredentials(method={self.method.value!r}, client_id={self.client_id!r})"


def presented_credentials(
    authorization: str | None, params: Mapping[str, str]
) -> PresentedCredentials:
    """The one authentication method a request used; raises if none or several."""
    basic = _basic(authorization)
    used = [m for m in ("client_secret", "client_assertion") if m in params]
    if (basic is not None and used) or len(used) > 1:
        raise InvalidRequest("use exactly one client authentication method")
    if basic is not None:
        return _checked_basic(basic, params)
    if "client_assertion" in params:
        return _assertion(params)
    client_id = params.get("client_id")
    if not client_id:
        raise InvalidClient("client authentication is required")
    if "client_secret" in params:
        return PresentedCredentials(
            ClientAuthMethod.CLIENT_SECRET_POST, client_id, secret=params["client_secret"]
        )
    return PresentedCredentials(ClientAuthMethod.NONE, client_id)


def _basic(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1 / RFC 7617: ``Basic base64(urlencode(id):urlencode(secret))``."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("the basic credentials are not valid base64", headers=_BASIC) from exc
    # The last colon: Warden's secrets never contain one, while client ids that are SPIFFE IDs
    # do, and many clients (Authlib, httpx) skip the §2.3.1 encoding that would escape it.
    client_id, colon, secret = decoded.rpartition(":")
    if not colon or not client_id:
        raise InvalidClient("the basic credentials need `client_id:client_secret`", headers=_BASIC)
    return unquote_plus(client_id), unquote_plus(secret)


def _checked_basic(basic: tuple[str, str], params: Mapping[str, str]) -> PresentedCredentials:
    client_id, secret = basic
    if params.get("client_id", client_id) != client_id:
        raise InvalidClient("`client_id` differs from the basic credentials", headers=_BASIC)
    return PresentedCredentials(
        ClientAuthMethod.CLIENT_SECRET_BASIC, client_id, secret=secret, via_header=True
    )


def _assertion(params: Mapping[str, str]) -> PresentedCredentials:
    if params.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise InvalidClient(f"`client_assertion_type` must be `{JWT_BEARER_ASSERTION}`")
    assertion = params["client_assertion"]
    subject = unverified_claims(assertion).get("sub")
    client_id = params.get("client_id") or subject
    if not isinstance(client_id, str) or not client_id or subject != client_id:
        raise InvalidClient("the client assertion `sub` must be the client id")
    return PresentedCredentials(ClientAuthMethod.PRIVATE_KEY_JWT, client_id, assertion=assertion)


REALM = "warden"
_BASIC = {"WWW-Authenticate": f'Basic realm="{REALM}"'}


class ClientAuthenticator:
    """Finds the client and checks its credentials by its registered method."""

    def __init__(self, store: ClientStore, assertions: AssertionVerifier) -> None:
        self._store = store
        self._assertions = assertions

    async def authenticate(self, presented: PresentedCredentials, now: datetime) -> Client:
        client = await self._store.get_client(presented.client_id)
        if client is None:
            if presented.secret is not None:
                secret_matches(presented.secret, _DUMMY_HASH)  # same cost as a known client
            raise InvalidClient("client authentication failed")
        if presented.method is not client.auth_method:
            raise InvalidClient(
                f"client `{client.client_id}` authenticates with `{client.auth_method.value}`"
            )
        await self._check(presented, client, now)
        return client

    async def _check(self, presented: PresentedCredentials, client: Client, now: datetime) -> None:
        if presented.secret is not None:
            if client.secret_hash is None or not secret_matches(
                presented.secret, client.secret_hash
            ):
                raise InvalidClient("client authentication failed")
        elif presented.assertion is not None:
            await self._assertions.verify(presented.assertion, client, now)
