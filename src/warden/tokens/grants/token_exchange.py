"""The RFC 8693 token exchange grant: delegation (``act`` chains) and Transaction Tokens.

``urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693 §2.1). The claims are decided by
the pure functions of ``rfc8693.py`` and ``txn_tokens.py``; this module verifies the presented
tokens, applies Warden's policy on who may exchange what, mints, and answers (§2.2.1).

Who may exchange:

- Delegation: the requesting client *is* the actor — the actor token's ``sub`` must be the
  client's agent, and that agent must be ``active``. Without an actor token only the subject
  token's own client may exchange it, and only to narrow it.
- Every registered agent named in the subject token (its ``sub`` and each actor in its chain)
  must still be ``active``: suspending an agent stops the chains it is part of.
- A sender-constrained subject token (``cnf.jkt``, RFC 9449 §6) is exchanged only with a DPoP
  proof by that key, or when its ``may_act`` names the actor (the delegator consented in
  advance); otherwise a stolen bound token could be laundered into one bound to another key.
  A sender-constrained actor token likewise needs a proof by its key.
- A token that fails verification, or is unacceptable by the rules above, is
  ``invalid_request`` (§2.2.2: it "MUST be used").

The delegated token never outlives the subject token. It records ``chain_depth`` so chains can
be audited. Transaction Tokens are minted with ``typ: txntoken+jwt``, are not DPoP-bound (they
travel in the ``Txn-Token`` header) and never come with a refresh token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from warden.errors import WardenError
from warden.tokens.errors import InvalidRequest, InvalidScope, InvalidToken, UnauthorizedClient
from warden.tokens.models import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    TXN_TOKEN_TYPE,
    Client,
    TokenRequest,
    TokenResponse,
)
from warden.tokens.rfc7523 import SvidVerifier
from warden.tokens.rfc8414 import TOKEN_PATH
from warden.tokens.rfc8693 import (
    SELF_SIGNED_TOKEN_TYPE,
    ExchangeRequest,
    actor_chain,
    bounded_ttl,
    current_actor,
    delegate,
    granted_scope,
)
from warden.tokens.service import PlannedDelegation, TokenContext
from warden.tokens.txn_tokens import TXN_TOKEN_TYP, TxnRequest, replacement_claims, txn_claims

_SKEW = 60  # seconds a self-signed subject token's `iat` may be ahead of our clock
_SELF_SIGNED_ALGS = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]  # asymmetric only


class TokenExchangeGrant:
    """Delegation by token exchange, and Transaction Token issuance and replacement."""

    grant_type = TOKEN_EXCHANGE_GRANT

    def __init__(self, svids: SvidVerifier | None = None) -> None:
        self._svids = svids

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        parsed = ExchangeRequest.parse(request)
        if parsed.wants_txn_token:
            txn = TxnRequest.parse(request, parsed, trust_domain=ctx.settings.trust_domain)
            return await self._issue_txn_token(txn, request.dpop_jkt, client, ctx)
        return await self._delegate(parsed, request, client, ctx)

    # -- delegation ----------------------------------------------------------------------

    async def _delegate(
        self, parsed: ExchangeRequest, request: TokenRequest, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        jkt = request.dpop_jkt
        # Both checks read the store: run them together, then report in request order.
        verified, actor = await asyncio.gather(
            _verified_subject(ctx, parsed.subject_token),
            self._actor(parsed, jkt, client, ctx),
            return_exceptions=True,
        )
        if isinstance(verified, BaseException):  # the subject's error first, as sent
            raise verified
        if isinstance(actor, BaseException):
            raise actor
        subject, grant_id = verified
        _check_holder(subject, actor, client, jkt)
        _check_chain_active(subject, ctx)
        delegated = delegate(
            subject,
            actor,
            _capped_to_client(parsed, subject, client),
            client_id=client.client_id,
            max_depth=ctx.settings.max_delegation_depth,
        )
        claims = {**delegated.to_claims(), "client_id": client.client_id}
        plan = await _plan_chain(subject, actor, request, ctx)
        if plan is not None:
            claims["wch"] = plan.hop_id  # the delegate's hop: its chain continues from here
        elif actor is None and "wch" in subject:
            claims["wch"] = subject["wch"]  # a narrowed token stays in its chain
        ttl = _ttl(subject, ctx, ctx.settings.access_token_ttl)
        if plan is not None:  # nor past the delegate's hop
            ttl = min(ttl, int(plan.expires_at.timestamp()) - int(ctx.now.timestamp()))
            if ttl <= 0:
                raise InvalidRequest("the delegator's hop of the chain has expired")
        token, minted = await ctx.tokens.mint(
            # Under the subject's grant: revoking that grant revokes every delegation of it.
            claims,
            kind="access",
            client=client,
            grant_id=grant_id,
            ttl=ttl,
            jkt=jkt,
        )
        details = claims.get("authorization_details")
        extra: dict[str, Any] = {} if details is None else {"authorization_details": details}
        if plan is not None:
            assert ctx.chains is not None
            extra.update(await ctx.chains.commit(plan, str(minted["jti"]), ctx.now))
        return TokenResponse(
            access_token=token,
            token_type="DPoP" if jkt else "Bearer",
            expires_in=ttl,
            scope=None if delegated.scope == parsed.scope else delegated.scope,
            issued_token_type=ACCESS_TOKEN_TYPE,
            extra=extra,
        )

    async def _actor(
        self, parsed: ExchangeRequest, jkt: str | None, client: Client, ctx: TokenContext
    ) -> Mapping[str, Any] | None:
        """The actor token's verified claims: the requesting client's own active agent."""
        if parsed.actor_token is None:
            return None
        actor = await self._verified_actor(parsed.actor_token, parsed.actor_token_type, ctx)
        sub = actor.get("sub")
        if sub is None or sub != client.agent_id:
            raise InvalidRequest("the actor token must be the requesting client's own agent")
        _check_bound(actor, jkt, "actor_token")
        status = ctx.agents.agent_status(sub)
        if status != "active":
            raise InvalidRequest(f"actor `{sub}` is {status or 'not registered'}, not active")
        return actor

    def _svid_claims(self, token: str, ctx: TokenContext) -> Mapping[str, Any]:
        """A JWT-SVID for Warden: its audience may be the issuer or the token endpoint, as
        for client assertions (RFC 7523 §3)."""
        assert self._svids is not None
        now = int(ctx.now.timestamp())
        audiences = (ctx.settings.issuer, ctx.settings.endpoint(TOKEN_PATH))
        problem = ""
        for audience in audiences:
            try:
                return self._svids.verify_jwt_svid(token, audience, now)
            except WardenError as exc:  # SvidError: why the SVID is not good
                problem = problem or exc.message
        raise InvalidRequest(f"actor_token is not a valid jwt-svid: {problem}")

    async def _verified_actor(
        self, token: str, kind: str | None, ctx: TokenContext
    ) -> Mapping[str, Any]:
        """A Warden access token, or (type ``jwt``) a JWT-SVID for Warden's issuer."""
        if kind == JWT_TOKEN_TYPE and self._svids is not None and _is_svid(token):
            return self._svid_claims(token, ctx)
        return await _verified(ctx, token, "at+jwt", "actor_token")

    # -- transaction tokens --------------------------------------------------------------

    async def _issue_txn_token(
        self, txn: TxnRequest, jkt: str | None, client: Client, ctx: TokenContext
    ) -> TokenResponse:
        requester = _requesting_workload(client, ctx)
        subject = await _txn_subject(txn.exchange, client, ctx)
        _check_bound(subject, jkt, "subject_token")
        _check_chain_active(subject, ctx)
        now = int(ctx.now.timestamp())
        if txn.is_replacement:
            claims = replacement_claims(subject, txn, requester=requester, now=now)
        else:
            claims = txn_claims(subject, txn, requester=requester, txn=uuid.uuid4().hex)
        ttl = _ttl(subject, ctx, ctx.settings.txn_token_ttl)
        token, _ = await ctx.tokens.mint(
            claims, kind="txn", client=client, grant_id=uuid.uuid4().hex, ttl=ttl, typ=TXN_TOKEN_TYP
        )
        return TokenResponse(
            access_token=token,
            token_type="N_A",
            expires_in=ttl,
            issued_token_type=TXN_TOKEN_TYPE,
        )


