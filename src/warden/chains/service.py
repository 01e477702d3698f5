"""Delegation chains: recording and signing hops at token exchange, attenuation, verifying
the assertion an action presents, and revoking a chain or a branch of it.

At the token endpoint (RFC 8693 exchange), :meth:`ChainService.plan` decides whether the
delegation may happen — the delegate's tools, argument limits and expiry may only narrow its
delegator's; depth and fan-out stay within the root purpose profile; no agent appears twice;
the delegated task must read as the person's purpose — and :meth:`ChainService.commit`
records it once the delegate's token is minted: the hop, the delegate's child mandate, the
signed assertion, a ledger event.

On the decision path nothing touches the database: live hops are held in memory (loaded at
start, added on delegation), and an assertion is verified once and cached by its text until
it expires, so a chain of any depth costs a dict probe per decision after the first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from warden.audit.ledger import new_entry_id
from warden.chains import assertion
from warden.chains.errors import ChainNotFound, DelegationRefused, InvalidChain
from warden.chains.models import DELEGATED, REFUSED, REVOKED, Hop, VerifiedChain, hop_digest
from warden.chains.store import SqlChainStore
from warden.mandates.errors import InvalidMandate
from warden.mandates.models import Mandate

if TYPE_CHECKING:
    from warden.mandates.service import MandateService, Profile
    from warden.tokens.keys import KeyRing

DEFAULT_MAX_FAN_OUT = 8  # delegations one hop may make when its purpose profile sets none
MAX_TASK = 2000  # characters of a delegated task
_CACHE = 4096
_NEIGHBOURS = 0.5  # a task scoring this share of the best purpose's score still reads as it


class AuditSink(Protocol):
    async def record(
        self, event_type: str, payload: Mapping[str, Any], *, entry_id: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class DelegationRequest:
    """What a delegator asks for at the token endpoint (Warden's extension parameters of the
    RFC 8693 request): the root mandate when starting a chain, and the narrowing."""

    mandate: str | None = None  # the person's mandate (Txn-Token), to start a chain
    task: str = ""  # the sub-task, in the delegator's words
    tools: tuple[str, ...] | None = None  # the delegate's allow-list (tool names or patterns)
    limits: Mapping[str, Mapping[str, float]] | None = None  # {tool: {argument: max}}
    expires_in: int | None = None  # seconds; never past the delegator's hop

    @property
    def narrows(self) -> bool:
        return self.tools is not None or bool(self.limits) or self.expires_in is not None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> DelegationRequest:
        """From the form: ``mandate``, ``task``, ``tools`` (space-separated), ``limits``
        (JSON), ``expires_in``. :class:`DelegationRefused` (``chain.malformed``) if bad."""
        tools_raw = params.get("tools")
        tools = tuple(dict.fromkeys(t for t in tools_raw.split() if t)) if tools_raw else None
        task = params.get("task", "").strip()
        if len(task) > MAX_TASK:
            raise _malformed(f"`task` is longer than {MAX_TASK} characters")
        expires_raw = params.get("expires_in")
        expires_in = None
        if expires_raw is not None:
            if not expires_raw.isdigit() or int(expires_raw) <= 0:
                raise _malformed("`expires_in` must be a positive number of seconds")
            expires_in = int(expires_raw)
        return cls(
            mandate=params.get("mandate") or None,
            task=task,
            tools=tools,
            limits=_limits(params.get("limits")),
            expires_in=expires_in,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """A delegation that may happen, waiting for the delegate's token: ``hops`` is the path
    from hop 0 to the new hop (hop 0 new too when the chain starts here)."""

    path: tuple[Hop, ...]  # existing hops, hop 0 first (empty when the chain starts here)
    root_hop: Hop | None  # a new hop 0, stored with the new hop
    hop: Hop  # the new hop, without its exchange jti and digest yet
    parent_mandate: Mandate
    root_mandate: Mandate

    @property
    def hop_id(self) -> str:
        return self.hop.id

    @property
    def expires_at(self) -> datetime:
        return self.hop.expires_at


@dataclass(frozen=True, slots=True)
class Delegation:
    """A recorded delegation: what the token endpoint hands the delegate."""

    hop: Hop
    assertion: str  # the chain assertion (``Warden-Chain`` header / ``context.chain``)
    mandate: str  # the delegate's own mandate (``Txn-Token`` header / ``context.mandate``)

    def response_fields(self) -> dict[str, Any]:
        """Extension members of the token response (RFC 6749 §5.1 allows them)."""
        return {
            "chain": self.assertion,
            "chain_id": self.hop.chain_id,
            "hop_id": self.hop.id,
            "chain_depth": self.hop.depth,
            "mandate": self.mandate,
            "mandate_id": self.hop.mandate_id,
        }


class ChainService:
    def __init__(
        self,
        engine: Any,
        audit: AuditSink,
        mandates: MandateService,
        *,
        issuer: str,
        trust_domain: str,
        max_fan_out: int = DEFAULT_MAX_FAN_OUT,
    ) -> None:
        self._store = SqlChainStore(engine)
        self._audit = audit
        self._mandates = mandates
        self._issuer = issuer
        self._audience = trust_domain
        self.max_fan_out = max_fan_out
        self._keys: KeyRing | None = None
        self._hops: dict[str, Hop] = {}  # live hops by id
        self._children: dict[str, list[str]] = {}  # hop id → its delegates' hop ids
        self._roots: dict[str, str] = {}  # root mandate id → its hop 0
        self._verified: OrderedDict[str, VerifiedChain] = OrderedDict()
        # The last answer, for the same assertion at the same instant: one decision asks up to
        # three times (the runtime's verified depth, the chain and the kill analysers).
        self._last: tuple[str, datetime, VerifiedChain] | None = None

    @property
    def store(self) -> SqlChainStore:
        return self._store

    def use_keys(self, keys: KeyRing) -> None:
        """Sign and verify with the authorization server's key ring."""
        self._keys = keys

    def _ring(self) -> KeyRing:
        if self._keys is None:  # fail closed: nothing verifies before the keys are loaded
            raise InvalidChain("warden's signing keys are not loaded", code="chain.unverifiable")
        return self._keys

    async def load(self, now: datetime) -> None:
        """Every live hop, into memory (at start)."""
        self._hops, self._children, self._roots = {}, {}, {}
        self._last = None
        for hop in await self._store.live(now):
            self._remember(hop)

    def _remember(self, hop: Hop) -> None:
        self._hops[hop.id] = hop
        if hop.parent_id is None:
            self._roots[hop.root_mandate_id] = hop.id
        else:
            self._children.setdefault(hop.parent_id, []).append(hop.id)

    # -- delegation (the token endpoint) -------------------------------------------------

    def plan(
        self,
        *,
        subject: Mapping[str, Any],
        delegator: str,
        delegate: str,
        request: DelegationRequest,
        now: datetime,
    ) -> Plan | None:
        """Whether ``delegator`` (the subject token's current actor) may delegate to
        ``delegate``; None when no chain is involved (neither the subject token nor the
        request names one). :class:`DelegationRefused` says why not."""
        parent_id = subject.get("wch")
        if parent_id is None and request.mandate is None:
            return None
        if parent_id is not None:
            path = self._path(str(parent_id), now)
            parent = path[-1]
            if parent.to_agent != delegator:
                raise _refused("chain.broken", "the subject token's hop is not its holder's")
            if request.mandate is not None:
                presented = self._mandate(request.mandate, now)
                if presented.id != parent.mandate_id:
                    raise _refused(
                        "chain.mandate_mismatch",
                        "a chain continues under its own mandate; the subject token's hop "
                        f"holds mandate `{parent.mandate_id}`, not `{presented.id}`",
                    )
            root_hop = None
            root_mandate = self._live_mandate(parent.root_mandate_id)
            parent_mandate = self._live_mandate(parent.mandate_id)
        else:
            assert request.mandate is not None
            root_mandate = parent_mandate = self._mandate(request.mandate, now)
            if root_mandate.extra.get("root"):
                raise _refused(
                    "chain.skipped",
                    f"mandate `{root_mandate.id}` is a delegate's; delegate further with "
                    "the token it came with",
                )
            path, root_hop = self._start(root_mandate, delegator, subject, now)
            start = path[-1] if path else root_hop
            assert start is not None
            parent = start
        full = (*path, root_hop) if root_hop is not None else path
        hop = self._next_hop(full, parent, delegate, request, root_mandate, subject, now)
        return Plan(path, root_hop, hop, parent_mandate, root_mandate)

    def _start(
        self, mandate: Mandate, agent: str, subject: Mapping[str, Any], now: datetime
    ) -> tuple[tuple[Hop, ...], Hop | None]:
        """Hop 0 of the chain rooted at ``mandate``: the existing one when ``agent`` already
        holds it, a new one (person → ``agent``) when nobody does."""
        bound = mandate.extra.get("agent")
        if bound and bound != agent:
            raise _refused(
                "chain.mandate_held",
                f"mandate `{mandate.id}` was given to `{bound}`; only it can delegate under it",
            )
        existing = self._roots.get(mandate.id)
        if existing is not None:
            hop0 = self._hops[existing]
            if hop0.to_agent != agent:
                raise _refused(
                    "chain.mandate_held",
                    f"mandate `{mandate.id}` is already delegated by `{hop0.to_agent}`; only "
                    "the agent holding it can delegate under it",
                )
            _check_live(hop0, now)
            return (hop0,), None
        hop0 = Hop(
            id=_new_id("hop"),
            chain_id=_new_id("chn"),
            parent_id=None,
            depth=0,
            person=mandate.person,
            from_party=mandate.person,
            to_agent=agent,
            mandate_id=mandate.id,
            root_mandate_id=mandate.id,
            exchange_jti=_str_or_none(subject.get("jti")),
            task="",
            tools=None,
            limits={},
            digest="",
            created_at=now,
            expires_at=mandate.expires_at,
        )
        return (), _digested(hop0, None)

    def _next_hop(
        self,
        path: tuple[Hop, ...],
        parent: Hop,
        delegate: str,
        request: DelegationRequest,
        root: Mandate,
        subject: Mapping[str, Any],
        now: datetime,
    ) -> Hop:
        depth = parent.depth + 1
        where = f"hop {depth} ({parent.to_agent} → {delegate})"
        agents = [h.to_agent for h in path]
        if delegate in agents or delegate == root.person:
            raise _refused(
                "chain.cycle",
                f"delegation cycle at {where}: `{delegate}` is already in the chain "
                f"({' → '.join(agents)})",
            )
        profile = self._mandates.profile_of(root)
        fan_out = len(self._children.get(parent.id, ()))
        _check_shape(profile, parent, depth, where, fan_out, self.max_fan_out)
        tools = _narrowed_tools(request.tools, parent, profile, root, where)
        limits = _narrowed_limits(request.limits, parent, tools, where)
        self._check_task(request.task, profile, root, where)
        expires_at = _expiry(request.expires_in, parent, subject, now)
        return Hop(
            id=_new_id("hop"),
            chain_id=parent.chain_id,
            parent_id=parent.id,
            depth=depth,
            person=root.person,
            from_party=parent.to_agent,
            to_agent=delegate,
            mandate_id="",  # the child mandate, issued at commit
            root_mandate_id=root.id,
            exchange_jti=None,
            task=request.task,
            tools=tools,
            limits=limits,
            digest="",
            created_at=now,
            expires_at=expires_at,
        )

    def _check_task(self, task: str, profile: Profile | None, root: Mandate, where: str) -> None:
        """Intent laundering: a delegated task that reads as another purpose than the
        person's is refused at the hop that asks for it, naming both."""
        matcher = self._mandates.matcher
        if not task or profile is None or matcher is None:
            return
        match = matcher.match(task)
        if match.profile is None or match.profile == profile.name:
            return
        # Neighbouring purposes (paying an invoice, paying suppliers) read alike: only a task
        # that reads as the person's purpose at less than half the strength diverges.
        scores = dict(match.ranked)
        best = max(scores.values(), default=0.0)
        if best > 0 and scores.get(profile.name, 0.0) / best >= _NEIGHBOURS:
            return
        raise _refused(
            "chain.laundering",
            f"{where} delegates “{_short(task)}”, which reads as purpose `{match.profile}`; "
            f"the person's purpose is `{profile.name}` ({_purpose(root)}, mandate `{root.id}`)",
        )

    async def commit(self, plan: Plan, exchange_jti: str, now: datetime) -> Delegation:
        """Record a planned delegation once the delegate's token (``exchange_jti``) is
        minted: the delegate's child mandate, the hop(s), the ledger event, the assertion."""
        parent_hop = plan.path[-1] if plan.path else plan.root_hop
        assert parent_hop is not None
        chain = {"chain": plan.hop.chain_id, "hop": plan.hop.id}
        child = await self._mandates.issue_child(
            plan.parent_mandate,
            agent=plan.hop.to_agent,
            delegator=plan.hop.from_party,
            task=plan.hop.task,
            chain=chain,
            expires_at=plan.hop.expires_at,
            now=now,
        )
        hop = _digested(
            _replace(
                plan.hop,
                mandate_id=child.mandate.id,
                exchange_jti=exchange_jti,
                expires_at=min(plan.hop.expires_at, child.mandate.expires_at),
            ),
            parent_hop.digest,
        )
        # In the ledger before it takes effect; the hop names its entry for tracing.
        hop = _replace(hop, entry_id=new_entry_id())
        await self._audit.record(DELEGATED, delegated_event(hop), entry_id=hop.entry_id)
        new = [h for h in (plan.root_hop, hop) if h is not None]
        await self._store.insert(new)
        for h in new:
            self._remember(h)
        path = (*plan.path, *new)
        token = assertion.sign(
            path,
            issuer=self._issuer,
            audience=self._audience,
            expires_at=int(hop.expires_at.timestamp()),
            keys=self._ring(),
        )
        return Delegation(hop, token, child.token)

    async def refused(
        self, exc: DelegationRefused, *, delegator: str, delegate: str, subject: Mapping[str, Any]
    ) -> None:
        """A refused delegation, in the ledger (the token endpoint answers the refusal)."""
        parent = self._hops.get(str(subject.get("wch")))
        await self._audit.record(
            REFUSED,
            {
                "chain_id": parent.chain_id if parent else None,
                "person": parent.person if parent else None,
                "from": delegator,
                "to": delegate,
                "code": exc.code,
                "message": exc.message,
            },
        )

    # -- the decision path ---------------------------------------------------------------

    def verify(self, token: str, now: datetime) -> VerifiedChain:
        """The chain an assertion stands for, checked against the hops Warden recorded:
        :class:`InvalidChain` with ``chain.malformed``, ``.forged``, ``.broken``,
        ``.expired``, ``.unknown`` or ``.revoked``. Memory only; the signature is checked
        once per assertion, then cached until it expires."""
        if not isinstance(token, str):
            raise InvalidChain("the chain is not a token", code="chain.malformed")
        last = self._last
        if last is not None and last[0] is token and last[1] == now:
            return last[2]
        verified = self._verified.get(token)
        if verified is None:
            verified = assertion.verify(
                token, issuer=self._issuer, audience=self._audience, keys=self._ring(), now=now
            )
            self._verified[token] = verified
            if len(self._verified) > _CACHE:
                self._verified.popitem(last=False)
        elif verified.expires_at <= now.timestamp():
            raise InvalidChain("the chain assertion has expired", code="chain.expired")
        for hop in verified.hops:
            recorded = self._hops.get(hop.id)
            if recorded is None or recorded.digest != hop.digest:
                raise InvalidChain(
                    f"hop {hop.depth} (`{hop.id}`) of the chain is not one Warden recorded",
                    code="chain.unknown",
                )
            _check_live(recorded, now, InvalidChain)
        self._last = (token, now, verified)
        return verified

    def identify(self, token: object, now: datetime) -> VerifiedChain | None:
        """The chain an assertion names if its signature holds — revoked hops included — so
        the kill switch can see whom and through whom an action came (the chain analyser
        denies a revoked one anyway). Memory only."""
        if not isinstance(token, str):
            return None
        try:
            return self.verify(token, now)
        except InvalidChain:
            return self._verified.get(token)  # verify caches before it checks the hops

    def hop(self, hop_id: str) -> Hop | None:
        """A live hop as recorded (with its task), by id."""
        return self._hops.get(hop_id)

    def chain_of(self, mandate_id: str) -> str | None:
        """The chain rooted at a mandate, if an agent started one from it."""
        hop0 = self._roots.get(mandate_id)
        return self._hops[hop0].chain_id if hop0 is not None else None

    def holder(self, mandate_id: str) -> str | None:
        """The agent a root mandate was delegated from (hop 0's delegate), if it was."""
        hop0 = self._roots.get(mandate_id)
        return self._hops[hop0].to_agent if hop0 is not None else None

    # -- revocation ----------------------------------------------------------------------

    async def revoke(
        self, hop_or_chain: str, *, actor: str, reason: str, now: datetime
    ) -> list[str]:
        """Revoke a hop and every hop below it (a chain id: the whole tree). Returns the hop
        ids revoked; the next action presenting any of them is denied."""
        if hop_or_chain in self._hops:
            start = [hop_or_chain]
        else:
            start = [
                h.id for h in self._hops.values() if h.chain_id == hop_or_chain and h.depth == 0
            ]
        if not start:
            raise ChainNotFound(f"no live hop or chain `{hop_or_chain}`")
        revoked = [h for h in self._subtree(start) if self._hops[h].revoked_at is None]
        await self._store.revoke(revoked, now)
        for hop_id in revoked:
            self._hops[hop_id] = _replace(self._hops[hop_id], revoked_at=now)
        self._verified.clear()
        self._last = None
        chain_id = self._hops[start[0]].chain_id
        await self._audit.record(
            REVOKED, {"chain_id": chain_id, "hops": revoked, "actor": actor, "reason": reason}
        )
        return revoked

    def _subtree(self, start: Iterable[str]) -> list[str]:
        found: list[str] = []
        stack = list(start)
        while stack:
            hop_id = stack.pop()
            found.append(hop_id)
            stack.extend(self._children.get(hop_id, ()))
        return found

    # -- helpers -------------------------------------------------------------------------

    def _path(self, hop_id: str, now: datetime) -> tuple[Hop, ...]:
        """The live path from hop 0 down to ``hop_id``."""
        path: list[Hop] = []
        current: str | None = hop_id
        while current is not None:
            hop = self._hops.get(current)
            if hop is None:
                raise _refused(
                    "chain.unknown", "the subject token's hop is not a live hop Warden recorded"
                )
            _check_live(hop, now)
            path.append(hop)
            current = hop.parent_id
        return tuple(reversed(path))

    def _mandate(self, token: str, now: datetime) -> Mandate:
        try:
            return self._mandates.verify(token, now)
        except InvalidMandate as exc:
            raise _refused(exc.code, f"the mandate cannot be delegated: {exc.message}") from None

    def _live_mandate(self, mandate_id: str) -> Mandate:
        mandate = self._mandates.live(mandate_id)
        if mandate is None or mandate.revoked_at is not None:
            raise _refused("chain.revoked", f"mandate `{mandate_id}` is no longer live")
        return mandate


