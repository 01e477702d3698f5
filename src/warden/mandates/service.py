"""Issuing mandates, verifying them on the decision path, and the mandate analyser.

A mandate is a person's request, matched to a purpose profile and signed by Warden as a
Transaction Token (``typ: txntoken+jwt``, draft-ietf-oauth-transaction-tokens): ``txn`` is the
mandate id, ``sub`` the person, ``scope`` ``mandate:<profile>``, ``tctx`` (immutable) the
purpose, the person's designated values and RFC 9396 ``authorization_details``, ``rctx`` who
asked. Enforcement points carry it in the ``Txn-Token`` header; AuthZEN requests in
``context.mandate``.

On the decision path nothing touches the database: mandates live in memory (loaded at start,
added on issue), a verified token is cached by its digest until it expires, budgets are
summed in memory and written through when an allowed action spends them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

from warden.mandates.errors import (
    InvalidMandate,
    MandateNotFound,
    ProvenanceUnavailable,
    UnknownProfile,
)
from warden.mandates.models import (
    BudgetCharge,
    DesignatedValue,
    Mandate,
    Match,
    Provenance,
    Violation,
)
from warden.mandates.specs import MandateSpec
from warden.mandates.store import SqlMandateStore
from warden.tokens import rfc9068
from warden.tokens.errors import InvalidToken

if TYPE_CHECKING:
    from warden.tokens.keys import KeyRing

TXN_TYP = "txntoken+jwt"
_CACHE = 4096


class Judgement(Protocol):
    @property
    def violations(self) -> tuple[Violation, ...]: ...
    @property
    def charges(self) -> tuple[BudgetCharge, ...]: ...
    @property
    def step_up(self) -> tuple[Violation, ...]: ...


class Profile(Protocol):
    """A purpose profile, as the analyser uses it (``warden.mandates.profiles``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def max_chain_depth(self) -> int | None: ...
    @property
    def max_fan_out(self) -> int | None: ...
    @property
    def tool_patterns(self) -> tuple[str, ...]: ...
    @property
    def approvals_required(self) -> int: ...
    @property
    def separation_of_duties(self) -> bool: ...

    def in_scope(self, tool: str) -> bool: ...

    def judge(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        provenance: Mapping[str, Provenance],
        spent: Mapping[str, float],
        chain_depth: int,
        read_only: bool,
        external: bool,
        labels_in: frozenset[str],
    ) -> Judgement: ...


class Matcher(Protocol):
    """Intent matching (``warden.mandates.intent``)."""

    def match(self, request: str) -> Match: ...

    def relevance(self, request: str, tool: str, description: str = "") -> float: ...


class Provenances(Protocol):
    """Where argument values came from (``warden.mandates.provenance``)."""

    def trace(self, mandate: Mandate, arguments: Mapping[str, Any]) -> dict[str, Provenance]: ...

    def labels_in(self, mandate_id: str, arguments: Mapping[str, Any]) -> frozenset[str]: ...

    def assess(
        self, mandate: Mandate, arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Provenance], frozenset[str]]: ...

    def observe(
        self,
        mandate_id: str,
        tool: str,
        result: Any,
        *,
        tool_labels: frozenset[str],
        now: datetime,
        agent: str | None = None,
    ) -> Any: ...

    async def ensure(self, mandate_id: str) -> None: ...


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


Extractor = Any  # (text, now) -> tuple[DesignatedValue, ...]


@dataclass(frozen=True, slots=True)
class IssuedMandate:
    mandate: Mandate
    token: str

    def to_dict(self) -> dict[str, Any]:
        return {"mandate": mandate_dict(self.mandate), "token": self.token}


def mandate_dict(m: Mandate) -> dict[str, Any]:
    return {
        "id": m.id,
        "person": m.person,
        "request": m.request,
        "profile": m.profile,
        "profile_version": m.profile_version,
        "confidence": round(m.confidence, 4),
        "matched": m.matched,
        "authorization_details": list(m.authorization_details),
        "designated": [d.to_dict() for d in m.designated],
        "issued_by": m.issued_by,
        "issued_at": m.issued_at.isoformat(),
        "expires_at": m.expires_at.isoformat(),
        "revoked_at": m.revoked_at.isoformat() if m.revoked_at else None,
        "agent": m.extra.get("agent"),
        "chain": {k: m.extra[k] for k in ("root", "parent", "chain", "hop") if k in m.extra}
        or None,
    }


