"""Step-up approvals: hold an exact action, let approvers decide, release it once.

The runtime calls :meth:`ApprovalService.hold` when a decision is ``step_up``; the enforcement
point long-polls :meth:`ApprovalService.wait`, then re-submits the same action with
``context.approval``; the runtime calls :meth:`ApprovalService.check` (synchronous, memory
only: it is on the decision path) and :meth:`ApprovalService.consume` (atomic in the store:
one caller wins). Open requests (pending, or approved and unused) live in memory, loaded at
start by :meth:`ApprovalService.load`; the tables are the record. Every change of status is
in the ledger; the held arguments never are.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.access.models import Principal, Role
from warden.alerts.webhooks import Alert
from warden.approvals.errors import (
    ApprovalConflict,
    ApprovalForbidden,
    ApprovalNotFound,
    InvalidApprovalInput,
)
from warden.approvals.models import (
    ID_PREFIX,
    ApprovalRequest,
    ApprovalStatus,
    Release,
    ReleaseCode,
    Vote,
    VoteKind,
)
from warden.approvals.store import OPEN, SqlApprovalStore

MAX_COMMENT = 2000
MAX_REQUIRED = 10
MAX_DONE = 10_000
"""Decided requests kept in memory so :meth:`ApprovalService.check` can say *why* an
approval no longer releases anything (used, denied...) rather than "unknown"."""

PENDING, APPROVED = ApprovalStatus.PENDING, ApprovalStatus.APPROVED
_CHECK_CODES = {
    ApprovalStatus.PENDING: ReleaseCode.PENDING,
    ApprovalStatus.DENIED: ReleaseCode.DENIED,
    ApprovalStatus.EXPIRED: ReleaseCode.EXPIRED,
    ApprovalStatus.USED: ReleaseCode.USED,
    ApprovalStatus.CANCELLED: ReleaseCode.CANCELLED,
}
_CANCEL_FILTERS = ("agent", "session_id", "chain_id", "mandate_id", "person")


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class ApprovalService:
    """Approval requests: memory for the decision path, the store for the record."""

    def __init__(
        self,
        engine: AsyncEngine,
        audit: AuditSink,
        notifier: Notifier,
        *,
        owners: Callable[[str], Sequence[str]],
        default_ttl: int = 900,
        public_url: str | None = None,
    ) -> None:
        self._store = SqlApprovalStore(engine)
        self._audit = audit
        self._notifier = notifier
        self._owners = owners
        self.default_ttl = default_ttl
        self._public_url = public_url.rstrip("/") if public_url else ""
        self._open: dict[str, ApprovalRequest] = {}
        self._pending_by_hash: dict[str, str] = {}
        self._done: OrderedDict[str, ApprovalRequest] = OrderedDict()
        self._events: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def load(self, now: datetime) -> int:
        """Bring the open, unexpired requests into memory (at start); returns how many."""
        found = await self._store.live(now)
        for request in found:
            self._settle(request)
        return len(found)

    # -- decision path ------------------------------------------------------------------------

    def check(self, approval_id: str, action_hash: str, now: datetime) -> Release:
        """Does approval ``approval_id`` release the action hashing to ``action_hash`` now?
        Memory only; does not use the approval up (see :meth:`consume`)."""
        request = self._open.get(approval_id) or self._done.get(approval_id)
        if request is None:
            return _refused(ReleaseCode.UNKNOWN, f"no approval `{approval_id}`")
        if request.action_hash != action_hash:
            return _refused(
                ReleaseCode.MISMATCH,
                f"approval `{approval_id}` was given for another action (tool, arguments, "
                "agent, mandate or hop differ)",
            )
        status = request.status
        if status in OPEN and request.expired_at(now):
            status = ApprovalStatus.EXPIRED
        if status is APPROVED:
            who = ", ".join(f"`{a}`" for a in request.approvers)
            return Release(True, ReleaseCode.GRANTED.value, f"approval `{approval_id}` by {who}")
        return _refused(_CHECK_CODES[status], f"approval `{approval_id}` is {status.value}")

    async def consume(self, approval_id: str, now: datetime) -> bool:
        """Use an approved request up; True for exactly one caller, even concurrently."""
        if not await self._store.consume(approval_id, now):
            return False
        request = self._open.get(approval_id) or await self._store.get(approval_id)
        assert request is not None  # the store just updated it
        used = replace(request, status=ApprovalStatus.USED, used_at=now)
        self._settle(used)
        await self._audit.record("approval:used", {**_ids(used), "used_at": now.isoformat()})
        return True

    # -- holding ------------------------------------------------------------------------------

    async def hold(
        self,
        *,
        action_hash: str,
        decision_id: str,
        agent: str,
        person: str | None,
        tool: str,
        mandate_id: str | None,
        chain_id: str | None,
        session_id: str | None,
        reasons: Sequence[Mapping[str, Any]],
        held: Mapping[str, Any],
        required: int = 1,
        separation_of_duties: bool = False,
        ttl: int | None = None,
        now: datetime,
    ) -> ApprovalRequest:
        """Hold an action for approval, or return the pending request for the same action."""
        ttl = self.default_ttl if ttl is None else ttl
        if not 1 <= required <= MAX_REQUIRED:
            raise InvalidApprovalInput(
                f"`required` must be 1 to {MAX_REQUIRED}, not `{required}`", field="required"
            )
        if ttl <= 0:
            raise InvalidApprovalInput(f"`ttl` must be positive, not `{ttl}`", field="ttl")
        async with self._lock:
            same = self._open.get(self._pending_by_hash.get(action_hash, ""))
            if same is not None and same.status is PENDING and not same.expired_at(now):
                return same
            request = ApprovalRequest(
                id=f"{ID_PREFIX}{secrets.token_hex(12)}",
                action_hash=action_hash,
                decision_id=decision_id,
                agent=agent,
                person=person,
                tool=tool,
                mandate_id=mandate_id,
                chain_id=chain_id,
                session_id=session_id,
                reasons=tuple(dict(r) for r in reasons),
                held=dict(held),
                required=required,
                separation_of_duties=separation_of_duties,
                status=PENDING,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
            await self._store.insert(request)
            self._settle(request)
        await self._audit.record("approval:requested", _requested(request))
        self._notifier.notify(self._alert(request, now))
        return request

    # -- deciding -----------------------------------------------------------------------------

    async def vote(
        self,
        approval_id: str,
        principal: Principal,
        vote: str,
        comment: str = "",
        *,
        now: datetime,
    ) -> ApprovalRequest:
        """``principal`` approves or denies. Any deny denies; ``required`` distinct
        approvals approve. Raises :class:`ApprovalForbidden` or :class:`ApprovalConflict`."""
        kind = _kind(vote)
        comment = _comment(comment)
        if not principal.has(Role.APPROVER):
            raise ApprovalForbidden(
                f"`{principal.name}` may not vote on approvals: that needs the role "
                "`approver` (the `admin` role alone is not enough)",
                code="not_approver",
            )
        async with self._lock:
            request = await self._expire_if_due(await self._find(approval_id), now)
            if request.status is not PENDING:
                raise ApprovalConflict(
                    f"approval `{approval_id}` is {request.status.value}; only a pending "
                    "request takes votes",
                    code=f"approval_{request.status.value}",
                )
            self._may_vote(request, principal)
            ballot = Vote(principal.name, kind, comment, now)
            if not await self._store.add_vote(approval_id, ballot):
                raise _voted(approval_id, principal)
            decided = await self._count(replace(request, votes=(*request.votes, ballot)), now)
            self._settle(decided)
            await self._audit.record(f"approval:{_EVENT[kind]}", _voted_event(decided, ballot))
        return decided

    def _may_vote(self, request: ApprovalRequest, principal: Principal) -> None:
        name = principal.name.casefold()
        if request.person and request.person.casefold() == name:
            raise ApprovalForbidden(
                f"`{principal.name}` may not vote on approval `{request.id}`: the action is "
                "on their behalf",
                code="own_request",
            )
        owners = {o.casefold() for o in self._owners(request.agent)}
        if request.separation_of_duties and owners == {name}:
            raise ApprovalForbidden(
                f"`{principal.name}` may not vote on approval `{request.id}`: they are the "
                f"sole owner of `{request.agent}` and this profile asks for separation of duties",
                code="sole_owner",
            )
        if any(v.approver.casefold() == name for v in request.votes):
            raise _voted(request.id, principal)

    async def _count(self, request: ApprovalRequest, now: datetime) -> ApprovalRequest:
        """The request after its newest vote: denied, approved or still pending."""
        if any(v.vote is VoteKind.DENY for v in request.votes):
            status = ApprovalStatus.DENIED
        elif len(request.approvers) >= request.required:
            status = APPROVED
        else:
            return request
        if not await self._store.transition(request.id, status, from_=(PENDING,), at=now):
            raise ApprovalConflict(
                f"approval `{request.id}` was decided meanwhile", code="approval_decided"
            )
        return replace(request, status=status, decided_at=now)

    # -- waiting and housekeeping -------------------------------------------------------------

    async def wait(self, approval_id: str, timeout: float) -> ApprovalRequest:
        """The request as soon as it is no longer pending, or after ``timeout`` seconds (or
        at its expiry, when it becomes ``expired``) as it then is."""
        request = self._known(approval_id) or await self._find(approval_id)
        if request.status is not PENDING:
            return request
        event = self._events.setdefault(approval_id, asyncio.Event())
        current = self._known(approval_id)
        if current is not None and current.status is not PENDING:
            return current  # decided while the store was read
        left = (request.expires_at - _now()).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, min(timeout, left)))
        async with self._lock:
            return await self._expire_if_due(await self._find(approval_id), _now())

    async def expire_due(self, now: datetime) -> int:
        """Pending requests past their expiry become ``expired``; approved ones nobody used
        in time leave memory. Returns how many requests expired."""
        async with self._lock:
            due = set(await self._store.due(now))
            due |= {r.id for r in self._open.values() if r.status is PENDING and r.expired_at(now)}
            expired = 0
            for approval_id in sorted(due):
                request = await self._expire_if_due(await self._find(approval_id), now)
                expired += request.status is ApprovalStatus.EXPIRED
            for request in [r for r in self._open.values() if r.expired_at(now)]:
                self._settle(request, keep_open=False)
            return expired

    async def cancel(
        self,
        *,
        reason: str,
        actor: str,
        now: datetime,
        agent: str | None = None,
        session_id: str | None = None,
        chain_id: str | None = None,
        mandate_id: str | None = None,
        person: str | None = None,
    ) -> list[str]:
        """Cancel the open (pending, or approved and unused) requests matching ANY filter
        given (the kill switch); returns their ids."""
        given = zip(_CANCEL_FILTERS, (agent, session_id, chain_id, mandate_id, person), strict=True)
        filters = {name: value for name, value in given if value}
        if not filters:
            raise InvalidApprovalInput("cancelling needs at least one filter", field="")
        cancelled = []
        async with self._lock:
            for approval_id in await self._store.matching(filters):
                request = await self._find(approval_id)
                if not await self._store.transition(
                    approval_id, ApprovalStatus.CANCELLED, from_=OPEN, at=now, reason=reason
                ):
                    continue
                done = replace(
                    request, status=ApprovalStatus.CANCELLED, decided_at=now, status_reason=reason
                )
                self._settle(done)
                cancelled.append(approval_id)
                event = {**_ids(done), "was": request.status.value, "actor": actor}
                await self._audit.record("approval:cancelled", {**event, "reason": reason})
        return cancelled

    # -- reading ------------------------------------------------------------------------------

    async def list(
        self, status: str | None = None, agent: str | None = None, limit: int = 100
    ) -> builtins.list[ApprovalRequest]:
        """Requests, the newest first."""
        wanted = _status(status) if status else None
        return await self._store.page(wanted, agent, limit)

    async def get(self, approval_id: str) -> ApprovalRequest:
        return await self._find(approval_id)

    # -- memory -------------------------------------------------------------------------------

    async def _find(self, approval_id: str) -> ApprovalRequest:
        request = await self._store.get(approval_id)
        if request is None:
            raise ApprovalNotFound(f"no approval `{approval_id}`")
        return request

    def _known(self, approval_id: str) -> ApprovalRequest | None:
        return self._open.get(approval_id) or self._done.get(approval_id)

    async def _expire_if_due(self, request: ApprovalRequest, now: datetime) -> ApprovalRequest:
        """``request``, made ``expired`` first if it is pending past its expiry."""
        if request.status is not PENDING or not request.expired_at(now):
            return request
        expired = ApprovalStatus.EXPIRED
        if not await self._store.transition(request.id, expired, from_=(PENDING,), at=now):
            return await self._find(request.id)  # decided meanwhile
        request = replace(request, status=expired, decided_at=now, status_reason="nobody decided")
        self._settle(request)
        await self._audit.record(
            "approval:expired", {**_ids(request), "expires_at": request.expires_at.isoformat()}
        )
        return request

    def _settle(self, request: ApprovalRequest, *, keep_open: bool = True) -> None:
        """Keep ``request``'s newest state in memory and wake its waiters if decided."""
        if request.status in OPEN and keep_open:
            self._open[request.id] = request
            if request.status is PENDING:
                self._pending_by_hash[request.action_hash] = request.id
            elif self._pending_by_hash.get(request.action_hash) == request.id:
                del self._pending_by_hash[request.action_hash]
        else:
            self._open.pop(request.id, None)
            if self._pending_by_hash.get(request.action_hash) == request.id:
                del self._pending_by_hash[request.action_hash]
            self._done[request.id] = request
            self._done.move_to_end(request.id)
            while len(self._done) > MAX_DONE:
                self._done.popitem(last=False)
        if request.status is not PENDING:
            event = self._events.pop(request.id, None)
            if event is not None:
                event.set()

    def _alert(self, request: ApprovalRequest, now: datetime) -> Alert:
        whom = f" for `{request.person}`" if request.person else ""
        path = f"/v1/approvals/{request.id}/approve"
        return Alert(
            kind="approval.requested",
            severity="high",
            summary=f"approval needed: `{request.tool}` by `{request.agent}`{whom}",
            at=now,
            details={
                "id": request.id,
                "agent": request.agent,
                "person": request.person,
                "tool": request.tool,
                "reasons": request.reason_codes,
                "required": request.required,
                "expires_at": request.expires_at.isoformat(),
                "approve_url": f"{self._public_url}{path}",
                "approve": f"warden approvals approve {request.id}",
                "explanation": "; ".join(str(r.get("message", "")) for r in request.reasons)[:500],
            },
        )


