"""Step-up approvals over a real store (SQLite and PostgreSQL): hold, vote, release once;
M-of-N, separation of duties, deny wins, expiry, waiting, cancelling, webhooks; and the
HTTP routes with real people tokens (approver, auditor, admin, none)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.access.models import Principal, Role
from warden.access.service import AccessService
from warden.alerts.webhooks import Webhook, WebhookNotifier
from warden.approvals import (
    ApprovalConflict,
    ApprovalError,
    ApprovalForbidden,
    ApprovalRequest,
    ApprovalService,
    ApprovalStatus,
    InvalidApprovalInput,
    action_hash,
)
from warden.approvals.api import approval_error_response, approvals_router
from warden.server.auth import AdminAuth

if TYPE_CHECKING:
    from conftest import WebhookReceiver

AGENT = "spiffe://acme.example/agent/ap-clerk"
OTHER = "spiffe://acme.example/agent/ap-matcher"
PERSON = "carol@acme.example"
IBAN = "DE89370400440532013000"
ARGS = {"amount": 48_000, "iban": IBAN}
HASH = action_hash(AGENT, "call", "tool", "payments.transfer", ARGS, "mnd_1", None)
NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
OWNERS = {AGENT: ["olga@acme.example"], OTHER: ["olga@acme.example", "bob@acme.example"]}
ALICE = Principal("alice@acme.example", frozenset({Role.APPROVER}))
BOB = Principal("bob@acme.example", frozenset({Role.APPROVER}))
CAROL = Principal(PERSON, frozenset({Role.APPROVER}))
OLGA = Principal("olga@acme.example", frozenset({Role.APPROVER, Role.OWNER}))
OPS = Principal("ops@acme.example", frozenset({Role.ADMIN}))
TOKEN = "test-admin-token"


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@pytest.fixture
def audit() -> Sink:
    return Sink()


def _owners(agent: str) -> Sequence[str]:
    return OWNERS.get(agent, [])


def _service(
    engine: AsyncEngine, audit: Sink, notifier: WebhookNotifier | None = None
) -> ApprovalService:
    return ApprovalService(engine, audit, notifier or WebhookNotifier(()), owners=_owners)


@pytest.fixture
def service(engine: AsyncEngine, audit: Sink) -> ApprovalService:
    return _service(engine, audit)


async def _hold(service: ApprovalService, now: datetime = NOW, **given: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "action_hash": HASH,
        "decision_id": "dec_1",
        "agent": AGENT,
        "person": PERSON,
        "tool": "payments.transfer",
        "mandate_id": "mnd_1",
        "chain_id": None,
        "session_id": "ses_1",
        "reasons": [{"code": "payments.large", "message": "a transfer over 10000 needs a person"}],
        "held": {"tool": "payments.transfer", "arguments": ARGS},
        "now": now,
    }
    return await service.hold(**{**fields, **given})


# -- the service -------------------------------------------------------------------------------


async def test_an_approval_releases_that_exact_action_once(
    service: ApprovalService, audit: Sink
) -> None:
    request = await _hold(service)
    assert service.check(request.id, HASH, NOW).code == "approval.pending"
    approved = await service.vote(request.id, ALICE, "approve", "checked the invoice", now=NOW)
    assert approved.status is ApprovalStatus.APPROVED
    later = NOW + timedelta(seconds=5)
    release = service.check(request.id, HASH, later)
    assert release.ok and release.code == "approval.granted"
    assert request.id in release.message and "alice@acme.example" in release.message
    altered = action_hash(AGENT, "call", "tool", "payments.transfer", {**ARGS, "amount": 48_001},
                          "mnd_1", None)  # fmt: skip
    assert service.check(request.id, altered, later).code == "approval.mismatch"
    assert service.check("apr_nope", HASH, later).code == "approval.unknown"
    used = await asyncio.gather(
        service.consume(request.id, later), service.consume(request.id, later)
    )
    assert sorted(used) == [False, True]
    replay = service.check(request.id, HASH, later)
    assert not replay.ok and replay.code == "approval.used"
    assert (await service.get(request.id)).status is ApprovalStatus.USED
    assert audit.types() == ["approval:requested", "approval:approved", "approval:used"]
    vote = audit.events[1][1]
    assert vote["approver"] == "alice@acme.example" and vote["comment"] == "checked the invoice"
    assert vote["final"] and vote["status"] == "approved"
    assert IBAN not in repr(audit.events)  # the held arguments never reach the ledger


async def test_consume_is_single_use_across_two_services_on_one_store(
    engine: AsyncEngine, audit: Sink
) -> None:
    """Two replicas (or two processes) sharing the store: only one consume wins."""
    first, second = _service(engine, audit), _service(engine, audit)
    request = await _hold(first)
    await first.vote(request.id, ALICE, "approve", now=NOW)
    await second.load(NOW)
    assert second.check(request.id, HASH, NOW).ok
    won = await asyncio.gather(first.consume(request.id, NOW), second.consume(request.id, NOW))
    assert sorted(won) == [False, True]


async def test_the_same_pending_action_is_held_once(service: ApprovalService) -> None:
    first = await _hold(service)
    again = await _hold(service, now=NOW + timedelta(seconds=1), decision_id="dec_2")
    assert again.id == first.id
    other = await _hold(service, action_hash="0" * 64)
    assert other.id != first.id


async def test_m_of_n_needs_distinct_approvers(service: ApprovalService) -> None:
    request = await _hold(service, required=2)
    one = await service.vote(request.id, ALICE, "approve", now=NOW)
    assert one.status is ApprovalStatus.PENDING and one.approvers == ("alice@acme.example",)
    assert service.check(request.id, HASH, NOW).code == "approval.pending"
    with pytest.raises(ApprovalConflict) as twice:
        await service.vote(request.id, ALICE, "approve", now=NOW)
    assert twice.value.code == "already_voted"
    two = await service.vote(request.id, BOB, "approve", now=NOW)
    assert two.status is ApprovalStatus.APPROVED
    assert "alice@acme.example" in service.check(request.id, HASH, NOW).message
    assert "bob@acme.example" in service.check(request.id, HASH, NOW).message


async def test_who_may_not_vote(service: ApprovalService) -> None:
    request = await _hold(service, separation_of_duties=True)
    for principal, code in ((CAROL, "own_request"), (OLGA, "sole_owner"), (OPS, "not_approver")):
        with pytest.raises(ApprovalForbidden) as refused:
            await service.vote(request.id, principal, "approve", now=NOW)
        assert refused.value.code == code, principal
        assert principal.name in refused.value.message
    assert (await service.get(request.id)).votes == ()
    # Without separation of duties the sole owner may approve; with it, a co-owner may.
    plain = await _hold(service, action_hash="1" * 64)
    assert (await service.vote(plain.id, OLGA, "approve", now=NOW)).status == "approved"
    shared = await _hold(service, action_hash="2" * 64, agent=OTHER, separation_of_duties=True)
    assert (await service.vote(shared.id, OLGA, "approve", now=NOW)).status == "approved"


async def test_any_deny_wins_and_closes_the_request(service: ApprovalService, audit: Sink) -> None:
    request = await _hold(service, required=2)
    await service.vote(request.id, ALICE, "approve", now=NOW)
    denied = await service.vote(request.id, BOB, "deny", "vendor not verified", now=NOW)
    assert denied.status is ApprovalStatus.DENIED
    with pytest.raises(ApprovalConflict) as late:
        await service.vote(request.id, OLGA, "approve", now=NOW)
    assert late.value.code == "approval_denied" and "denied" in late.value.message
    assert service.check(request.id, HASH, NOW).code == "approval.denied"
    assert not await service.consume(request.id, NOW)
    assert audit.events[-1][0] == "approval:denied"
    assert audit.events[-1][1]["comment"] == "vendor not verified"


async def test_a_request_nobody_decides_expires(service: ApprovalService, audit: Sink) -> None:
    request = await _hold(service, ttl=60)
    after = NOW + timedelta(seconds=61)
    assert service.check(request.id, HASH, after).code == "approval.expired"
    with pytest.raises(ApprovalConflict) as late:
        await service.vote(request.id, ALICE, "approve", now=after)
    assert late.value.code == "approval_expired"
    assert (await service.get(request.id)).status is ApprovalStatus.EXPIRED
    other = await _hold(service, action_hash="3" * 64, ttl=60)
    assert await service.expire_due(NOW + timedelta(seconds=30)) == 0
    assert await service.expire_due(after) == 1
    assert (await service.get(other.id)).status is ApprovalStatus.EXPIRED
    assert audit.types().count("approval:expired") == 2


async def test_an_approval_unused_by_its_expiry_releases_nothing(service: ApprovalService) -> None:
    request = await _hold(service, ttl=60)
    await service.vote(request.id, ALICE, "approve", now=NOW)
    after = NOW + timedelta(seconds=61)
    assert service.check(request.id, HASH, after).code == "approval.expired"
    assert not await service.consume(request.id, after)


async def test_an_approval_survives_a_restart(engine: AsyncEngine, audit: Sink) -> None:
    request = await _hold(_service(engine, audit))
    await _service(engine, audit).vote(request.id, ALICE, "approve", now=NOW)
    restarted = _service(engine, audit)
    assert await restarted.load(NOW) == 1
    assert restarted.check(request.id, HASH, NOW).ok
    assert await restarted.consume(request.id, NOW)


async def test_wait_returns_as_soon_as_an_approver_votes(service: ApprovalService) -> None:
    request = await _hold(service, now=datetime.now(UTC))
    still = await service.wait(request.id, timeout=0.05)
    assert still.status is ApprovalStatus.PENDING
    waiter = asyncio.create_task(service.wait(request.id, timeout=30))
    await _parked(service, request.id)
    await service.vote(request.id, ALICE, "approve", now=datetime.now(UTC))
    done = await asyncio.wait_for(waiter, 5)  # far below the 30 s timeout: it was woken
    assert done.status is ApprovalStatus.APPROVED


async def test_wait_reports_expiry(service: ApprovalService, audit: Sink) -> None:
    request = await _hold(service, now=datetime.now(UTC), ttl=1)
    done = await asyncio.wait_for(service.wait(request.id, timeout=30), 5)
    assert done.status is ApprovalStatus.EXPIRED
    assert "approval:expired" in audit.types()


async def test_cancel_by_any_filter_wakes_waiters(service: ApprovalService, audit: Sink) -> None:
    now = datetime.now(UTC)
    by_agent = await _hold(service, now=now)
    approved = await _hold(service, now=now, action_hash="4" * 64)
    await service.vote(approved.id, ALICE, "approve", now=now)
    by_chain = await _hold(service, now=now, action_hash="5" * 64, agent=OTHER, chain_id="chn_1")
    untouched = await _hold(service, now=now, action_hash="6" * 64, agent=OTHER, person=None)
    waiter = asyncio.create_task(service.wait(by_agent.id, timeout=30))
    await _parked(service, by_agent.id)
    cancelled = await service.cancel(
        reason="kill switch", actor="admin", now=now, agent=AGENT, chain_id="chn_1"
    )
    assert sorted(cancelled) == sorted([by_agent.id, approved.id, by_chain.id])
    assert (await asyncio.wait_for(waiter, 5)).status is ApprovalStatus.CANCELLED
    assert service.check(approved.id, "4" * 64, now).code == "approval.cancelled"
    assert (await service.get(untouched.id)).status is ApprovalStatus.PENDING
    assert (await service.get(by_chain.id)).status_reason == "kill switch"
    assert audit.types().count("approval:cancelled") == 3
    assert await service.cancel(reason="again", actor="admin", now=now, person=PERSON) == []
    with pytest.raises(InvalidApprovalInput):
        await service.cancel(reason="everything?", actor="admin", now=now)


async def test_a_new_request_is_sent_to_the_webhooks(
    engine: AsyncEngine, audit: Sink, webhook_receiver: WebhookReceiver
) -> None:
    notifier = WebhookNotifier([Webhook(webhook_receiver.url)], backoff=0.01)
    service = ApprovalService(
        engine, audit, notifier, owners=_owners, public_url="https://warden.acme.example/"
    )
    try:
        request = await _hold(service)
        await asyncio.wait_for(notifier.drained(), 10)
    finally:
        await notifier.close()
    [(_, body)] = webhook_receiver.received
    alert = orjson.loads(body)
    assert alert["kind"] == "approval.requested" and alert["severity"] == "high"
    assert "payments.transfer" in alert["summary"] and AGENT in alert["summary"]
    details = alert["details"]
    assert details["id"] == request.id and details["person"] == PERSON
    assert details["reasons"] == ["payments.large"]
    assert (
        details["approve_url"] == f"https://warden.acme.example/v1/approvals/{request.id}/approve"
    )
    assert IBAN not in body.decode()


async def _parked(service: ApprovalService, approval_id: str) -> None:
    """Yield until a waiter is parked on the request (so the test proves it is woken,
    rather than finding the request already decided)."""
    for _ in range(10_000):
        if approval_id in service._events:
            return
        await asyncio.sleep(0)
    raise AssertionError("the waiter never parked")


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def access(engine: AsyncEngine, audit: Sink) -> AccessService:
    return AccessService(engine, audit)


@pytest.fixture
async def people(access: AccessService) -> dict[str, dict[str, str]]:
    """Real people tokens (``wdn_…``), as ``POST /v1/access/tokens`` issues them."""
    issued = {}
    for name, person, roles in (
        ("alice", "alice@acme.example", [Role.APPROVER]),
        ("carol", PERSON, [Role.APPROVER]),
        ("audrey", "audrey@acme.example", [Role.AUDITOR]),
        ("olga", "olga@acme.example", [Role.OWNER]),
    ):
        _, secret = await access.issue(person, roles, actor="admin", now=datetime.now(UTC))
        issued[name] = {"Authorization": f"Bearer {secret}"}
    issued["admin"] = {"Authorization": f"Bearer {TOKEN}"}
    issued["none"] = {}
    return issued


@pytest.fixture
async def client(
    service: ApprovalService, access: AccessService
) -> AsyncIterator[httpx.AsyncClient]:
    admin = AdminAuth(TOKEN, people=lambda token: access.authenticate(token, datetime.now(UTC)))
    app = FastAPI()
    app.include_router(approvals_router(service, admin))

    @app.exception_handler(ApprovalError)
    async def _error(request: Request, exc: ApprovalError) -> JSONResponse:
        return approval_error_response(exc)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warden") as http:
        yield http


async def test_http_roles_and_votes(
    client: httpx.AsyncClient, service: ApprovalService, people: dict[str, dict[str, str]]
) -> None:
    request = await _hold(service, now=datetime.now(UTC))
    path = f"/v1/approvals/{request.id}"
    listed = await client.get(
        "/v1/approvals", params={"status": "pending"}, headers=people["audrey"]
    )
    assert listed.status_code == 200
    [shown] = listed.json()["approvals"]
    assert shown["id"] == request.id and shown["held"]["arguments"]["iban"] == IBAN
    assert (await client.get(path, headers=people["alice"])).json()["status"] == "pending"
    assert (await client.get(path, headers=people["none"])).status_code == 401
    assert (await client.get(path, headers=people["olga"])).status_code == 403
    auditor = await client.post(f"{path}/approve", headers=people["audrey"])
    assert auditor.status_code == 403
    admin = await client.post(f"{path}/approve", headers=people["admin"])
    assert admin.status_code == 403 and admin.json()["error"] == "not_approver"
    assert "approver" in admin.json()["message"]
    own = await client.post(f"{path}/approve", headers=people["carol"])
    assert own.status_code == 403 and own.json()["error"] == "own_request"
    waiter = asyncio.create_task(client.get(f"{path}/wait", params={"timeout": 30},
                                            headers=people["audrey"]))  # fmt: skip
    await _parked(service, request.id)
    voted = await client.post(f"{path}/approve", json={"comment": "ok"}, headers=people["alice"])
    assert voted.status_code == 200 and voted.json()["status"] == "approved"
    assert voted.json()["votes"][0]["comment"] == "ok"
    woken = await asyncio.wait_for(waiter, 5)
    assert woken.status_code == 200 and woken.json()["status"] == "approved"
    again = await client.post(f"{path}/deny", headers=people["alice"])
    assert again.status_code == 409 and again.json()["error"] == "approval_approved"


async def test_http_errors_are_clear(
    client: httpx.AsyncClient, people: dict[str, dict[str, str]]
) -> None:
    missing = await client.get("/v1/approvals/apr_nope", headers=people["admin"])
    assert missing.status_code == 404 and missing.json()["error"] == "approval_not_found"
    voted = await client.post("/v1/approvals/apr_nope/deny", headers=people["alice"])
    assert voted.status_code == 404
    too_long = await client.get("/v1/approvals/apr_nope/wait", params={"timeout": 61},
                                headers=people["admin"])  # fmt: skip
    assert too_long.status_code == 422
    bad = await client.get("/v1/approvals", params={"status": "maybe"}, headers=people["admin"])
    assert bad.status_code == 422
