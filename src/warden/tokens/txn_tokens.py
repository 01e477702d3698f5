"""Transaction Tokens (draft-ietf-oauth-transaction-tokens, editor's copy after -08,
oauth-wg/oauth-transaction-tokens@dbdf43e), issued through the RFC 8693 profile.

- Request (§"Txn-Token Request"): ``requested_token_type`` txn_token, ``audience`` = the trust
  domain (else ``invalid_target``), ``scope`` REQUIRED (the purpose); ``request_context`` → ``rctx``
  and ``request_details`` → ``tctx``, each a JSON object sent as a form-encoded JSON string.
- Subject (§"Subject Token Types"): any RFC 8693 type but a refresh token; a Warden access token or
  a self-signed JWT. §"Unknown subject_token scope": a subject whose scope cannot be determined
  from a trusted source is refused and never read as unconstrained.
- Token (§"JWT Body Claims"): header ``typ: txntoken+jwt``; ``iat``, ``aud`` (trust domain),
  ``exp``, ``txn``, ``sub``, ``scope``, ``req_wl``, ``tctx``, ``rctx``. Warden also carries the
  subject's RFC 8693 ``act`` chain and ``chain_depth``.
- Response (§"Txn-Token Response"): ``token_type`` ``N_A``, ``issued_token_type`` txn_token, never
  a ``refresh_token``.
- Replacement (§"Txn-Token as a subject_token"): keeps ``txn``, ``sub``, ``aud`` and ``tctx``,
  never widens ``scope``, is refused for an expired token, and keeps the call chain of requesting
  workloads: ``req_wl`` becomes the comma-separated list of requesters, oldest first (the
  mechanism is left to the TTS; SPIFFE IDs cannot contain commas).
- Validation (§"Txn-Token Validation"): signature, ``aud`` = the receiver's trust domain, ``exp``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warden.tokens.errors import InvalidRequest, InvalidTarget, InvalidToken
from warden.tokens.models import TXN_TOKEN_TYPE, TokenRequest
from warden.tokens.rfc8693 import ExchangeRequest, chain_depth, granted_scope, narrow_scope

if TYPE_CHECKING:
    from warden.tokens.service import TokenContext

TXN_TOKEN_TYP = "txntoken+jwt"
MAX_CONTEXT_BYTES = 8192  # each of request_context / request_details
_REQUIRED_CLAIMS = ("iat", "aud", "exp", "txn", "sub", "scope", "req_wl")


@dataclass(frozen=True, slots=True)
class TxnRequest:
    """A Txn-Token Request: the token exchange parameters plus the draft's own."""

    exchange: ExchangeRequest
    audience: str
    scope: tuple[str, ...]
    request_context: Mapping[str, Any] | None = None
    request_details: Mapping[str, Any] | None = None

    @property
    def is_replacement(self) -> bool:
        return self.exchange.subject_token_type == TXN_TOKEN_TYPE

    @classmethod
    def parse(
        cls, request: TokenRequest, exchange: ExchangeRequest, *, trust_domain: str
    ) -> TxnRequest:
        """Check the draft's REQUIRED ``audience`` and ``scope`` and the two JSON objects."""
        _check_audience(exchange, trust_domain)
        if exchange.actor_token is not None:
            raise InvalidRequest("a transaction token request takes no `actor_token`")
        if not exchange.scope:
            raise InvalidRequest("`scope` is required: the purpose of the transaction")
        return cls(
            exchange=exchange,
            audience=trust_domain,
            scope=exchange.scope,
            request_context=_json_object(request.params, "request_context"),
            request_details=_json_object(request.params, "request_details"),
        )


def txn_claims(
    subject: Mapping[str, Any], request: TxnRequest, *, requester: str, txn: str
) -> dict[str, Any]:
    """Claims of a new Txn-Token for ``subject`` (its verified claims) requested by the
    workload ``requester``; ``txn`` is a fresh unique id. The minter adds iat and exp."""
    claims: dict[str, Any] = {
        "aud": request.audience,
        "txn": txn,
        "sub": _subject_of(subject),
        "scope": " ".join(narrow_scope(_known_scope(subject), request.scope)),
        "req_wl": requester,
    }
    if request.request_details is not None:
        claims["tctx"] = dict(request.request_details)
    if request.request_context is not None:
        claims["rctx"] = dict(request.request_context)
    return claims | _chain_of(subject)


