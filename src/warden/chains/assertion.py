"""The chain assertion: a compact JWS, signed by Warden with the authorization server's keys,
that carries every hop from the person down to the presenting delegate.

Header ``typ: wch+jwt``. Claims: ``iss``, ``aud`` (the trust domain), ``iat``, ``exp``
(never past the delegate's mandate or token), ``jti`` (the delegate's hop id), ``sub`` (the
delegate), ``chain`` (the tree's id) and ``hops`` — each hop's :meth:`Hop.body`, hop 0 first.
Warden re-signs the whole list at every delegation, so a hop can be neither dropped, altered
nor re-ordered without breaking the signature; each hop also carries its digest (a hash chain
over its parent's), which enforcement compares with the hop Warden recorded.

Enforcement points send it in the ``Warden-Chain`` header; AuthZEN requests in
``context.chain``. The task text is not in the assertion (it may name people); the recorded
hop has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from warden.chains.errors import InvalidChain
from warden.chains.models import Hop, VerifiedChain, hop_digest
from warden.tokens import rfc9068
from warden.tokens.errors import InvalidToken

if TYPE_CHECKING:
    from warden.tokens.keys import KeyRing

TYP = "wch+jwt"
HEADER = "warden-chain"  # enforcement points' header; the AuthZEN API maps it to context.chain


def sign(hops: Sequence[Hop], *, issuer: str, audience: str, expires_at: int, keys: KeyRing) -> str:
    leaf = hops[-1]
    claims = {
        "iss": issuer,
        "aud": audience,
        "iat": int(leaf.created_at.timestamp()),
        "exp": expires_at,
        "jti": leaf.id,
        "sub": leaf.to_agent,
        "chain": leaf.chain_id,
        "hops": [{**h.body(), "digest": h.digest} for h in hops],
    }
    return rfc9068.sign(TYP, claims, keys)


def verify(
    token: str, *, issuer: str, audience: str, keys: KeyRing, now: datetime
) -> VerifiedChain:
    """The hops of a chain assertion whose signature, issuer, audience and expiry hold, and
    whose hops link up: hop 0 from the person, each next one from the previous delegate, its
    digest chained on its parent's. :class:`InvalidChain` otherwise."""
    if not isinstance(token, str) or not token:
        raise InvalidChain("the chain is not a token", code="chain.malformed")
    try:
        header = rfc9068.read_header(token)
    except InvalidToken:
        raise InvalidChain("the chain is not a signed token", code="chain.malformed") from None
    if str(header.get("typ", "")).lower() != TYP:
        raise InvalidChain(
            f"the chain has typ `{header.get('typ')}`, not `{TYP}`", code="chain.malformed"
        )
    try:
        claims = rfc9068.verify_signature(token, keys, typs=(TYP,), now=now)
    except InvalidToken as exc:
        raise InvalidChain(
            f"the chain's signature does not verify: {exc.message}", code="chain.forged"
        ) from None
    if claims.get("iss") != issuer:
        raise InvalidChain("the chain was signed by someone else", code="chain.forged")
    if audience not in rfc9068.audiences(claims):
        raise InvalidChain(f"the chain is not for `{audience}`", code="chain.forged")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= int(now.timestamp()):
        raise InvalidChain("the chain assertion has expired", code="chain.expired")
    hops = _hops(claims.get("hops"))
    _check_links(hops, claims)
    return VerifiedChain(hops=hops, expires_at=exp, token=token)


def _hops(raw: object) -> tuple[Hop, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidChain("the chain carries no hops", code="chain.malformed")
    try:
        return tuple(_hop(item) for item in raw)
    except (KeyError, TypeError, ValueError):
        raise InvalidChain("a hop of the chain is malformed", code="chain.malformed") from None


def _hop(item: Mapping[str, Any]) -> Hop:
    tools = item["tools"]
    return Hop(
        id=str(item["id"]),
        chain_id=str(item["chain"]),
        parent_id=item["parent"],
        depth=int(item["depth"]),
        person=str(item["person"]),
        from_party=str(item["from"]),
        to_agent=str(item["to"]),
        mandate_id=str(item["mandate"]),
        root_mandate_id=str(item["root"]),
        exchange_jti=item["jti"],
        task="",
        tools=tuple(str(t) for t in tools) if tools is not None else None,
        limits={
            str(t): {str(a): float(v) for a, v in args.items()}
            for t, args in item["limits"].items()
        },
        digest=str(item["digest"]),
        created_at=datetime.fromtimestamp(int(item["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(item["exp"]), UTC),
    )


def _check_links(hops: Sequence[Hop], claims: Mapping[str, Any]) -> None:
    """Hop 0 comes from the person; every later hop from the delegate of the one before it,
    one level deeper, under the same chain, person and root mandate; digests chain up."""
    previous: Hop | None = None
    for index, hop in enumerate(hops):
        if previous is None:
            linked = hop.parent_id is None and hop.from_party == hop.person
        else:
            linked = (
                hop.parent_id == previous.id
                and hop.from_party == previous.to_agent
                and hop.chain_id == previous.chain_id
                and hop.person == previous.person
                and hop.root_mandate_id == previous.root_mandate_id
            )
        if not linked or hop.depth != index:
            raise InvalidChain(
                f"hop {index} of the chain does not follow from the hop before it",
                code="chain.broken",
            )
        parent_digest = previous.digest if previous else None
        if hop_digest(parent_digest, hop.body()) != hop.digest:
            raise InvalidChain(f"hop {index} of the chain was altered", code="chain.broken")
        previous = hop
    leaf = hops[-1]
    if claims.get("jti") != leaf.id or claims.get("sub") != leaf.to_agent:
        raise InvalidChain("the chain's last hop is not its subject", code="chain.broken")
