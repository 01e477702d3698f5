"""Decision benchmarks: prints figures, no pass/fail. Results go in docs/benchmarks.md.

    .venv/bin/python bench/decision.py            # everything (~3 minutes)
    .venv/bin/python bench/decision.py --quick    # fewer iterations, shorter HTTP runs

(a) In-process: the pure pipeline (`evaluate`) and `Runtime.decide` (with the SQLite ledger)
    next to raw cedarpy on the same prepared policies, entities and request, as ratios.
(b) HTTP: AuthZEN evaluation requests/s and latency at concurrency 1, 16 and 64 next to a
    bare JSON echo route on the same server stack (uvicorn + FastAPI, one worker), with the
    ledger on and off. Needs `wrk` (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cedarpy
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _stats import summary, time_calls
from fleet import ACTION, NOW, RESOURCE, SUBJECT, agents, policies, tools
from warden.decisions.analysers import DEFAULT_ANALYSERS
from warden.decisions.models import Action, DecisionRequest, Entity
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.policy.engine import PreparedPolicies
from warden.registry.entities import RegistrySnapshot
from warden.registry.store.sql import SqlRegistryStore
from warden.runtime import Runtime

REQUEST = DecisionRequest(Entity(**SUBJECT), Action(ACTION), Entity(**RESOURCE))  # type: ignore[arg-type]


def row(label: str, samples: list[float], reference: float | None = None) -> str:
    p50, p99 = summary(samples)
    ratio = f"{p50 / reference:5.2f}x" if reference else "      "
    return f"  {label:<44} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs   {ratio}"


def in_process(n_policies: int, n_agents: int, iterations: int) -> None:
    bundle = policies(n_policies)
    prepared = PreparedPolicies.prepare(bundle, 1)
    view = DecisionView.build(prepared, RegistrySnapshot.of(agents(n_agents), tools()))
    decision = evaluate(view, DEFAULT_ANALYSERS, REQUEST, NOW, "bench")
    raw_request = {
        "principal": {"type": "Agent", "id": SUBJECT["id"]},
        "action": {"type": "Action", "id": ACTION},
        "resource": {"type": "Tool", "id": RESOURCE["id"]},
        "context": dict(decision.features),
    }
    full = cedarpy.PolicySet.from_str(bundle.policies["bench.cedar"])
    raw = cedarpy.is_authorized(raw_request, full, view.graph.handle)
    assert raw.allowed and decision.allowed, (raw.decision, decision)
    sliced = prepared._slice(("Action", ACTION, "Tool", RESOURCE["id"])).policies
    print(f"\n{n_policies} policies, {len(view.graph)} entities ({n_agents} agents), one worker:")
    ref = time_calls(
        lambda: cedarpy.is_authorized(raw_request, full, view.graph.handle), iterations
    )
    print(row("raw cedarpy, all policies (reference)", ref))
    reference = summary(ref)[0]
    pre = time_calls(
        lambda: cedarpy.is_authorized(raw_request, sliced, view.graph.handle), iterations
    )
    print(row("raw cedarpy, pre-sliced for this request", pre, reference))
    pipe = time_calls(lambda: evaluate(view, DEFAULT_ANALYSERS, REQUEST, NOW, "b"), iterations)
    print(row("warden evaluate() (pipeline, no ledger)", pipe, reference))
    everything, recorded = asyncio.run(_runtime_decide(bundle, n_agents, iterations // 4))
    print(row("warden evaluate(), the runtime's analysers", everything, reference))
    print(row("warden Runtime.decide() (+ SQLite ledger)", recorded, reference))


async def _runtime_decide(
    bundle: Any, n_agents: int, iterations: int
) -> tuple[list[float], list[float]]:
    """The pipeline with every analyser the runtime runs (identity, risk, shadow blocks,
    entitlements), and ``Runtime.decide`` with the ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = await _runtime(f"sqlite:///{tmp}/w.db", bundle, n_agents)
        try:
            view, analysers = runtime.view, runtime.analysers
            everything = time_calls(
                lambda: evaluate(view, analysers, REQUEST, NOW, "b"), iterations
            )
            for _ in range(100):
                await runtime.decide(REQUEST)
            samples = []
            for _ in range(iterations):
                start = time.perf_counter_ns()
                await runtime.decide(REQUEST)
                samples.append((time.perf_counter_ns() - start) / 1000)
            return everything, samples
        finally:
            await runtime.close()