# -- attenuation ---------------------------------------------------------------------------


def _check_shape(
    profile: Profile | None,
    parent: Hop,
    depth: int,
    where: str,
    fan_out: int,
    default_fan_out: int,
) -> None:
    """Depth and fan-out within the root purpose profile (fan-out: Warden's default when the
    profile sets none)."""
    max_depth = profile.max_chain_depth if profile is not None else None
    if max_depth is not None and depth > max_depth:
        raise _refused(
            "chain.too_deep",
            f"{where} would be {depth} delegations from the person's agent; purpose "
            f"`{profile.name if profile else ''}` allows {max_depth}",
        )
    limit = profile.max_fan_out if profile is not None else None
    limit = default_fan_out if limit is None else limit
    if fan_out >= limit:
        raise _refused(
            "chain.fan_out",
            f"`{parent.to_agent}` has already delegated {fan_out} times at this hop; "
            f"the limit is {limit}",
        )


def _narrowed_tools(
    wanted: tuple[str, ...] | None,
    parent: Hop,
    profile: Profile | None,
    root: Mandate,
    where: str,
) -> tuple[str, ...] | None:
    """The delegate's tools: a subset of its delegator's (and of the person's purpose)."""
    if wanted is None:
        return parent.tools
    for tool in wanted:
        if profile is not None and not profile.in_scope(tool) and tool not in profile.tool_patterns:
            raise _refused(
                "chain.laundering",
                f"{where} delegates `{tool}`, which is outside the person's purpose "
                f"`{profile.name}` ({_purpose(root)}, mandate `{root.id}`)",
            )
        if parent.tools is not None and not any(fnmatchcase(tool, p) for p in parent.tools):
            raise _refused(
                "chain.widening",
                f"{where} delegates `{tool}`, which `{parent.to_agent}` was not delegated "
                f"(it may use {', '.join(f'`{t}`' for t in parent.tools) or 'no tools'})",
            )
    return wanted