# -- checks ------------------------------------------------------------------------------


async def _plan_chain(
    subject: Mapping[str, Any],
    actor: Mapping[str, Any] | None,
    request: TokenRequest,
    ctx: TokenContext,
) -> PlannedDelegation | None:
    """The delegation chain this exchange extends (or starts, given a ``mandate``), checked
    before the delegate's token is minted; None for an exchange outside any chain."""
    if ctx.chains is None:
        return None
    wants_chain = "wch" in subject or request.params.get("mandate")
    if actor is None:
        if request.params.get("mandate"):
            raise InvalidRequest("a chain is started by delegating: `actor_token` is required")
        return None
    if not wants_chain:
        return None
    return await ctx.chains.plan(
        subject=subject,
        delegator=current_actor(subject) or str(subject.get("sub")),
        delegate=str(actor.get("sub")),
        params=request.params,
        now=ctx.now,
    )


def _capped_to_client(
    parsed: ExchangeRequest, subject: Mapping[str, Any], client: Client
) -> ExchangeRequest:
    """The delegate never gets more than its own client is registered for: a requested scope
    beyond it is ``invalid_scope``; with none requested, the subject's scope is intersected
    with it (on top of the subject-token narrowing of RFC 8693)."""
    if parsed.scope is not None:
        extra = [s for s in parsed.scope if s not in client.scope]
        if extra:
            raise InvalidScope(
                f"scope `{' '.join(extra)}` is beyond what client `{client.client_id}` "
                "is registered for"
            )
        return parsed
    allowed = tuple(s for s in granted_scope(subject) or () if s in client.scope)
    return dataclasses.replace(parsed, scope=allowed)


