"""RFC 8693 OAuth 2.0 Token Exchange: the request (§2.1) and delegation (§4.1 ``act``, §4.4
``may_act``), as pure functions of the presented tokens' verified claims.

A delegated token keeps the subject's ``sub`` and records who acts for it in ``act``:
the outermost ``act`` is the current actor, prior actors are nested inside it, the least
recent deepest (§4.1). ``exp``, ``nbf`` and ``aud`` never appear inside ``act`` (§4.1: they
SHOULD NOT). Each exchange may only narrow what the subject token allowed: scope (else
``invalid_scope``), audience and resource (else ``invalid_target``, §2.2.2) and RFC 9396
``authorization_details`` (else ``invalid_authorization_details``).

RFC 8693 §4.1: "the consumer of a token MUST only consider the token's top-level claims and
the party identified as the current actor by the ``act`` claim. Prior actors identified by
any nested ``act`` claims are informational only and are not to be considered in access
control decisions." :func:`current_actor` is what decisions may use; :func:`actor_chain`
is for audit only.

Errors: a refused subject or actor token is ``invalid_request`` — §2.2.2 says it "MUST be
used" when either token is "invalid for any reason, or [is] unacceptable based on policy".
That covers a ``may_act`` mismatch (§4.4 leaves the error to the AS), a delegation cycle and
a chain deeper than the configured maximum. ``unauthorized_client`` is not used: it means
the client may not use the grant type at all (RFC 6749 §5.2), which is not the case here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from warden.tokens.errors import (
    InvalidAuthorizationDetails,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
)
from warden.tokens.models import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TXN_TOKEN_TYPE,
    TokenRequest,
)

# Transaction Tokens draft §"Subject Token Types" (oauth-transaction-tokens@dbdf43e).
SELF_SIGNED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:self_signed"
UNSIGNED_JSON_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:unsigned_json"

# What Warden accepts: its own JWTs (access and transaction tokens) as subjects; a Warden
# access token or a JWT-SVID (``jwt``) as the actor. Refresh tokens are never exchanged
# (they are bound to their grant's rotation; the Txn-Token draft forbids them outright).
SUBJECT_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TXN_TOKEN_TYPE})
ACTOR_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE})
ISSUED_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, TXN_TOKEN_TYPE})
_NEVER_IN_ACT = ("exp", "nbf", "aud")  # §4.1


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """The token exchange parameters of RFC 8693 §2.1, checked for shape."""

    subject_token: str
    subject_token_type: str
    actor_token: str | None = None
    actor_token_type: str | None = None
    requested_token_type: str = ACCESS_TOKEN_TYPE
    resources: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    scope: tuple[str, ...] | None = None
    authorization_details: tuple[Mapping[str, Any], ...] | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """Every requested audience: ``resource`` URIs and ``audience`` names together."""
        return self.resources + self.audiences

    @property
    def wants_txn_token(self) -> bool:
        return self.requested_token_type == TXN_TOKEN_TYPE

    @classmethod
    def parse(cls, request: TokenRequest) -> ExchangeRequest:
        """Check the §2.1 parameters; ``invalid_request`` for a missing or unsupported one."""
        params = request.params
        actor_token, actor_type = _actor_parameters(params)
        for resource in request.resources:
            _check_resource(resource)
        subject_type = _subject_type(_required(params, "subject_token_type"))
        requested_type = _requested_type(params.get("requested_token_type"))
        _check_conversion(subject_type, requested_type)
        return cls(
            subject_token=_required(params, "subject_token"),
            subject_token_type=subject_type,
            actor_token=actor_token,
            actor_token_type=actor_type,
            requested_token_type=requested_type,
            resources=request.resources,
            audiences=request.audiences,
            scope=request.scope(),
            authorization_details=parse_authorization_details(params.get("authorization_details")),
        )


@dataclass(frozen=True, slots=True)
class DelegatedClaims:
    """The claims a token exchange decides for the new token (the minter adds iss, iat,
    exp, jti and cnf). ``chain_depth`` is the number of nested ``act`` claims."""

    sub: str
    scope: tuple[str, ...]
    aud: tuple[str, ...]
    act: Mapping[str, Any] | None
    chain_depth: int
    authorization_details: tuple[Mapping[str, Any], ...] | None = None

    def to_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.sub, "scope": " ".join(self.scope)}
        if self.aud:
            claims["aud"] = self.aud[0] if len(self.aud) == 1 else list(self.aud)
        if self.act is not None:
            claims["act"] = dict(self.act)
        claims["chain_depth"] = self.chain_depth
        if self.authorization_details is not None:
            claims["authorization_details"] = [dict(d) for d in self.authorization_details]
        return claims


def delegate(
    subject: Mapping[str, Any],
    actor: Mapping[str, Any] | None,
    request: ExchangeRequest,
    *,
    client_id: str,
    max_depth: int,
) -> DelegatedClaims:
    """The claims of the token ``actor`` gets to act for ``subject`` (both verified claims).

    Without an actor the token is only narrowed: same ``sub``, same chain.
    """
    sub = _subject_of(subject)
    prior = _act_of(subject)
    depth = chain_depth(subject)
    if actor is not None:
        _check_may_act(subject, actor, client_id)
        prior = _extend_chain(sub, prior, _actor_of(actor), depth, max_depth)
        depth += 1
    return DelegatedClaims(
        sub=sub,
        scope=narrow_scope(granted_scope(subject), request.scope),
        aud=narrow_audience(_audiences_of(subject), request.targets),
        act=prior,
        chain_depth=depth,
        authorization_details=narrow_authorization_details(
            _details_of(subject), request.authorization_details
        ),
    )


def bounded_ttl(subject: Mapping[str, Any], *, now: int, ttl: int) -> int:
    """Seconds a token exchanged from ``subject`` lives: ``ttl``, but never past the subject
    token's ``exp`` (so a chain of exchanges cannot outlive the delegator's grant)."""
    exp = subject.get("exp")
    return min(ttl, exp - now) if isinstance(exp, int) else ttl


def current_actor(claims: Mapping[str, Any]) -> str | None:
    """The party acting now (the outermost ``act.sub``) — the only actor a decision may use."""
    act = claims.get("act")
    return act.get("sub") if isinstance(act, Mapping) else None


def actor_chain(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Every actor, current first, least recent last (informational: for audit only)."""
    chain: list[str] = []
    act = claims.get("act")
    while isinstance(act, Mapping):
        chain.append(str(act.get("sub")))
        act = act.get("act")
    return tuple(chain)