def _narrowed_limits(
    wanted: Mapping[str, Mapping[str, float]] | None,
    parent: Hop,
    tools: tuple[str, ...] | None,
    where: str,
) -> dict[str, dict[str, float]]:
    """The delegate's argument caps: its delegator's (for the tools it is given), lowered
    (never raised) by ``wanted``."""
    limits = {
        t: dict(a)
        for t, a in parent.limits.items()
        if tools is None or any(fnmatchcase(t, p) or fnmatchcase(p, t) for p in tools)
    }
    for tool, arguments in (wanted or {}).items():
        if tools is not None and not any(fnmatchcase(tool, p) for p in tools):
            raise _malformed(f"`limits` names `{tool}`, which the delegate is not given")
        for argument, cap in arguments.items():
            inherited = limits.get(tool, {}).get(argument)
            if inherited is not None and cap > inherited:
                raise _refused(
                    "chain.widening",
                    f"{where} raises the limit on `{tool}` `{argument}` to {_num(cap)}; "
                    f"`{parent.to_agent}` may only go to {_num(inherited)}",
                )
            limits.setdefault(tool, {})[argument] = cap
    return limits


def _expiry(
    expires_in: int | None, parent: Hop, subject: Mapping[str, Any], now: datetime
) -> datetime:
    """Never past the delegator's hop (nor its token): asking for longer gets the rest of
    the delegator's time, as RFC 8693 exchanges never outlive their subject token."""
    ends = [parent.expires_at]
    exp = subject.get("exp")
    if isinstance(exp, int):
        ends.append(datetime.fromtimestamp(exp, UTC))
    if expires_in is not None:
        ends.append(now + timedelta(seconds=expires_in))
    return min(ends)