@dataclass
class _Parts:
    """What the service judges with; swapped whole when profiles change."""

    profiles: dict[str, Profile] = field(default_factory=dict)  # latest version by name
    versions: dict[tuple[str, int], Profile] = field(default_factory=dict)
    matcher: Matcher | None = None


class MandateService:
    def __init__(
        self,
        engine: Any,
        audit: AuditSink,
        *,
        issuer: str,
        trust_domain: str,
        extract: Extractor | None = None,
        provenance: Provenances | None = None,
    ) -> None:
        self._store = SqlMandateStore(engine)
        self._audit = audit
        self._keys: KeyRing | None = None  # the authorization server's, once it is open
        self._issuer = issuer
        self.audience = trust_domain
        self._extract = extract
        self.provenance = provenance
        self._parts = _Parts()
        self._mandates: dict[str, Mandate] = {}
        self._verified: OrderedDict[str, tuple[Mandate, int]] = OrderedDict()
        self._spent: dict[str, dict[str, Decimal]] = {}
        self._budget_lock = asyncio.Lock()
        # The registry's labels for a tool (set by the runtime); observations add detected ones.
        self.tool_labels: Callable[[str], frozenset[str]] = lambda tool: frozenset()
        # Told of every observation (the runtime hands its labels to the agent's session).
        self.on_observed: Callable[[str, str, frozenset[str], bool, datetime], object] | None = None

    # -- set-up --------------------------------------------------------------------------

    def use_keys(self, keys: KeyRing) -> None:
        """Sign and verify with the authorization server's key ring."""
        self._keys = keys

    def _ring(self) -> KeyRing:
        if self._keys is None:  # fail closed: nothing verifies before the keys are loaded
            raise InvalidMandate(
                "warden's signing keys are not loaded", code="mandate.unverifiable"
            )
        return self._keys

    async def load(self, now: datetime) -> None:
        """Every live mandate and its budgets, into memory (at start)."""
        live = await self._store.live(now)
        self._mandates = {m.id: m for m in live}
        self._spent = await self._store.spent(list(self._mandates))

    def use_profiles(self, profiles: Sequence[Profile], matcher: Matcher | None) -> None:
        """The active purpose profiles (and every version a live mandate pins) and the
        matcher fitted to them."""
        parts = _Parts(matcher=matcher)
        for profile in profiles:
            parts.versions[(profile.name, profile.version)] = profile
            latest = parts.profiles.get(profile.name)
            if latest is None or profile.version > latest.version:
                parts.profiles[profile.name] = profile
        self._parts = parts

    def profile_of(self, mandate: Mandate) -> Profile | None:
        if mandate.profile is None:
            return None
        parts = self._parts
        if mandate.profile_version is not None:
            pinned = parts.versions.get((mandate.profile, mandate.profile_version))
            if pinned is not None:
                return pinned
        return parts.profiles.get(mandate.profile)

    @property
    def matcher(self) -> Matcher | None:
        return self._parts.matcher

    # -- issuing -------------------------------------------------------------------------

    async def issue(self, spec: MandateSpec, *, caller: str, now: datetime) -> IssuedMandate:
        """Match, sign and record a mandate for ``spec.person``."""
        parts = self._parts
        if spec.profile is not None:
            profile = parts.profiles.get(spec.profile)
            if profile is None:
                raise UnknownProfile(f"no purpose profile `{spec.profile}`")
            match = Match(spec.profile, 1.0, ((spec.profile, 1.0),))
        elif parts.matcher is not None:
            match = parts.matcher.match(spec.request)
        else:
            match = Match(None, 0.0)
        profile = parts.profiles.get(match.profile) if match.profile else None
        designated = tuple(self._extract(spec.request, now)) if self._extract else ()
        designated += _designated_from_details(spec.authorization_details, self._extract, now)
        mandate = Mandate(
            id=secrets.token_hex(16),
            person=spec.person,
            request=spec.request,
            profile=profile.name if profile else None,
            profile_version=profile.version if profile else None,
            confidence=match.confidence,
            authorization_details=tuple(spec.authorization_details),
            designated=designated,
            issued_by=caller,
            issued_at=now,
            expires_at=now + timedelta(seconds=spec.expires_in),
            audience=self.audience,
            extra={"agent": spec.agent} if spec.agent else {},
        )
        token = self._sign(mandate, caller)
        await self._store.insert(mandate)
        self._mandates[mandate.id] = mandate
        await self._audit.record(
            "mandate:issued",
            {
                "actor": caller,
                "mandate_id": mandate.id,
                "person": mandate.person,
                "profile": mandate.profile,
                "confidence": round(mandate.confidence, 4),
                "expires_at": mandate.expires_at.isoformat(),
                "agent": spec.agent,
                # The request text may hold personal data: only its digest is kept.
                "request_digest": hashlib.sha256(spec.request.encode()).hexdigest(),
            },
        )
        return IssuedMandate(mandate, token)

    async def issue_child(
        self,
        parent: Mandate,
        *,
        agent: str,
        delegator: str,
        task: str,
        chain: Mapping[str, str],
        expires_at: datetime,
        now: datetime,
    ) -> IssuedMandate:
        """A delegate's mandate under ``parent``: the same person, purpose (pinned profile
        version), words and designated values as the root — so provenance still asks "did the
        *person* name this value?", never the delegator — bound to ``agent``, never outliving
        ``parent``. ``task`` is the delegator's description of the sub-task; ``chain`` names
        the chain, hop and root (kept in ``extra`` and in the token's ``tctx``)."""
        root = parent.extra.get("root") or parent.id
        mandate = dataclasses.replace(
            parent,
            id=secrets.token_hex(16),
            issued_by=delegator,
            issued_at=now,
            expires_at=min(expires_at, parent.expires_at),
            revoked_at=None,
            extra={**chain, "root": root, "parent": parent.id, "agent": agent, "task": task},
        )
        token = self._sign(mandate, delegator)
        await self._store.insert(mandate)
        self._mandates[mandate.id] = mandate
        return IssuedMandate(mandate, token)

    def _sign(self, mandate: Mandate, caller: str) -> str:
        iat = int(mandate.issued_at.timestamp())
        claims = {
            "iss": self._issuer,
            "aud": self.audience,
            "iat": iat,
            "exp": int(mandate.expires_at.timestamp()),
            "txn": mandate.id,
            "sub": mandate.person,
            "scope": f"mandate:{mandate.profile or 'unmatched'}",
            "req_wl": caller,
            "tctx": {
                "purpose": mandate.profile,
                "purpose_version": mandate.profile_version,
                "confidence": round(mandate.confidence, 4),
                "designated": [d.to_dict() for d in mandate.designated],
                "authorization_details": list(mandate.authorization_details),
            },
            "rctx": {"requested_by": caller},
        }
        if mandate.extra.get("agent"):  # the only agent that may present it
            claims["tctx"] = {
                **cast("dict[str, Any]", claims["tctx"]),
                "agent": mandate.extra["agent"],
            }
        if mandate.extra.get("root"):  # a delegate's mandate: where it sits in its chain
            chain = {k: mandate.extra[k] for k in ("root", "parent", "chain", "hop", "agent")}
            claims["tctx"] = {**cast("dict[str, Any]", claims["tctx"]), "chain": chain}
        return rfc9068.sign(TXN_TYP, claims, self._ring())

    async def revoke(self, mandate_id: str, *, actor: str, reason: str, now: datetime) -> Mandate:
        if not await self._store.revoke(mandate_id, now):
            raise MandateNotFound(f"no active mandate `{mandate_id}`")
        mandate = await self._store.get(mandate_id)  # the stored record, revoked_at set
        assert mandate is not None
        self._mandates[mandate_id] = mandate
        self._verified.clear()
        await self._audit.record(
            "mandate:revoked", {"actor": actor, "mandate_id": mandate_id, "reason": reason}
        )
        return mandate

    async def get(self, mandate_id: str) -> Mandate:
        mandate = self._mandates.get(mandate_id) or await self._store.get(mandate_id)
        if mandate is None:
            raise MandateNotFound(f"no mandate `{mandate_id}`")
        return mandate

    # -- the decision path ---------------------------------------------------------------

    def of_person(self, person: str) -> list[Mandate]:
        """The person's mandates held in memory and not revoked (for the kill switch)."""
        return [m for m in self._mandates.values() if m.person == person and not m.revoked_at]

    def live(self, mandate_id: str) -> Mandate | None:
        """A mandate held in memory (issued or loaded, not yet expired at load), by id."""
        return self._mandates.get(mandate_id)

    def verify(self, token: str, now: datetime) -> Mandate:
        """The mandate a presented token stands for; :class:`InvalidMandate` (with ``code``
        ``mandate.forged``, ``.expired``, ``.foreign``, ``.revoked``, ``.unknown``) if none.
        Memory only: the signature is checked once per token, then cached until expiry."""
        if not isinstance(token, str) or not token:
            raise InvalidMandate("the mandate is not a token", code="mandate.malformed")
        stamp = int(now.timestamp())
        # Keyed by the token itself: a str caches its hash, so the second look-up in one
        # decision (prepare, then the analyser) costs a dict probe, not another digest.
        cached = self._verified.get(token)
        if cached is None:
            claims = self._claims(token, now)
            mandate = self._mandates.get(str(claims.get("txn")))
            if mandate is None:
                raise InvalidMandate(
                    f"mandate `{claims.get('txn')}` is not one Warden issued",
                    code="mandate.unknown",
                )
            cached = (mandate, int(claims["exp"]))
            self._verified[token] = cached
            if len(self._verified) > _CACHE:
                self._verified.popitem(last=False)
        mandate, exp = cached
        if exp <= stamp:
            raise InvalidMandate(
                f"mandate `{mandate.id}` expired at {mandate.expires_at.isoformat()}",
                code="mandate.expired",
            )
        current = self._mandates.get(mandate.id, mandate)
        if current.revoked_at is not None:
            raise InvalidMandate(f"mandate `{mandate.id}` was revoked", code="mandate.revoked")
        if current.extra.get("parent"):
            self._check_ancestors(current)
        return current

    def _check_ancestors(self, mandate: Mandate) -> None:
        """A delegate's mandate holds only while every mandate above it does: revoking the
        person's mandate (or any delegator's) stops the whole branch below it at once."""
        parent_id = mandate.extra.get("parent")
        while parent_id:
            parent = self._mandates.get(str(parent_id))
            if parent is None or parent.revoked_at is not None:
                whose = "the person's" if parent is None or not parent.extra.get("parent") else "a"
                raise InvalidMandate(
                    f"{whose} mandate `{parent_id}` above mandate `{mandate.id}` was revoked",
                    code="mandate.revoked",
                )
            parent_id = parent.extra.get("parent")

    def _claims(self, token: str, now: datetime) -> Mapping[str, Any]:
        try:
            header = rfc9068.read_header(token)
        except InvalidToken:
            raise InvalidMandate(
                "the mandate is not a signed token", code="mandate.malformed"
            ) from None
        if str(header.get("typ", "")).lower() != TXN_TYP:
            raise InvalidMandate(
                f"the mandate has typ `{header.get('typ')}`, not `{TXN_TYP}`",
                code="mandate.malformed",
            )
        try:
            claims = rfc9068.verify_signature(token, self._ring(), typs=(TXN_TYP,), now=now)
        except InvalidToken as exc:
            raise InvalidMandate(
                f"the mandate's signature does not verify: {exc.message}", code="mandate.forged"
            ) from None
        if claims.get("iss") != self._issuer:
            raise InvalidMandate("the mandate was issued by someone else", code="mandate.forged")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidMandate(
                f"the mandate is for `{aud}`, not this trust domain `{self.audience}`",
                code="mandate.foreign",
            )
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= int(now.timestamp()):
            raise InvalidMandate("the mandate has expired", code="mandate.expired")
        return claims

    def identify(self, token: object, now: datetime) -> Mandate | None:
        """The mandate a token names if its signature holds — revoked or expired included —
        so the kill switch can name whom an action was for even when the mandate no longer
        holds (the mandate analyser denies that action anyway). Memory only."""
        if not isinstance(token, str):
            return None
        try:
            return self.verify(token, now)
        except InvalidMandate:
            cached = self._verified.get(token)  # verify caches before it checks revocation
            return self._mandates.get(cached[0].id, cached[0]) if cached else None

    async def prepare(self, token: object, now: datetime) -> None:
        """Before a decision under ``token``: make sure its mandate's observations are in
        memory (read back once if they were dropped), so the analyser — which does no I/O —
        sees every data label. An unusable token is left for the analyser to name."""
        if self.provenance is None or not isinstance(token, str):
            return
        try:
            mandate = self.verify(token, now)
        except InvalidMandate:
            return
        await self.provenance.ensure(mandate.id)

    # -- observations --------------------------------------------------------------------

    async def observe(
        self, token: str, *, agent: str, tool: str, result: Any, now: datetime
    ) -> dict[str, Any]:
        """An enforcement point reports what ``tool`` returned to ``agent`` under the mandate:
        its values are indexed (as digests) for provenance, its content labelled and checked
        for injected instructions. Returns what was found (never the content)."""
        mandate = self.verify(token, now)
        if self.provenance is None:
            raise ProvenanceUnavailable("observations need the provenance index")
        observed = self.provenance.observe(
            mandate.id, tool, result, tool_labels=self.tool_labels(tool), now=now, agent=agent
        )
        if inspect.isawaitable(observed):
            observed = await observed
        if self.on_observed is not None:
            self.on_observed(agent, mandate.id, observed.labels, observed.injected, now)
        return {
            "mandate_id": mandate.id,
            "agent": agent,
            "tool": tool,
            "labels": sorted(observed.labels),
            "injected": observed.injected,
            "values": observed.values,
        }

    # -- budgets -------------------------------------------------------------------------

    def budget_holder(self, mandate_id: str) -> str:
        """Whose budgets a mandate spends: a delegate's mandate spends its root's, so a chain
        shares one budget however deep it goes (a budget is never reset per hop)."""
        mandate = self._mandates.get(mandate_id)
        root = mandate.extra.get("root") if mandate is not None else None
        return str(root) if root else mandate_id

    def spent(self, mandate_id: str) -> dict[str, float]:
        holder = self.budget_holder(mandate_id)
        return {k: float(v) for k, v in self._spent.get(holder, {}).items()}

    async def charge(
        self, mandate_id: str, charges: Sequence[BudgetCharge], now: datetime
    ) -> Violation | None:
        """Spend ``charges`` of an allowed action, or return the violation if a concurrent
        action got there first (checked and spent under one lock, then written through)."""
        mandate_id = self.budget_holder(mandate_id)
        async with self._budget_lock:
            totals = dict(self._spent.get(mandate_id, {}))
            for c in charges:
                after = totals.get(c.budget, Decimal(0)) + Decimal(str(c.amount))
                if after > Decimal(str(c.limit)):
                    return Violation(
                        "budget.exceeded",
                        f"budget `{c.budget}` of mandate `{mandate_id}` would reach "
                        f"{_plain(after)} of {_plain(Decimal(str(c.limit)))}",
                    )
                totals[c.budget] = after
            await self._store.set_spent(mandate_id, totals, now)
            self._spent[mandate_id] = totals
        return None


def _plain(value: Decimal) -> str:
    """``18000.0`` → ``18000``, ``9000.50`` → ``9000.5``."""
    text = format(value.normalize(), "f")
    return text


def _designated_from_details(
    details: Sequence[Mapping[str, Any]], extract: Extractor | None, now: datetime
) -> tuple[DesignatedValue, ...]:
    """Values inside ``authorization_details`` are designated by the person too."""
    if extract is None:
        return ()
    found: list[DesignatedValue] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.extend(extract(value, now))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.extend(extract(str(value), now))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for detail in details:
        walk(detail)
    return tuple(found)