async def _verified_subject(ctx: TokenContext, token: str) -> tuple[Mapping[str, Any], str]:
    """The subject token's claims and grant (§2.2.2: invalid → ``invalid_request``)."""
    try:
        return await ctx.tokens.verify_in_grant(token, typ="at+jwt")
    except InvalidToken as exc:
        raise InvalidRequest(f"subject_token is not valid: {exc.message}") from None


async def _verified(ctx: TokenContext, token: str, typ: str, name: str) -> Mapping[str, Any]:
    """§2.2.2: an invalid subject or actor token is ``invalid_request`` at the token endpoint."""
    try:
        return await ctx.tokens.verify(token, typ=typ)
    except InvalidToken as exc:
        raise InvalidRequest(f"{name} is not valid: {exc.message}") from None


def _check_bound(claims: Mapping[str, Any], jkt: str | None, name: str) -> None:
    """A sender-constrained token is usable only with a DPoP proof by its key (RFC 9449)."""
    cnf = claims.get("cnf")
    bound = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if bound is not None and bound != jkt:
        raise InvalidRequest(f"{name} is bound to a dpop key this request did not prove")


def _check_holder(
    subject: Mapping[str, Any], actor: Mapping[str, Any] | None, client: Client, jkt: str | None
) -> None:
    if actor is None and subject.get("client_id") != client.client_id:
        raise InvalidRequest("an actor_token is required to act for another client's subject")
    if actor is None or "may_act" not in subject:
        _check_bound(subject, jkt, "subject_token")


def _check_chain_active(subject: Mapping[str, Any], ctx: TokenContext) -> None:
    """Every registered agent in the subject token must still be active."""
    for party in (str(subject.get("sub")), *actor_chain(subject)):
        status = ctx.agents.agent_status(party)
        if status is not None and status != "active":
            raise InvalidRequest(f"agent `{party}` in the subject token is {status}")


def _requesting_workload(client: Client, ctx: TokenContext) -> str:
    """``req_wl``: the client's agent (which must be active), else the client itself."""
    if client.agent_id is None:
        return client.client_id
    status = ctx.agents.agent_status(client.agent_id)
    if status != "active":
        raise UnauthorizedClient(f"agent `{client.agent_id}` is {status or 'unknown'}")
    return client.agent_id


def _ttl(subject: Mapping[str, Any], ctx: TokenContext, ttl: int) -> int:
    remaining = bounded_ttl(subject, now=int(ctx.now.timestamp()), ttl=ttl)
    if remaining <= 0:
        raise InvalidRequest("subject_token has expired")
    return remaining


def _is_svid(token: str) -> bool:
    """A JWT-SVID's header ``typ`` is absent, ``JWT`` or ``JOSE``; Warden's are ``at+jwt``."""
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError):
        return False
    return header.get("typ") in (None, "JWT", "JOSE")


# -- transaction token subjects ----------------------------------------------------------


async def _txn_subject(
    exchange: ExchangeRequest, client: Client, ctx: TokenContext
) -> Mapping[str, Any]:
    """The verified claims the Txn-Token is about, by ``subject_token_type``."""
    kind, token = exchange.subject_token_type, exchange.subject_token
    if kind == TXN_TOKEN_TYPE:
        return await _verified(ctx, token, TXN_TOKEN_TYP, "subject_token")
    if kind == SELF_SIGNED_TOKEN_TYPE:
        return _self_signed_subject(token, client, ctx)
    return await _verified(ctx, token, "at+jwt", "subject_token")


def _self_signed_subject(token: str, client: Client, ctx: TokenContext) -> Mapping[str, Any]:
    """Txn-Tokens draft §"Self-Signed Subject Token Type": signed by the requesting client's
    registered key, ``iss`` the client, ``aud`` Warden, ``iat`` and ``exp`` present and valid.
    Its scope comes from a trusted source — the client's registered scope — never the JWT."""
    if not client.jwks:
        raise InvalidRequest("a self-signed subject_token needs a client with registered keys")
    try:
        keys = KeySet.import_key_set(dict(client.jwks))  # type: ignore[arg-type]
        decoded = jwt.decode(token, keys, _SELF_SIGNED_ALGS)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"self-signed subject_token is not valid: {exc}") from None
    claims = decoded.claims
    _check_self_signed_claims(claims, client, ctx)
    return {"sub": claims["sub"], "exp": claims["exp"], "scope": " ".join(client.scope)}


def _check_self_signed_claims(claims: Mapping[str, Any], client: Client, ctx: TokenContext) -> None:
    now = int(ctx.now.timestamp())
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    exp, iat = claims.get("exp"), claims.get("iat")
    if claims.get("iss") not in (client.client_id, client.agent_id):
        raise InvalidRequest("self-signed subject_token `iss` is not the requesting client")
    if ctx.settings.issuer not in audiences:
        raise InvalidRequest("self-signed subject_token `aud` is not this service")
    if not isinstance(claims.get("sub"), str) or not isinstance(iat, int):
        raise InvalidRequest("self-signed subject_token needs `sub` and `iat`")
    if not isinstance(exp, int) or exp <= now or iat > now + _SKEW:
        raise InvalidRequest("self-signed subject_token is expired or not yet valid")
