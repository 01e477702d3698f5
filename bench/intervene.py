"""Intervention benchmark (issue 8): how fast a kill stops the next action, and how fast an
approved step-up resumes. Prints figures against the issue's targets, no pass/fail. Results go
in docs/benchmarks.md.

    .venv/bin/python bench/intervene.py              # 300 trials of each (~40 s)
    .venv/bin/python bench/intervene.py --quick      # 40 trials of each (~5 s)
    .venv/bin/python bench/intervene.py --database postgresql://postgres@127.0.0.1/postgres
    (a throwaway database is created on that server and dropped afterwards)

A real Warden server (uvicorn on a free loopback port, its own event loop in a background
thread, a fresh SQLite file under /tmp by default), provisioned only through its HTTP API: a
permit-all bundle, four tools, two agents, a purpose profile whose ``payments.transfer`` is
always stepped up, one mandate per agent, and a person's ``approver`` token for bob. The
clients share one event loop in the main thread and keep their connections alive.

Each round runs one trial of each kind, in a fresh random order (so machine noise hits every
kind alike):

- **kill → next action** (HTTP): a workflow sends AuthZEN evaluations for the ``worker``
  agent back to back; after a random 5-50 ms a second client POSTs ``/v1/kill`` for it.
  Measured from the kill request being sent to the first decision returned for a request the
  workflow sent *after* the kill response arrived (the next action), which must be a deny
  (``kill.agent``). Any allowed decision for a request sent after the kill response is
  counted as a violation. The kill request's own latency is reported beside it, and so are
  the two other parts of the wait: the workflow's call in flight when the kill answered, and
  the next decision itself. Then ``/v1/revive``.
- **kill → next action** (in process, on the server's loop): ``runtime.kills.kill`` then
  ``runtime.decide``, and ``runtime.decide`` of the same action while alive for reference —
  where the time goes without HTTP.
- **approval → resumed call** (HTTP): the enforcement point sends a payment for ``payer``,
  which is stepped up; it long-polls ``GET /v1/approvals/{id}/wait?timeout=30`` while bob,
  after a random 2-20 ms, POSTs ``approve``; as soon as the wait answers ``approved`` the
  enforcement point sends the same action with ``context.approval``. Measured from the
  approve request being sent to that decision returning allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from _db import throwaway_database
from _stats import percentile
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.kill.models import KillKind
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.server.loop import loop_factory
from warden.tokens.settings import TokenSettings

ADMIN_TOKEN = "intervene-bench-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
PERSON = "ann@acme.example"
APPROVER = "bob@acme.example"
WORKER = f"spiffe://{DOMAIN}/agent/worker"  # killed and revived
PAYER = f"spiffe://{DOMAIN}/agent/payer"  # its payments are stepped up
READ = "erp.invoice.read"
PAY = "payments.transfer"
KILL_TARGET_MS = 100.0
APPROVAL_TARGET_MS = 1000.0
PERMIT_ALL = '@id("all") permit (principal, action, resource);\n'
TOOLS = {
    READ: {"read_only": True, "destructive": False, "external": False},
    PAY: {"read_only": False, "destructive": False, "external": True},
    "email.send": {"read_only": False, "destructive": False, "external": True},
    "crm.contacts.export": {"read_only": True, "destructive": False, "external": False},
}
PROFILE = """
name: supplier-payments
description: Pay approved supplier invoices after reading them.
examples:
  - Pay the approved invoices from Acme Supplies
  - Settle supplier invoice INV-2041
tools:
  - tool: erp.invoice.read
    read_only: true
  - tool: payments.transfer
  - tool: email.send
step_up:
  - tools: ["payments.*"]