def replacement_claims(
    presented: Mapping[str, Any], request: TxnRequest, *, requester: str, now: int
) -> dict[str, Any]:
    """Claims of a replacement for the Txn-Token ``presented`` (its verified claims)."""
    _check_replaceable(presented, request, now)
    claims: dict[str, Any] = {
        "aud": request.audience,
        "txn": presented["txn"],
        "sub": presented["sub"],
        "scope": " ".join(narrow_scope(_known_scope(presented), request.scope)),
        "req_wl": f"{presented['req_wl']},{requester}",
    }
    tctx = _unchanged_tctx(presented.get("tctx"), request.request_details)
    if tctx is not None:
        claims["tctx"] = tctx
    rctx = _extended_rctx(presented.get("rctx"), request.request_context)
    if rctx is not None:
        claims["rctx"] = rctx
    return claims | _chain_of(presented)


async def verify_txn_token(token: str, ctx: TokenContext, trust_domain: str) -> Mapping[str, Any]:
    """A receiving workload's checks: signature and ``typ`` by a Warden key, ``aud`` names
    ``trust_domain``, not expired, and every REQUIRED claim present. Raises ``InvalidToken``."""
    claims = await ctx.tokens.verify(token, typ=TXN_TOKEN_TYP)
    if not _names_trust_domain(claims.get("aud"), trust_domain):
        raise InvalidToken(f"transaction token is not for trust domain `{trust_domain}`")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= int(ctx.now.timestamp()):
        raise InvalidToken("transaction token has expired")
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidToken(f"transaction token lacks `{', '.join(missing)}`")
    return claims


# -- helpers -----------------------------------------------------------------------------


def _check_audience(exchange: ExchangeRequest, trust_domain: str) -> None:
    """§"Txn-Token Request": ``audience`` REQUIRED, "MUST be set to the Trust Domain name"."""
    if exchange.audiences != (trust_domain,) or exchange.resources:
        raise InvalidTarget(f"`audience` must be the trust domain `{trust_domain}` alone")


def _json_object(params: Mapping[str, str], name: str) -> Mapping[str, Any] | None:
    raw = params.get(name)
    if raw is None:
        return None
    if len(raw.encode()) > MAX_CONTEXT_BYTES:
        raise InvalidRequest(f"`{name}` is larger than {MAX_CONTEXT_BYTES} bytes")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest(f"`{name}` is not json") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"`{name}` must be a json object")
    return value


def _subject_of(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidRequest("subject token has no `sub`")
    return sub


def _known_scope(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """§"Unknown subject_token scope": MUST reject, MUST NOT treat as unconstrained."""
    scope = granted_scope(claims)
    if scope is None:
        raise InvalidRequest("the subject token's scope is unknown")
    return scope


def _chain_of(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The subject's delegation chain, carried so services see who acts (RFC 8693 §4.1)."""
    act = claims.get("act")
    return {"act": act, "chain_depth": chain_depth(claims)} if act is not None else {}


def _check_replaceable(presented: Mapping[str, Any], request: TxnRequest, now: int) -> None:
    """MUST NOT replace an expired token; ``aud`` and the required claims must be intact."""
    exp = presented.get("exp")
    if not isinstance(exp, int) or exp <= now:
        raise InvalidRequest("the transaction token to replace has expired")
    if not _names_trust_domain(presented.get("aud"), request.audience):
        raise InvalidRequest("the transaction token to replace is for another trust domain")
    if not all(isinstance(presented.get(c), str) for c in ("txn", "sub", "req_wl")):
        raise InvalidRequest("the transaction token to replace lacks `txn`, `sub` or `req_wl`")


def _unchanged_tctx(
    tctx: Mapping[str, Any] | None, details: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """``tctx`` is immutable across the call chain: new details may only repeat it."""
    if details is not None and dict(details) != (tctx or {}):
        raise InvalidRequest("`tctx` is immutable: request_details cannot change it")
    return tctx


def _extended_rctx(
    rctx: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """New ``rctx`` members may be added; asserted ones may not change."""
    if context is None:
        return rctx
    old = dict(rctx or {})
    changed = [k for k, v in context.items() if k in old and old[k] != v]
    if changed:
        raise InvalidRequest(f"`rctx` member `{changed[0]}` cannot change in a replacement")
    return {**context, **old}


def _names_trust_domain(aud: object, trust_domain: str) -> bool:
    return aud == trust_domain or aud == [trust_domain]