def _check_live(
    hop: Hop, now: datetime, error: type[DelegationRefused | InvalidChain] = DelegationRefused
) -> None:
    if hop.revoked_at is not None:
        raise error(f"hop {hop.depth} (`{hop.id}`) of the chain was revoked", code="chain.revoked")
    if hop.expires_at <= now:
        raise error(f"hop {hop.depth} (`{hop.id}`) of the chain has expired", code="chain.expired")


# -- small helpers -------------------------------------------------------------------------


def _digested(hop: Hop, parent_digest: str | None) -> Hop:
    return _replace(hop, digest=hop_digest(parent_digest, hop.body()))


def _replace(hop: Hop, **changes: Any) -> Hop:
    return dataclasses.replace(hop, **changes)


def delegated_event(hop: Hop) -> dict[str, Any]:
    """The `chain:delegated` ledger payload of a hop (the accountability queries read it)."""
    return {
        "chain_id": hop.chain_id,
        "hop_id": hop.id,
        "parent_id": hop.parent_id,
        "depth": hop.depth,
        "person": hop.person,
        "from": hop.from_party,
        "to": hop.to_agent,
        "mandate_id": hop.mandate_id,
        "root_mandate_id": hop.root_mandate_id,
        "tools": list(hop.tools) if hop.tools is not None else None,
        "limits": {t: dict(a) for t, a in hop.limits.items()},
        "expires_at": hop.expires_at.isoformat(),
        # The task may name people or values: only its digest is kept.
        "task_digest": hashlib.sha256(hop.task.encode()).hexdigest() if hop.task else None,
    }