_EVENT = {VoteKind.APPROVE: "approved", VoteKind.DENY: "denied"}


def _refused(code: ReleaseCode, message: str) -> Release:
    return Release(False, code.value, message)


def _voted(approval_id: str, principal: Principal) -> ApprovalConflict:
    return ApprovalConflict(
        f"`{principal.name}` already voted on approval `{approval_id}`", code="already_voted"
    )


def _kind(vote: str) -> VoteKind:
    try:
        return VoteKind(vote)
    except ValueError:
        raise InvalidApprovalInput(
            f"a vote is `approve` or `deny`, not `{vote}`", field="vote"
        ) from None


def _status(status: str) -> ApprovalStatus:
    try:
        return ApprovalStatus(status)
    except ValueError:
        raise InvalidApprovalInput(f"unknown status `{status}`", field="status") from None


def _comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidApprovalInput(
            f"a comment is at most {MAX_COMMENT} characters", field="comment"
        )
    return comment


def _ids(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "approval": request.id,
        "decision_id": request.decision_id,
        "agent": request.agent,
        "person": request.person,
        "tool": request.tool,
        "status": request.status.value,
    }


def _requested(request: ApprovalRequest) -> dict[str, Any]:
    """The ledger entry of a new request: ids and reason codes, never the held arguments."""
    return {
        **_ids(request),
        "mandate_id": request.mandate_id,
        "chain_id": request.chain_id,
        "session_id": request.session_id,
        "action_hash": request.action_hash,
        "reasons": request.reason_codes,
        "required": request.required,
        "separation_of_duties": request.separation_of_duties,
        "expires_at": request.expires_at.isoformat(),
    }


def _voted_event(request: ApprovalRequest, ballot: Vote) -> dict[str, Any]:
    """One vote and the state it left the request in (``status`` is final unless pending)."""
    return {
        **_ids(request),
        "approver": ballot.approver,
        "vote": ballot.vote.value,
        "comment": ballot.comment,
        "approvers": list(request.approvers),
        "required": request.required,
        "final": request.status is not PENDING,
    }


def _now() -> datetime:
    return datetime.now(UTC)