"""
MANDATE_REQUEST = "Pay the approved invoices from Acme Supplies"
Clock = Callable[[], float]
clock: Clock = time.perf_counter


# -- the server --------------------------------------------------------------------------


class LiveServer:
    """A real Warden server (uvicorn on a free loopback port) on its own event loop in a
    background thread, as the integration tests run it; ``call`` runs a coroutine on the
    server's loop (for the in-process variant)."""

    def __init__(self, database: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._database, self._port = database, port
        factory = loop_factory()  # uvloop, as `warden serve` runs
        self.loop = factory() if factory else asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        settings = TokenSettings(issuer=self.url, trust_domain=DOMAIN)
        self.runtime = await Runtime.open(self._database, token_settings=settings)
        app = create_app(self.runtime, admin_token=ADMIN_TOKEN)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self._port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        try:
            await self._server.serve()
        finally:
            await self.runtime.close()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # readiness poll, bounded
            if self._server is not None and self._server.started:
                return
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(20)
        self.loop.close()

    async def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the server's loop; awaited from the client's loop."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(future)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- provisioning, through the HTTP API ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    """What the clients hold: each agent's mandate and the approver's header (in memory,
    never printed)."""

    mandates: Mapping[str, str]
    approver: Mapping[str, str]


async def provision(http: httpx.AsyncClient) -> Setup:
    await _ok(http.post("/v1/policies", json={"policies": {"all.cedar": PERMIT_ALL}}))
    await _ok(http.post("/v1/profiles", content=PROFILE.encode()))
    for name, marks in TOOLS.items():
        await _ok(http.post("/v1/tools", json={"name": name, "annotations": marks}))
    mandates = {}
    for agent in (WORKER, PAYER):
        spec = {"id": agent, "display_name": agent.rsplit("/", 1)[1], "owner": PERSON}
        await _ok(http.post("/v1/agents", json={**spec, "team": "finance"}))
        mandate = {"person": PERSON, "request": MANDATE_REQUEST, "profile": "supplier-payments"}
        body = await _ok(http.post("/v1/mandates", json={**mandate, "agent": agent}))
        mandates[agent] = str(body["token"])
    person = {"person": APPROVER, "roles": ["approver"]}
    body = await _ok(http.post("/v1/access/tokens", json=person))
    return Setup(mandates, {"Authorization": f"Bearer {body['token']}"})


async def _ok(sent: Awaitable[httpx.Response]) -> dict[str, Any]:
    answer = await sent
    if answer.status_code not in (200, 201):
        raise SystemExit(f"{answer.request.method} {answer.request.url.path}: {answer.text}")
    return dict(answer.json())


def evaluation(agent: str, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": tool},
        "context": {"arguments": dict(arguments)},
    }


def codes(answer: Mapping[str, Any]) -> list[str]:
    return [r["code"] for r in answer.get("context", {}).get("reasons", ())]


# -- kill → next action, over HTTP ---------------------------------------------------------


@dataclass(slots=True)
class Sent:
    sent: float
    returned: float
    allowed: bool
    codes: list[str]


@dataclass(slots=True)
class Workflow:
    """An agent's workflow: evaluations back to back until stopped; ``answered_after`` is set
    once a request sent after ``watermark`` has returned."""

    http: httpx.AsyncClient
    body: dict[str, Any]
    headers: dict[str, str]
    calls: list[Sent] = field(default_factory=list)
    watermark: float = float("inf")
    answered_after: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.answered_after.is_set():
            sent = clock()
            answer = await self.http.post(
                "/access/v1/evaluation", json=self.body, headers=self.headers
            )
            returned = clock()
            result = answer.json()
            self.calls.append(Sent(sent, returned, result.get("decision") is True, codes(result)))
            if sent >= self.watermark:
                self.answered_after.set()


@dataclass(frozen=True, slots=True)
class KillTrial:
    kill_ms: float  # the kill request, sent to answered
    next_action_ms: float  # kill sent → the next action's deny returned
    first_deny_ms: float  # kill sent → the first deny returned, whenever its call was sent
    in_flight_ms: float  # kill answered → the workflow's call in flight returned
    decision_ms: float  # the next action's own round trip
    violations: int  # allowed decisions for requests sent after the kill answered
    denied_in_flight: bool  # the call in flight was already denied


async def kill_trial(http: httpx.AsyncClient, setup: Setup, rng: random.Random) -> KillTrial:
    headers = {**ADMIN, "Txn-Token": setup.mandates[WORKER]}
    workflow = Workflow(http, evaluation(WORKER, READ, {"invoice": "INV-2041"}), headers)
    running = asyncio.create_task(workflow.run())
    await asyncio.sleep(rng.uniform(0.005, 0.05))  # a random moment in the workflow
    body = {"kind": "agent", "target": WORKER, "reason": "bench: kill to next action"}
    sent = clock()
    await _ok(http.post("/v1/kill", json=body))
    answered = clock()
    workflow.watermark = answered
    await asyncio.wait_for(workflow.answered_after.wait(), 10)
    await running
    trial = _kill_trial(workflow.calls, sent, answered)
    await _ok(http.post("/v1/revive", json={**body, "reason": "bench: revived"}))
    return trial


def _kill_trial(calls: list[Sent], sent: float, answered: float) -> KillTrial:
    if not any(c.allowed for c in calls if c.sent < sent):
        raise SystemExit(f"the workflow was not running before the kill: {calls[0].codes}")
    after = [c for c in calls if c.sent >= answered]
    nxt = after[0]
    if nxt.allowed or "kill.agent" not in nxt.codes:
        raise SystemExit(f"the next action after a kill was not denied by it: {nxt.codes}")
    before = [c for c in calls if c.sent < answered]
    in_flight = before[-1] if before and before[-1].returned >= answered else None
    return KillTrial(
        kill_ms=(answered - sent) * 1000,
        next_action_ms=(nxt.returned - sent) * 1000,
        first_deny_ms=(min(c.returned for c in calls if not c.allowed) - sent) * 1000,
        in_flight_ms=((in_flight.returned - answered) * 1000) if in_flight else 0.0,
        decision_ms=(nxt.returned - nxt.sent) * 1000,
        violations=sum(c.allowed for c in after),
        denied_in_flight=in_flight is not None and not in_flight.allowed,
    )


async def idle_kill(http: httpx.AsyncClient) -> float:
    """The kill request (ms) with no workflow running: what the busy server adds to it."""
    body = {"kind": "agent", "target": WORKER, "reason": "bench: kill, no other traffic"}
    sent = clock()
    await _ok(http.post("/v1/kill", json=body))
    answered = clock()
    await _ok(http.post("/v1/revive", json={**body, "reason": "bench: revived"}))
    return (answered - sent) * 1000


# -- kill → next action, in process --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InProcessTrial:
    kill_ms: float  # KillSwitch.kill: store insert, effects, audit record
    denied_ms: float  # Runtime.decide of the next action, denied by the kill
    alive_ms: float  # Runtime.decide of the same action while alive (reference)


async def in_process(runtime: Runtime, mandate: str) -> InProcessTrial:
    """Runs on the server's loop (no HTTP in the way)."""
    request = DecisionRequest(
        subject=Entity("agent", WORKER),
        action=Action("invoke"),
        resource=Entity("tool", READ),
        context={"mandate": mandate, "arguments": {"invoice": "INV-2041"}},
    )
    start = clock()
    alive = await runtime.decide(request, where="authzen")
    alive_s = clock() - start
    reason = "bench: in-process kill"
    start = clock()
    await runtime.kills.kill(KillKind.AGENT, WORKER, reason=reason, actor="bench", now=_now())
    killed = clock()
    denied = await runtime.decide(request, where="authzen")
    decided = clock()
    await runtime.kills.revive(KillKind.AGENT, WORKER, reason=reason, actor="bench", now=_now())
    if alive.outcome is not Outcome.ALLOW or denied.outcome is not Outcome.DENY:
        raise SystemExit(f"in process: alive {alive.outcome}, after the kill {denied.outcome}")
    return InProcessTrial((killed - start) * 1000, (decided - killed) * 1000, alive_s * 1000)


def _now() -> datetime:
    return datetime.now(UTC)


# -- approval → resumed call ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalTrial:
    approve_ms: float  # the approve request, sent to answered
    woken_ms: float  # approve sent → the enforcement point's long-poll answered
    resumed_ms: float  # approve sent → the re-submitted action returned allowed


async def approval_trial(
    http: httpx.AsyncClient, setup: Setup, rng: random.Random
) -> ApprovalTrial:
    headers = {**ADMIN, "Txn-Token": setup.mandates[PAYER]}
    body = evaluation(
        PAYER, PAY, {"amount": rng.randint(100, 9000), "iban": "DE89370400440532013000"}
    )
    held = await _ok(http.post("/access/v1/evaluation", json=body, headers=headers))
    if held.get("decision") is not False or held["context"].get("outcome") != "step_up":
        raise SystemExit(f"the payment was not stepped up: {codes(held)}")
    approval = held["context"]["approval"]["id"]
    waiting = asyncio.create_task(
        http.get(f"/v1/approvals/{approval}/wait", params={"timeout": 30}, headers=ADMIN)
    )
    await asyncio.sleep(rng.uniform(0.002, 0.02))  # the approver reads the request
    sent = clock()
    voted = asyncio.create_task(
        _timed(http.post(f"/v1/approvals/{approval}/approve", json={}, headers=setup.approver))
    )
    status = (await waiting).json().get("status")
    woken = clock()
    if status != "approved":
        raise SystemExit(f"the wait answered `{status}`, not approved")
    body["context"]["approval"] = approval
    released = await _ok(http.post("/access/v1/evaluation", json=body, headers=headers))
    resumed = clock()
    approve_ms = (await voted - sent) * 1000
    if released.get("decision") is not True:
        raise SystemExit(f"the approved action was not released: {codes(released)}")
    return ApprovalTrial(approve_ms, (woken - sent) * 1000, (resumed - sent) * 1000)


async def _timed(sent: Awaitable[httpx.Response]) -> float:
    """When the request answered (it must succeed)."""
    await _ok(sent)
    return clock()


# -- rounds --------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    kills: list[KillTrial] = field(default_factory=list)
    idle_kills: list[float] = field(default_factory=list)
    in_process: list[InProcessTrial] = field(default_factory=list)
    approvals: list[ApprovalTrial] = field(default_factory=list)


async def rounds(server: LiveServer, trials: int, warmup: int, seed: int) -> Results:
    rng = random.Random(seed)
    results = Results()
    limits = httpx.Limits(max_keepalive_connections=8)
    async with httpx.AsyncClient(
        base_url=server.url, headers=ADMIN, timeout=40, limits=limits
    ) as http:
        setup = await provision(http)
        runtime = server.runtime
        assert runtime is not None

        async def http_kill() -> None:
            results.kills.append(await kill_trial(http, setup, rng))

        async def quiet_kill() -> None:
            results.idle_kills.append(await idle_kill(http))

        async def local_kill() -> None:
            results.in_process.append(
                await server.call(in_process(runtime, setup.mandates[WORKER]))
            )

        async def approve() -> None:
            results.approvals.append(await approval_trial(http, setup, rng))

        kinds: dict[str, Callable[[], Awaitable[None]]] = {
            "kill": http_kill,
            "idle kill": quiet_kill,
            "in process": local_kill,
            "approval": approve,
        }
        for index in range(warmup + trials):
            order = list(kinds)
            rng.shuffle(order)
            for kind in order:
                await kinds[kind]()
            if index + 1 == warmup:
                results = Results()  # warm-up rounds are not counted
    return results


# -- report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    median: float
    p99: float
    low: float  # 95% bootstrap interval of the p99
    high: float

    @classmethod
    def of(cls, samples: list[float]) -> Figures:
        low, high = p99_interval(samples)
        return cls(statistics.median(samples), percentile(samples, 99), low, high)

    def cell(self) -> str:
        return f"{self.median:7.1f} / {self.p99:7.1f}  ({self.low:6.1f} … {self.high:6.1f})"


def p99_interval(samples: list[float], resamples: int = 400) -> tuple[float, float]:
    """95% bootstrap interval of the p99: with a few hundred trials the p99 is the 2nd-3rd
    largest sample, so it is read with its noise rather than as one number."""
    rng = random.Random(17)
    estimates = [percentile(rng.choices(samples, k=len(samples)), 99) for _ in range(resamples)]
    return percentile(estimates, 2.5), percentile(estimates, 97.5)


def table(results: Results) -> list[str]:
    kills, local, approvals = results.kills, results.in_process, results.approvals
    rows = [
        ("kill → next action denied (HTTP)", [t.next_action_ms for t in kills]),
        ("  the kill request", [t.kill_ms for t in kills]),
        ("  the kill request, no other traffic", results.idle_kills),
        ("kill → first deny returned (any call)", [t.first_deny_ms for t in kills]),
        ("  the call in flight, after the kill answered", [t.in_flight_ms for t in kills]),
        ("  the next action's round trip", [t.decision_ms for t in kills]),
        ("kill → next action denied (in process)", [t.kill_ms + t.denied_ms for t in local]),
        ("  KillSwitch.kill", [t.kill_ms for t in local]),
        ("  Runtime.decide, denied by the kill", [t.denied_ms for t in local]),
        ("  Runtime.decide, alive (reference)", [t.alive_ms for t in local]),
        ("approve → resumed call allowed (HTTP)", [t.resumed_ms for t in approvals]),
        ("  the approve request", [t.approve_ms for t in approvals]),
        ("  approve → long-poll answered", [t.woken_ms for t in approvals]),
    ]
    lines = [
        "ms, median / p99 (95% bootstrap interval of the p99)",
        f"  {'':<46} {'trials':>6}  {'median / p99':>17}  {'p99 interval':>17}",
    ]
    lines += [f"  {label:<46} {len(s):>6}  {Figures.of(s).cell()}" for label, s in rows]
    violations = sum(t.violations for t in kills)
    early = sum(t.denied_in_flight for t in kills)
    lines.append(
        f"\n  allowed after the kill answered: {violations} of {len(kills)} trials; "
        f"the call in flight was already denied in {early}"
    )
    return lines + _targets(kills, approvals)


def _targets(kills: list[KillTrial], approvals: list[ApprovalTrial]) -> list[str]:
    stop = Figures.of([t.next_action_ms for t in kills])
    resume = Figures.of([t.resumed_ms for t in approvals])
    checks = [
        ("kill to enforcement on the next action", stop, KILL_TARGET_MS),
        ("approval to resumed call", resume, APPROVAL_TARGET_MS),
    ]
    lines = [f"\n  {'target (issue 8)':<40} {'p99 ≤':>8}  {'measured p99':>12}  met"]
    for label, figures, target in checks:
        met = (
            "yes"
            if figures.high <= target
            else "yes (interval crosses)"
            if figures.p99 <= target
            else "NO"
        )
        lines.append(f"  {label:<40} {target:>5.0f} ms  {figures.p99:>9.1f} ms  {met}")
    return lines


# -- main ----------------------------------------------------------------------------------


def run(database: str, trials: int, warmup: int) -> None:
    started = time.perf_counter()
    server = LiveServer(database, free_port())
    server.start()
    try:
        runner = asyncio.Runner(loop_factory=loop_factory())
        with runner:
            results = runner.run(rounds(server, trials, warmup, seed=7))
    finally:
        server.stop()
    print("\n".join(table(results)))
    print(f"  (total {time.perf_counter() - started:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 trials of each (< 30 s)")
    parser.add_argument("--trials", type=int, default=None, help="trials of each kind")
    parser.add_argument("--database", help="a PostgreSQL server URL (throwaway database)")
    args = parser.parse_args()
    trials = args.trials or (40 if args.quick else 300)
    warmup = 3 if args.quick else 10
    print(
        f"Warden intervention benchmark · python {sys.version.split()[0]} · "
        f"{os.cpu_count()} cpus · {time.strftime('%Y-%m-%d')} · {trials} trials of each"
    )
    if args.database:
        with throwaway_database(args.database) as url:
            print("\nPostgreSQL store (throwaway database):")
            run(url, trials, warmup)
        return
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        print("\nSQLite store (fresh file under /tmp):")
        run(f"sqlite:///{folder}/intervene.db", trials, warmup)


if __name__ == "__main__":
    main()