def _limits(raw: str | None) -> dict[str, dict[str, float]] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _malformed("`limits` is not json") from None
    if not isinstance(value, dict):
        raise _malformed("`limits` must be a json object {tool: {argument: max}}")
    limits: dict[str, dict[str, float]] = {}
    for tool, arguments in value.items():
        if not isinstance(arguments, dict) or not arguments:
            raise _malformed(f"`limits.{tool}` must be an object {{argument: max}}")
        for argument, cap in arguments.items():
            if isinstance(cap, bool) or not isinstance(cap, int | float) or not math.isfinite(cap):
                raise _malformed(f"`limits.{tool}.{argument}` must be a number")
            limits.setdefault(str(tool), {})[str(argument)] = float(cap)
    return limits


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _purpose(mandate: Mandate) -> str:
    return f"“{_short(mandate.request)}”"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _refused(code: str, message: str) -> DelegationRefused:
    return DelegationRefused(message, code=code)


def _malformed(message: str) -> DelegationRefused:
    return DelegationRefused(message, code="chain.malformed")


def describe_hop(hop: Hop) -> str:
    """``hop 2 (agent-a → agent-b: “task”)`` for reasons and messages."""
    task = f": “{_short(hop.task, 60)}”" if hop.task else ""
    return f"hop {hop.depth} ({hop.from_party} → {hop.to_agent}{task})"


def path_of(chain: VerifiedChain, recorded: Sequence[Hop | None]) -> list[Hop]:
    """The chain's hops as recorded (tasks included), falling back to the asserted ones."""
    return [r if r is not None else h for h, r in zip(chain.hops, recorded, strict=True)]
