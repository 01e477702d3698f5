"""Inventory benchmark (issue 4): prints figures, no pass/fail. Results go in
docs/benchmarks.md.

    .venv/bin/python bench/inventory.py                 # ~1 minute, embedded SQLite
    .venv/bin/python bench/inventory.py --postgres postgresql://postgres@127.0.0.1/postgres

With 10,000 agents registered (a third with co-owners, half with recorded activity):
(a) the admin API's inventory page (``GET /v1/agents``) through the real FastAPI app,
    ms p50/p95/p99 per query shape: first page, a deep page, filters, search, sorts;
(b) a lifecycle change: ms until ``transition`` returns (the next decision already sees
    it), and how long the background rebuild of the decision view takes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from _stats import percentile
from warden.decisions.models import Action, DecisionRequest, Entity
from warden.registry.models import AgentStatus
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime
from warden.server.app import create_app

N = 10_000
ADMIN = "bench-admin-token"
NOW = datetime.now(UTC)


def specs() -> list[AgentSpec]:
    return [
        AgentSpec(
            id=f"spiffe://acme.example/agent/{team}-{i:05d}",
            display_name=f"{('Payroll', 'Invoice', 'Triage', 'CRM')[i % 4]} agent {i}",
            owner=f"owner{i % 400}@acme.example",
            co_owners=[f"deputy{i % 97}@acme.example"] if i % 3 == 0 else [],
            team=team,
            risk_tier=("low", "medium", "high", "critical")[i % 4],
            purpose=f"purpose {i % 25}",
        )
        for i in range(N)
        for team in [f"team{i % 60:02d}"]
    ]


QUERIES: dict[str, dict[str, Any]] = {
    "first page (50)": {},
    "page at offset 9,000": {"offset": 9000},
    "team": {"team": "team07"},
    "owner (any of owners)": {"owner": "deputy13@acme.example"},
    "status=suspended": {"status": "suspended"},
    "risk=critical, team": {"risk_tier": "critical", "team": "team07"},
    "search 'payroll agent 99'": {"q": "payroll agent 99"},
    "idle 7 days": {"inactive_since": (NOW - timedelta(days=7)).isoformat()},
    "sort last_active desc": {"sort": "last_active_at", "desc": "true"},
    "sort name, page 100": {"sort": "display_name", "offset": 5000},
}


async def run(url: str, reps: int) -> None:
    runtime = await Runtime.open(url)
    try:
        agents = specs()
        started = time.perf_counter()
        await runtime.registry.register_agents(agents, actor="bench", now=NOW)
        print(f"registered {N:,} agents in {time.perf_counter() - started:.1f} s")
        for i, spec in enumerate(agents[: N // 2]):
            runtime._activity[spec.id] = NOW - timedelta(days=i % 30)
        await runtime.housekeep()
        for spec in agents[:100]:  # a few suspended ones
            await runtime.registry.transition(
                spec.id, AgentStatus.SUSPENDED, actor="bench", reason="bench", now=NOW
            )
        await runtime.refresh()

        app = create_app(runtime, admin_token=ADMIN)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as http:
            print(f"\n(a) GET /v1/agents, {reps} requests each, ms")
            print(f"  {'query':<28} {'matches':>8} {'p50':>7} {'p95':>7} {'p99':>7}")
            for name, params in QUERIES.items():
                samples = []
                total = 0
                for _ in range(reps):
                    start = time.perf_counter_ns()
                    response = await http.get("/v1/agents", params=params, headers=headers)
                    samples.append((time.perf_counter_ns() - start) / 1e6)
                    assert response.status_code == 200, response.text
                    total = response.json()["total"]
                print(
                    f"  {name:<28} {total:>8,} {statistics.median(samples):>7.2f} "
                    f"{percentile(samples, 95):>7.2f} {percentile(samples, 99):>7.2f}"
                )

        print("\n(b) lifecycle change among 10,000 agents, ms")
        changes, rebuilds = [], []
        target = agents[N // 2].id
        request = DecisionRequest(Entity("agent", target), Action("invoke"), Entity("tool", "t"))
        for i in range(40):
            to = AgentStatus.SUSPENDED if i % 2 == 0 else AgentStatus.ACTIVE
            start = time.perf_counter_ns()
            await runtime.registry.transition(target, to, actor="bench", reason="bench", now=NOW)
            changes.append((time.perf_counter_ns() - start) / 1e6)
            decision = await runtime.decide(request)
            assert (decision.outcome.value == "deny") == (to is AgentStatus.SUSPENDED) or (
                to is AgentStatus.ACTIVE
            )
            start = time.perf_counter_ns()
            await runtime.settled()  # the full rebuild the change scheduled
            rebuilds.append((time.perf_counter_ns() - start) / 1e6)
        print(
            f"  transition returns (next decision sees it): p50 {statistics.median(changes):.1f}"
            f"  p99 {percentile(changes, 99):.1f}"
        )
        print(
            f"  full view rebuild (background):             p50 {statistics.median(rebuilds):.0f}"
            f"  p99 {percentile(rebuilds, 99):.0f}"
        )
    finally:
        await runtime.close()


@contextlib.contextmanager
def throwaway_postgres(server: str) -> Iterator[str]:
    name = f"warden_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a throwaway database)")
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    if args.postgres:
        with throwaway_postgres(args.postgres) as url:
            print(f"store: PostgreSQL ({url.rsplit('@', 1)[-1]})")
            asyncio.run(run(url, args.reps))
        return
    with tempfile.TemporaryDirectory() as folder:
        print("store: embedded SQLite")
        asyncio.run(run(f"sqlite:///{folder}/warden.db", args.reps))


if __name__ == "__main__":
    main()
