"""Gateway benchmark (issue 9): the latency Warden's gateways add over calling the same upstream
directly, p50/p99, in the same run. Prints figures against the targets, no pass/fail.

    .venv/bin/python bench/gateway.py            # 2,000 rounds (~1-2 min)
    .venv/bin/python bench/gateway.py --quick    # 300 rounds

Three processes on loopback: the upstreams (bench/_gateway_peers.py: a FastMCP server over
streamable HTTP and a Starlette JSON API that wants an API key), a real ``warden serve`` on a
fresh SQLite store (provisioned through its HTTP API only: a permit-all bundle, a tool, an
agent with a confidential OAuth client, a purpose profile and a mandate, an MCP connection and
an HTTP connection), and this client. The client holds one MCP session to the upstream and one
through ``/mcp/bench``, and one keep-alive HTTP connection to each of the API and
``/egress/bench-api``.

Each round makes six calls in a fresh random order: the MCP tool directly and through the
gateway (``tools/call``, with the agent's token and mandate), the HTTP route directly (with the
key) and through egress (with the agent's token and mandate; Warden injects the key), and, to
show where the added time goes, the same decision asked over AuthZEN and Warden's ``/healthz``.
"Added" is gateway minus direct, per round, so noise hits both alike; every gateway call is a
full decision recorded in the ledger before it is forwarded, and an observation of the result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

sys.path.insert(0, str(Path(__file__).parent))

from _stats import percentile

ADMIN = "bench-admin-token-0123456789"
AGENT = "spiffe://bench.example/agent/payer"
PROFILE = """
name: invoice-reading
description: Read supplier invoices.
examples: [Read invoice INV-2041 from Acme Supplies]
tools:
  - tool: bench.read_invoice
    read_only: true
  - tool: erp.invoice.read
    read_only: true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def provision(warden: str, upstream: str, api_key: str) -> tuple[str, str, str]:
    """An agent with tokens for both gateway resources, and a mandate."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=warden, headers=admin, timeout=30) as http:

        def ok(answer: httpx.Response) -> dict[str, Any]:
            if answer.status_code >= 300:
                raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text}")
            return dict(answer.json()) if answer.content else {}

        policy = '@id("all") permit (principal, action, resource);\n'
        ok(http.post("/v1/policies", json={"policies": {"all.cedar": policy}}))
        for tool in ("bench.read_invoice", "erp.invoice.read"):
            annotations = {"read_only": True, "destructive": False, "external": False}
            ok(http.post("/v1/tools", json={"name": tool, "annotations": annotations}))
        ok(http.post("/v1/profiles", content=PROFILE.encode()))
        agent = {"id": AGENT, "display_name": "payer", "owner": "ann@bench.example", "team": "ap"}
        ok(http.post("/v1/agents", json=agent))
        mcp_resource, egress_resource = f"{warden}/mcp/bench", f"{warden}/egress/bench-api"
        client = ok(
            http.post(
                "/oauth2/register",
                json={
                    "spiffe_id": AGENT,
                    "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["client_credentials"],
                    "resources": [mcp_resource, egress_resource],
                },
            )
        )
        ok(
            http.post(
                "/v1/connections",
                json={
                    "name": "bench",
                    "protocol": "mcp",
                    "url": f"{upstream}/mcp",
                    "auth": "none",
                },
            )
        )
        ok(
            http.post(
                "/v1/connections",
                json={
                    "name": "bench-api",
                    "protocol": "http",
                    "url": f"{upstream}/api",
                    "auth": "api_key",
                    "params": {"header": "X-Api-Key"},
                    "secret": api_key,
                    "routes": [
                        {"method": "GET", "template": "/invoices/{id}", "tool": "erp.invoice.read"}
                    ],
                },
            )
        )
        spec = {
            "person": "ann@bench.example",
            "request": "Read invoice INV-2041 from Acme Supplies",
        }
        mandate = str(ok(http.post("/v1/mandates", json=spec))["token"])
        auth = (client["client_id"], client["client_secret"])

        def token(resource: str) -> str:
            form = {"grant_type": "client_credentials", "resource": resource}
            return str(
                ok(http.post("/oauth2/token", data=form, auth=auth, headers={}))["access_token"]
            )

        return token(mcp_resource), token(egress_resource), mandate


async def measure(
    warden: str, upstream: str, api_key: str, tokens: tuple[str, str, str], rounds: int
) -> dict[str, list[float]]:
    mcp_token, egress_token, mandate = tokens
    direct_headers: dict[str, str] = {}
    gateway_headers = {"Authorization": f"Bearer {mcp_token}", "Txn-Token": mandate}
    samples: dict[str, list[float]] = {
        k: [] for k in ("mcp", "mcp_gw", "http", "http_gw", "authzen", "healthz")
    }
    async with (
        streamablehttp_client(f"{upstream}/mcp", headers=direct_headers) as (r1, w1, _),
        ClientSession(r1, w1) as direct,
        streamablehttp_client(f"{warden}/mcp/bench", headers=gateway_headers) as (r2, w2, _),
        ClientSession(r2, w2) as gateway,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await direct.initialize()
        await gateway.initialize()
        listed = await gateway.list_tools()
        if [t.name for t in listed.tools] != ["read_invoice"]:
            raise SystemExit(f"the gateway lists {listed.tools}")
        arguments = {"invoice_id": "INV-2041"}
        api_headers = {"X-Api-Key": api_key}
        egress_headers = {"Authorization": f"Bearer {egress_token}", "Txn-Token": mandate}

        async def mcp_direct() -> None:
            result = await direct.call_tool("read_invoice", arguments)
            assert not result.isError

        async def mcp_gateway() -> None:
            result = await gateway.call_tool("read_invoice", arguments)
            if result.isError:
                raise SystemExit(f"the gateway refused: {result.content}")

        async def http_direct() -> None:
            answer = await http.get(f"{upstream}/api/invoices/INV-2041", headers=api_headers)
            assert answer.status_code == 200

        async def http_gateway() -> None:
            url = f"{warden}/egress/bench-api/invoices/INV-2041"
            answer = await http.get(url, headers=egress_headers)
            if answer.status_code != 200:
                raise SystemExit(f"egress answered {answer.status_code}: {answer.text}")

        evaluation = {
            "subject": {"type": "agent", "id": AGENT},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": "erp.invoice.read"},
            "context": {"arguments": {"id": "INV-2041"}, "mandate": mandate},
        }
        admin = {"Authorization": f"Bearer {ADMIN}"}

        async def authzen() -> None:  # the decision alone, as any PEP asks it over HTTP
            answer = await http.post(
                f"{warden}/access/v1/evaluation", json=evaluation, headers=admin
            )
            assert answer.status_code == 200 and answer.json()["decision"] is True

        async def healthz() -> None:  # Warden's HTTP stack alone
            assert (await http.get(f"{warden}/healthz")).status_code == 200

        calls: dict[str, Callable[[], Awaitable[None]]] = {
            "mcp": mcp_direct,
            "mcp_gw": mcp_gateway,
            "http": http_direct,
            "http_gw": http_gateway,
            "authzen": authzen,
            "healthz": healthz,
        }
        order = list(calls)
        for _ in range(100):  # warm up every path
            for name in order:
                await calls[name]()
        clock = time.perf_counter_ns
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                start = clock()
                await calls[name]()
                samples[name].append((clock() - start) / 1e6)
    return samples


def report(samples: dict[str, list[float]], rounds: int) -> None:
    print(f"ms, {rounds} rounds, median / p99; added = gateway minus direct, per round")
    print(f"  {'path':<26}{'direct':>18}{'through Warden':>18}{'added':>20}")
    for label, direct, gateway in (
        ("MCP tools/call", "mcp", "mcp_gw"),
        ("HTTP GET via egress", "http", "http_gw"),
    ):
        d, g = samples[direct], samples[gateway]
        added = [b - a for a, b in zip(d, g, strict=True)]
        print(
            f"  {label:<26}{statistics.median(d):>8.2f} / {percentile(d, 99):>6.2f}"
            f"{statistics.median(g):>10.2f} / {percentile(g, 99):>6.2f}"
            f"{statistics.median(added):>+11.2f} / {percentile(added, 99):>+6.2f}"
        )
    print("  where the time goes (the same rounds):")
    for label, key in (
        ("Warden's HTTP stack (/healthz)", "healthz"),
        ("one decision over AuthZEN", "authzen"),
    ):
        d = samples[key]
        print(f"  {label:<34}{statistics.median(d):>8.2f} / {percentile(d, 99):>6.2f}")
    print()
    for label, direct, gateway in (("MCP gateway", "mcp", "mcp_gw"), ("egress", "http", "http_gw")):
        added = [b - a for a, b in zip(samples[direct], samples[gateway], strict=True)]
        p50, p99 = statistics.median(added), percentile(added, 99)
        print(
            f"{label} adds {p50:.2f} ms p50 (target ≤ 2 ms) and {p99:.2f} ms p99 "
            f"(target ≤ 10 ms) over a direct call"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 rounds")
    args = parser.parse_args()
    rounds = 300 if args.quick else args.rounds
    here = Path(__file__).parent
    api_key = secrets.token_urlsafe(24)
    upstream_port, warden_port = free_port(), free_port()
    upstream, warden = f"http://127.0.0.1:{upstream_port}", f"http://127.0.0.1:{warden_port}"
    with tempfile.TemporaryDirectory(prefix="warden-bench-gateway-") as home:
        env = {
            **os.environ,
            "WARDEN_HOME": home,
            "WARDEN_DATABASE_URL": f"sqlite:///{home}/warden.db",
            "WARDEN_ADMIN_TOKEN": ADMIN,
            "WARDEN_ISSUER": warden,
            "WARDEN_TRUST_DOMAIN": "bench.example",
        }
        peers = subprocess.Popen(
            [sys.executable, str(here / "_gateway_peers.py"), "--port", str(upstream_port),
             "--api-key", api_key],
        )  # fmt: skip
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "warden"), "serve", "--port", str(warden_port)],
            env=env,
        )
        try:
            wait_for(f"{upstream}/api/invoices/x", peers)
            wait_for(f"{warden}/healthz", server)
            print(f"upstreams at {upstream}, Warden at {warden} (SQLite in {home})")
            tokens = provision(warden, upstream, api_key)
            samples = asyncio.run(measure(warden, upstream, api_key, tokens, rounds))
            report(samples, rounds)
        finally:
            for process in (server, peers):
                process.terminate()
                process.wait(20)


if __name__ == "__main__":
    main()
