"""Kill to enforcement on ANOTHER replica: two Warden runtimes on one PostgreSQL database.

A kill made on replica A is enforced on replica B when B hears it (``LISTEN``/``NOTIFY`` on
commit, see ``warden.kill.channel``). Per trial: kill on A, then time until B's memory has it
and until B's next decision for the agent is denied; revive, and time until B lets it act
again. Medians and p99 in milliseconds.

    .venv/bin/python bench/kill_replicas.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/kill_replicas.py --database … --quick
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _db import throwaway_database
from _stats import summary
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.kill.models import KillKind
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime

AGENT = "spiffe://acme.example/agent/clerk"
PERMIT_ALL = '@id("all") permit (principal, action, resource);\n'
READ = DecisionRequest(
    Entity("agent", AGENT), Action("invoke"), Entity("tool", "erp.invoice.read"), {}
)


async def run(url: str, trials: int) -> dict[str, list[float]]:
    a = await Runtime.open(url)
    b: Runtime | None = None
    times: dict[str, list[float]] = {"heard": [], "denied": [], "revived": [], "kill": []}
    try:
        await a.apply_policies(Bundle({"all.cedar": PERMIT_ALL}, default_schema()), author="b")
        spec = {"id": AGENT, "display_name": "clerk", "owner": "ann@acme.example", "team": "ap"}
        await a.registry.register_agent(
            AgentSpec.model_validate(spec), actor="bench", now=datetime.now(UTC)
        )
        b = await Runtime.open(url)  # replica B, on the same store, set up by A
        for _ in range(trials):
            assert (await b.decide(READ)).outcome is Outcome.ALLOW
            start = time.perf_counter()
            await a.kills.kill(
                KillKind.AGENT, AGENT, reason="bench", actor="bench", now=datetime.now(UTC)
            )
            times["kill"].append((time.perf_counter() - start) * 1000)
            assert await b.kills.until(KillKind.AGENT, AGENT, killed=True, timeout=10)
            times["heard"].append((time.perf_counter() - start) * 1000)
            assert (await b.decide(READ)).outcome is Outcome.DENY
            times["denied"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await a.kills.revive(
                KillKind.AGENT, AGENT, reason="bench", actor="bench", now=datetime.now(UTC)
            )
            assert await b.kills.until(KillKind.AGENT, AGENT, killed=False, timeout=10)
            times["revived"].append((time.perf_counter() - start) * 1000)
    finally:
        await a.close()
        if b is not None:
            await b.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--quick", action="store_true", help="30 trials (a few seconds)")
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    trials = args.trials or (30 if args.quick else 300)
    print(
        f"Warden kill across replicas · {os.cpu_count()} cpus · {time.strftime('%Y-%m-%d')} · "
        f"{trials} trials, two runtimes on one PostgreSQL database"
    )
    with throwaway_database(args.database) as url:
        times = asyncio.run(run(url, trials))
    print("ms, median / p99")
    rows = [
        ("kill on A (the request)", "kill"),
        ("kill on A → B holds it in memory", "heard"),
        ("kill on A → B's next action denied", "denied"),
        ("revive on A → B lets it act again", "revived"),
    ]
    for label, key in rows:
        median, p99 = summary(times[key])
        print(f"  {label:<40} {median:8.1f} / {p99:7.1f}")
    p99 = summary(times["denied"])[1]
    verdict = "met" if p99 <= 100 else "missed"
    print(f"kill → next action denied on another replica: {p99:.1f} ms p99 (≤ 100 ms: {verdict})")


if __name__ == "__main__":
    main()