async def _runtime(url: str, bundle: Any, n_agents: int) -> Runtime:
    runtime = await Runtime.open(url)
    store = SqlRegistryStore(runtime._engine)
    await store.insert_agents(agents(n_agents))
    for tool in tools():
        await store.upsert_tool(tool)
    await runtime.apply_policies(bundle, author="bench")
    return runtime


def ledger_throughput(concurrency: int, per_task: int) -> None:
    """Decisions/s with `concurrency` concurrent callers, ledger on vs the pipeline alone."""

    async def run() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = await _runtime(f"sqlite:///{tmp}/w.db", policies(100), 1000)
            try:
                view = runtime.view

                async def pipeline_only() -> None:
                    for _ in range(per_task):
                        evaluate(view, DEFAULT_ANALYSERS, REQUEST, NOW, uuid.uuid4().hex)
                        await asyncio.sleep(0)

                async def recorded() -> None:
                    for _ in range(per_task):
                        await runtime.decide(REQUEST)

                off = await _rate(pipeline_only, concurrency, per_task)
                on = await _rate(recorded, concurrency, per_task)
                return on, off
            finally:
                await runtime.close()

    on, off = asyncio.run(run())
    print(
        f"\nLedger cost, in-process, {concurrency} concurrent callers:\n"
        f"  ledger off {off:9,.0f} decisions/s   ledger on {on:9,.0f} decisions/s   "
        f"on/off {on / off:5.1%}"
    )


async def _rate(task: Any, concurrency: int, per_task: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    return concurrency * per_task / (time.perf_counter() - start)


# --- HTTP -------------------------------------------------------------------------------

WRK_LINE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_PCT = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(tmp: str, no_ledger: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = [sys.executable, str(Path(__file__).parent / "_server.py"), "--port", str(port)]
    args += ["--database-url", f"sqlite:///{tmp}/{'off' if no_ledger else 'on'}.db"]
    args += ["--no-ledger"] if no_ledger else []
    proc = subprocess.Popen(args)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("benchmark server did not start")


def _wrk(
    url: str, body: bytes, connections: int, seconds: int, tmp: str
) -> tuple[float, float, float]:
    script = Path(tmp) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body.decode()}]]\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(WRK_LINE.search(out).group(1))  # type: ignore[union-attr]
    pct = {m[0]: float(m[1]) * UNIT[m[2]] for m in WRK_PCT.findall(out)}
    return rps, pct["50"], pct["99"]


def http(seconds: int) -> None:
    if not shutil.which("wrk"):
        print("\nHTTP: skipped — install wrk (Debian: apt-get install wrk)")
        return
    body = orjson.dumps(
        {"subject": SUBJECT, "action": {"name": ACTION}, "resource": RESOURCE, "context": {"n": 1}}
    )
    print("\nHTTP, one uvicorn worker, wrk 1 thread on the same 2-core machine:")
    with tempfile.TemporaryDirectory() as tmp:
        for no_ledger in (False, True):
            proc, url = _start_server(tmp, no_ledger)
            try:
                answer = httpx.post(
                    f"{url}/access/v1/evaluation",
                    content=body,
                    headers={"Content-Type": "application/json"},
                ).json()
                assert answer["decision"] is True, answer
                for c in (1, 16, 64) if not no_ledger else (16,):
                    echo = _wrk(f"{url}/bench/echo", body, c, seconds, tmp)
                    ev = _wrk(f"{url}/access/v1/evaluation", body, c, seconds, tmp)
                    label = "ledger off" if no_ledger else "ledger on "
                    ratio = ev[0] / echo[0]
                    print(f"  c={c:<3} {label}  {_http_row('echo', echo)} | ", end="")
                    print(f"{_http_row('eval', ev)} | eval/echo {ratio:5.1%}")
            finally:
                proc.terminate()
                proc.wait()


def _http_row(label: str, figures: tuple[float, float, float]) -> str:
    rps, p50, p99 = figures
    return f"{label} {rps:7,.0f} req/s (p50 {p50:6.0f} µs, p99 {p99:7.0f} µs)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations, shorter HTTP runs")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    iterations = 2000 if args.quick else 10000
    print(
        f"Warden decision benchmark · python {sys.version.split()[0]} · "
        f"cedarpy {version('cedarpy')} · {os.cpu_count()} cpus · {time.strftime('%Y-%m-%d')}"
    )
    in_process(100, 1000, iterations)
    in_process(1000, 9700, iterations)
    ledger_throughput(16, 300 if args.quick else 1000)
    if not args.skip_http:
        http(3 if args.quick else 8)


if __name__ == "__main__":
    main()