def chain_depth(claims: Mapping[str, Any]) -> int:
    """How many actors are nested in ``claims`` (0 for a token nobody acts on)."""
    return len(actor_chain(claims))


def granted_scope(claims: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The token's scope, split; None when it carries none (never read as unconstrained)."""
    raw = claims.get("scope")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidRequest("subject token `scope` is not a string")
    return tuple(s for s in raw.split(" ") if s)


def narrow_scope(
    granted: tuple[str, ...] | None, requested: tuple[str, ...] | None
) -> tuple[str, ...]:
    """``requested`` if it is within ``granted``, else ``invalid_scope``; default ``granted``."""
    allowed = granted or ()
    if requested is None:
        return allowed
    wider = [s for s in requested if s not in allowed]
    if wider:
        raise InvalidScope(f"scope `{' '.join(wider)}` exceeds the subject token's scope")
    return tuple(dict.fromkeys(requested))


def narrow_audience(granted: tuple[str, ...], requested: tuple[str, ...]) -> tuple[str, ...]:
    """``requested`` if the subject token was valid for each, else ``invalid_target``."""
    if not requested:
        return granted
    for target in requested:
        if target not in granted:
            raise InvalidTarget(f"`{target}` is not an audience of the subject token")
    return tuple(dict.fromkeys(requested))


def narrow_authorization_details(
    granted: tuple[Mapping[str, Any], ...] | None,
    requested: tuple[Mapping[str, Any], ...] | None,
) -> tuple[Mapping[str, Any], ...] | None:
    """RFC 9396 details: each requested one must be covered by a granted one."""
    if requested is None:
        return granted
    for detail in requested:
        if not any(_covers(g, detail) for g in granted or ()):
            kind = detail.get("type")
            raise InvalidAuthorizationDetails(
                f"authorization_details of type `{kind}` exceed the subject token's"
            )
    return requested


def parse_authorization_details(raw: str | None) -> tuple[Mapping[str, Any], ...] | None:
    """RFC 9396 §2: a JSON array of objects, each with a string ``type``."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidAuthorizationDetails("authorization_details is not json") from None
    return _details_list(value, "authorization_details")


# -- request parsing ---------------------------------------------------------------------


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise InvalidRequest(f"`{name}` is required")
    return value


def _subject_type(value: str) -> str:
    if value == REFRESH_TOKEN_TYPE:
        raise InvalidRequest("a refresh token cannot be exchanged")
    if value not in SUBJECT_TOKEN_TYPES | {SELF_SIGNED_TOKEN_TYPE}:
        raise InvalidRequest(f"subject_token_type `{value}` is not supported")
    return value


def _actor_parameters(params: Mapping[str, str]) -> tuple[str | None, str | None]:
    """§2.1: ``actor_token_type`` is REQUIRED when ``actor_token`` is present, else absent."""
    token, kind = params.get("actor_token"), params.get("actor_token_type")
    if token is None and kind is None:
        return None, None
    if not token or not kind:
        raise InvalidRequest("`actor_token` and `actor_token_type` go together")
    if kind not in ACTOR_TOKEN_TYPES:
        raise InvalidRequest(f"actor_token_type `{kind}` is not supported")
    return token, kind


def _requested_type(value: str | None) -> str:
    if value is None:
        return ACCESS_TOKEN_TYPE
    if value not in ISSUED_TOKEN_TYPES:
        raise InvalidRequest(f"requested_token_type `{value}` cannot be issued")
    return value


def _check_conversion(subject_type: str, requested_type: str) -> None:
    """Transaction tokens and self-signed subjects only ever yield transaction tokens: an
    access token minted from one would outlive and escape its transaction."""
    only_txn = (TXN_TOKEN_TYPE, SELF_SIGNED_TOKEN_TYPE)
    if subject_type in only_txn and requested_type != TXN_TOKEN_TYPE:
        raise InvalidRequest(f"a `{subject_type}` subject only yields transaction tokens")


def _check_resource(resource: str) -> None:
    """RFC 8707 §2: an absolute URI without a fragment, else ``invalid_target``."""
    parts = urlsplit(resource)
    if not parts.scheme or not (parts.netloc or parts.path) or "#" in resource:
        raise InvalidTarget(f"resource `{resource}` is not an absolute uri")


def _details_list(value: object, where: str) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        raise InvalidAuthorizationDetails(f"{where} must be a json array")
    for detail in value:
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
            raise InvalidAuthorizationDetails(f"each of {where} needs a string `type`")
    return tuple(value)


# -- claims of the presented tokens ------------------------------------------------------


def _subject_of(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidRequest("subject token has no `sub`")
    return sub


def _actor_of(claims: Mapping[str, Any]) -> str:
    """The actor's own identity; a delegated token cannot stand for its holder."""
    if "act" in claims:
        raise InvalidRequest("actor token must be the actor's own, not a delegated token")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidRequest("actor token has no `sub`")
    return sub


def _act_of(claims: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The subject's ``act`` chain, checked and without ``exp``/``nbf``/``aud`` (§4.1)."""
    act = claims.get("act")
    if act is None:
        return None
    if not isinstance(act, Mapping) or not isinstance(act.get("sub"), str):
        raise InvalidRequest("subject token has a malformed `act` claim")
    cleaned = {k: v for k, v in act.items() if k not in _NEVER_IN_ACT and k != "act"}
    inner = _act_of(act)
    return cleaned if inner is None else {**cleaned, "act": inner}


def _extend_chain(
    sub: str, prior: Mapping[str, Any] | None, actor: str, depth: int, max_depth: int
) -> dict[str, Any]:
    """§4.1: the new actor goes outermost, the subject's chain nests inside it."""
    if depth + 1 > max_depth:
        raise InvalidRequest(f"delegation chain deeper than {max_depth}")
    chain = {"act": prior} if prior is not None else {}
    if actor == sub or actor in actor_chain(chain):
        raise InvalidRequest(f"delegation cycle: `{actor}` is already in the chain")
    return {"sub": actor, **chain}


def _check_may_act(subject: Mapping[str, Any], actor: Mapping[str, Any], client_id: str) -> None:
    """§4.4: when the subject token names who may act for it, the actor must match every
    member (``client_id`` against the requesting client, the rest against the actor)."""
    may_act = subject.get("may_act")
    if may_act is None:
        return
    if not isinstance(may_act, Mapping) or not may_act:
        raise InvalidRequest("subject token has a malformed `may_act` claim")
    for name, wanted in may_act.items():
        found = client_id if name == "client_id" else actor.get(name)
        if found != wanted:
            raise InvalidRequest(f"the subject token does not allow this actor (`{name}`)")


def _audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if aud is None:
        return ()
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise InvalidRequest("subject token has a malformed `aud` claim")


def _details_of(claims: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...] | None:
    details = claims.get("authorization_details")
    return None if details is None else _details_list(details, "the subject token's details")


def _covers(granted: object, requested: object) -> bool:
    """True when ``requested`` asks for nothing beyond ``granted``: objects member by member
    (no member the grant lacks), arrays as subsets, everything else equal."""
    if isinstance(granted, Mapping) and isinstance(requested, Mapping):
        return all(k in granted and _covers(granted[k], v) for k, v in requested.items())
    if isinstance(granted, list) and isinstance(requested, list):
        return all(any(_covers(g, r) for g in granted) for r in requested)
    return _same(granted, requested)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b
