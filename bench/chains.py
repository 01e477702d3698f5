"""Delegation chain benchmark (issue 7): what verifying a chain adds to a decision. Prints
figures, no pass/fail. Results go in docs/benchmarks.md.

    .venv/bin/python bench/chains.py                 # 5,000 samples per depth (~1 minute)
    .venv/bin/python bench/chains.py --quick         # 300 samples per depth (< 30 s)
    .venv/bin/python bench/chains.py --database postgresql://postgres@127.0.0.1/postgres
    (a throwaway database is created on that server and dropped afterwards)

A real ``Runtime`` on a fresh store (SQLite under /tmp by default): 7 agents with confidential
clients, a permit-all bundle, the ``supplier-payments`` purpose profile (``max_chain_depth:
6``), four tools, and one person's mandate. One chain root → a1 → … → a6 is built through
real RFC 8693 token exchanges (``AuthorizationServer.token``, the code behind ``POST
/oauth2/token``); the agent at depth d presents hop d's assertion and mandate. Depth 0 is the
root agent acting on the person's mandate with no chain: the reference.

Measured, per depth 0, 1, 2, 4 and 6, in interleaved rounds (each round decides once per
depth, in a fresh random order, so machine noise and the ledger's fsyncs hit every depth
alike):

- ``Runtime.decide`` (ledger included) of an allowed read-only tool with ``context.chain``
  and ``context.mandate``: median and p99, and the added cost against depth 0 as differences
  of medians and of p99s;
- the chain analyser alone (``ChainAnalyser.analyse``) on the same request, with the action's
  facts already extracted (the session analyser needs them anyway, so a decision pays that
  once whichever analyser asks first);
- the first sight of an assertion: ``assertion.verify`` with no cache (ES256 signature, claims,
  hop links and the hash chain of hop digests), which ``ChainService.verify`` pays once per
  assertion before caching it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from _db import throwaway_database
from _stats import percentile
from warden.audit.ledger import new_entry_id
from warden.chains import assertion
from warden.decisions.analysers import Analyser
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.mandates.specs import MandateSpec
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec
from warden.runtime import Runtime
from warden.tokens.endpoint import FORM_TYPE, parse_form
from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from warden.tokens.settings import TokenSettings

ISSUER = "http://127.0.0.1:8700"
DOMAIN = "acme.example"
API = "https://erp.acme.example/api"
PERSON = "ann@acme.example"
OPERATOR = "chains-bench"
NAMES = ("root", "a1", "a2", "a3", "a4", "a5", "a6")
AGENTS = {n: f"spiffe://{DOMAIN}/agent/{n}" for n in NAMES}
DEPTHS = (0, 1, 2, 4, 6)
TOOL = "erp.invoice.read"  # allowed, read-only, in the purpose profile
TARGET_P99_US = 300.0
Armed = Callable[[], object]  # one prepared call, to be timed
PERMIT_ALL = '@id("all") permit (principal, action, resource);\n'
TOOLS = {  # name: (read_only, external)
    "erp.invoice.read": (True, False),
    "payments.transfer": (False, True),
    "email.send": (False, True),
    "crm.contacts.export": (True, False),
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
    arguments:
      amount:
        max: 10000
  - tool: email.send
max_chain_depth: 6
max_fan_out: 2
"""


@dataclass(frozen=True, slots=True)
class Presented:
    """What the agent at one depth shows with each action: its chain assertion (None at depth
    0, where the root agent acts on the person's mandate) and its mandate."""

    depth: int
    agent: str
    chain: str | None
    mandate: str

    def request(self) -> DecisionRequest:
        context: dict[str, Any] = {"mandate": self.mandate, "arguments": {"invoice": "INV-2041"}}
        if self.chain is not None:
            context["chain"] = self.chain
        return DecisionRequest(
            subject=Entity("agent", self.agent),
            action=Action("invoke"),
            resource=Entity("tool", TOOL),
            context=context,
        )


# -- the fleet ---------------------------------------------------------------------------


async def open_runtime(url: str) -> Runtime:
    settings = TokenSettings(issuer=ISSUER, trust_domain=DOMAIN, max_delegation_depth=6)
    return await Runtime.open(url, token_settings=settings)


async def furnish(runtime: Runtime) -> dict[str, str]:
    """Bundle, purpose profile, tools and agents with confidential clients; returns each
    agent's HTTP Basic credentials (kept in memory, never printed)."""
    now = datetime.now(UTC)
    bundle = Bundle({"all.cedar": PERMIT_ALL}, default_schema(), source="bench/chains")
    await runtime.apply_policies(bundle, author=OPERATOR)
    await runtime.profiles.apply(PROFILE, actor=OPERATOR, now=now)
    tools = [
        ToolSpec(name=name, annotations=AnnotationsSpec(read_only=ro, external=ext))
        for name, (ro, ext) in TOOLS.items()
    ]
    await runtime.registry.register_tools(tools, actor=OPERATOR, now=now)
    return {name: await _client(runtime, name, now) for name in NAMES}


async def _client(runtime: Runtime, name: str, now: datetime) -> str:
    spec = AgentSpec(id=AGENTS[name], display_name=name, owner=PERSON, team="finance")
    await runtime.registry.register_agent(spec, actor=OPERATOR, now=now)
    metadata = {
        "spiffe_id": AGENTS[name],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
        "scope": "invoices:read invoices:pay",
        "resources": [API],
    }
    body = await runtime.tokens.register(metadata, now)
    pair = f"{body['client_id']}:{body['client_secret']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


async def _token(runtime: Runtime, auth: str, **params: str) -> dict[str, Any]:
    form = parse_form(urlencode(params).encode(), FORM_TYPE)
    response = await runtime.tokens.token(form, authorization=auth, dpop=(), now=datetime.now(UTC))
    return dict(response.to_dict())


async def build_chain(runtime: Runtime, clients: Mapping[str, str]) -> dict[int, Presented]:
    """The person's mandate to the root agent, then root → a1 → … → a6 by token exchange:
    each delegate trades its delegator's access token (and its own) for a delegated one."""
    spec = MandateSpec(
        person=PERSON, request="Pay the approved invoices from Acme Supplies",
        profile="supplier-payments",
    )  # fmt: skip
    issued = await runtime.mandates.issue(spec, caller=OPERATOR, now=datetime.now(UTC))
    presented = {0: Presented(0, AGENTS["root"], None, issued.token)}
    subject = await _own_token(runtime, clients["root"])
    for depth in range(1, len(NAMES)):
        name = NAMES[depth]
        extra = {"mandate": issued.token} if depth == 1 else {}
        body = await _token(
            runtime,
            clients[name],
            grant_type=TOKEN_EXCHANGE_GRANT,
            subject_token=subject,
            subject_token_type=ACCESS_TOKEN_TYPE,
            actor_token=await _own_token(runtime, clients[name]),
            actor_token_type=ACCESS_TOKEN_TYPE,
            **extra,
        )
        assert body["chain_depth"] == depth, body.get("chain_depth")
        presented[depth] = Presented(depth, AGENTS[name], body["chain"], body["mandate"])
        subject = body["access_token"]
    return presented


async def _own_token(runtime: Runtime, auth: str) -> str:
    body = await _token(runtime, auth, grant_type="client_credentials", resource=API)
    return str(body["access_token"])


async def check(runtime: Runtime, presented: Mapping[int, Presented]) -> None:
    """Each depth's action is allowed, and verified as a chain of that depth."""
    for depth, shown in presented.items():
        decision = await runtime.decide(shown.request())
        chain = decision.features.get("chain") or {}
        verified = chain.get("depth") == depth and chain.get("valid") == (depth > 0)
        if decision.outcome is not Outcome.ALLOW or not verified:
            codes = [r.code for r in decision.reasons]
            raise SystemExit(f"depth {depth}: {decision.outcome.value} {codes} chain={chain}")


# -- timing ------------------------------------------------------------------------------


def _rounds(depths: Sequence[int], n: int, seed: int) -> Iterator[list[int]]:
    """``n`` rounds, each every depth once in a fresh random order."""
    rng = random.Random(seed)
    for _ in range(n):
        order = list(depths)
        rng.shuffle(order)
        yield order


async def decisions(
    runtime: Runtime, presented: Mapping[int, Presented], n: int, warmup: int
) -> tuple[dict[int, list[float]], int]:
    """``Runtime.decide`` latency per depth (µs), and how many decisions were not allowed."""
    requests = {d: presented[d].request() for d in DEPTHS}
    samples: dict[int, list[float]] = {d: [] for d in DEPTHS}
    refused = 0
    clock = time.perf_counter_ns
    for index, order in enumerate(_rounds(DEPTHS, warmup + n, seed=7)):
        for depth in order:
            start = clock()
            decision = await runtime.decide(requests[depth])
            elapsed = clock() - start
            refused += decision.outcome is not Outcome.ALLOW
            if index >= warmup:
                samples[depth].append(elapsed / 1000)
    return samples, refused


def interleaved(
    depths: Sequence[int], n: int, warmup: int, seed: int, arm: Callable[[int], Armed]
) -> dict[int, list[float]]:
    """Latency (µs) per depth of the call ``arm(depth)`` returns; arming (any preparation)
    is not timed."""
    samples: dict[int, list[float]] = {d: [] for d in depths}
    clock = time.perf_counter_ns
    for index, order in enumerate(_rounds(depths, warmup + n, seed)):
        for depth in order:
            call = arm(depth)
            start = clock()
            call()
            elapsed = clock() - start
            if index >= warmup:
                samples[depth].append(elapsed / 1000)
    return samples


def pipeline(
    runtime: Runtime, presented: Mapping[int, Presented], n: int, warmup: int
) -> dict[int, list[float]]:
    """The decision without I/O: the verified chain depth and ``evaluate`` with every analyser
    the runtime runs (no session update, no ledger), to read the chain's cost without the
    ledger's fsync tail."""
    view, analysers = runtime.view, runtime.analysers
    requests = {d: presented[d].request() for d in DEPTHS}

    def arm(depth: int) -> Armed:
        now = datetime.now(UTC)
        request = requests[depth]
        return lambda: evaluate(
            view, analysers, runtime._verified_depth(request, now), now, new_entry_id()
        )

    return interleaved(DEPTHS, n, warmup, 5, arm)


def analyser_alone(
    runtime: Runtime, presented: Mapping[int, Presented], n: int, warmup: int
) -> dict[int, list[float]]:
    """``ChainAnalyser.analyse`` per depth (µs), the action's facts extracted beforehand."""
    analyser = _analyser(runtime.analysers, "chain")
    view = runtime.view
    requests = {d: presented[d].request() for d in DEPTHS}

    def arm(depth: int) -> Armed:
        request, now = requests[depth], datetime.now(UTC)
        runtime.facts.of(request, view, now)  # shared with the session analyser
        return lambda: analyser.analyse(request, view, now)

    return interleaved(DEPTHS, n, warmup, 11, arm)


def first_sight(
    runtime: Runtime, presented: Mapping[int, Presented], n: int, warmup: int
) -> dict[int, list[float]]:
    """``assertion.verify`` with nothing cached, per chain depth (µs)."""
    settings, keys = runtime.token_settings, runtime.tokens.keys
    issuer, audience = settings.issuer, settings.trust_domain
    tokens = {d: str(presented[d].chain) for d in DEPTHS if d > 0}

    def arm(depth: int) -> Armed:
        token, now = tokens[depth], datetime.now(UTC)
        return lambda: assertion.verify(token, issuer=issuer, audience=audience, keys=keys, now=now)

    return interleaved(tuple(tokens), n, warmup, 13, arm)


def _analyser(analysers: Sequence[Analyser], name: str) -> Analyser:
    for analyser in analysers:
        if analyser.name == name:
            return analyser
    raise SystemExit(f"no `{name}` analyser in the runtime")


# -- report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    median: float
    p99: float

    @classmethod
    def of(cls, samples: list[float]) -> Figures:
        return cls(statistics.median(samples), percentile(samples, 99))

    def cell(self) -> str:
        return f"{self.median:7.1f} / {self.p99:7.1f}"

    def minus(self, reference: Figures) -> str:
        return f"{self.median - reference.median:+7.1f} / {self.p99 - reference.p99:+7.1f}"


def table(
    decided: Mapping[int, list[float]],
    piped: Mapping[int, list[float]],
    analysed: Mapping[int, list[float]],
    cold: Mapping[int, list[float]],
) -> list[str]:
    lines = [
        "µs, median / p99; added = this depth minus depth 0 (same run, interleaved)",
        f"  {'depth':>5} {'samples':>7}  {'Runtime.decide':>17}  {'added':>17}  "
        f"{'pipeline, no I/O':>17}  {'added':>17}",
    ]
    for depth in DEPTHS:
        lines.append(
            f"  {depth:>5} {len(decided[depth]):>7}  {_cells(decided, depth)}  "
            f"{_cells(piped, depth)}"
        )
    lines.append(f"\n  {'depth':>5} {'chain analyser':>25}  {'added':>17}  {'first sight':>17}")
    for depth in DEPTHS:
        sight = Figures.of(cold[depth]).cell() if depth in cold else "-"
        lines.append(f"  {depth:>5} {_cells(analysed, depth):>44}  {sight:>17}")
    return lines + _target(decided, piped)


def _cells(samples: Mapping[int, list[float]], depth: int) -> str:
    figures = Figures.of(samples[depth])
    added = "reference" if depth == 0 else figures.minus(Figures.of(samples[0]))
    return f"{figures.cell():>17}  {added:>17}"


def _target(decided: Mapping[int, list[float]], piped: Mapping[int, list[float]]) -> list[str]:
    deepest = max(DEPTHS)
    lines = []
    for label, samples in (("a decision", decided), ("the pipeline (no I/O)", piped)):
        base, deep = Figures.of(samples[0]), Figures.of(samples[deepest])
        low, high = paired_interval(samples[0], samples[deepest], lambda s: percentile(s, 99))
        mid_low, mid_high = paired_interval(samples[0], samples[deepest], statistics.median)
        lines += [
            f"\nverifying a chain of depth {deepest} adds {deep.p99 - base.p99:.0f} µs p99 to "
            f"{label} (target ≤ {TARGET_P99_US:.0f} µs)",
            f"  95% bootstrap interval of the p99 difference {low:+.0f} … {high:+.0f} µs; "
            f"median difference {deep.median - base.median:+.0f} µs "
            f"({mid_low:+.0f} … {mid_high:+.0f})",
        ]
    return lines


def paired_interval(
    reference: list[float],
    samples: list[float],
    statistic: Callable[[list[float]], float],
    resamples: int = 400,
) -> tuple[float, float]:
    """95% interval of ``statistic(samples) - statistic(reference)``, resampling whole rounds
    (sample i of both lists came from the same round), so the p99 difference is read with
    the noise it carries rather than as one number."""
    rng = random.Random(17)
    rounds = range(min(len(reference), len(samples)))
    differences = []
    for _ in range(resamples):
        picked = rng.choices(rounds, k=len(rounds))
        differences.append(
            statistic([samples[i] for i in picked]) - statistic([reference[i] for i in picked])
        )
    return percentile(differences, 2.5), percentile(differences, 97.5)


# -- main --------------------------------------------------------------------------------


async def run(url: str, n: int, warmup: int) -> None:
    started = time.perf_counter()
    runtime = await open_runtime(url)
    try:
        clients = await furnish(runtime)
        presented = await build_chain(runtime, clients)
        await check(runtime, presented)
        setup = time.perf_counter() - started
        print(f"  fleet and chain of depth 6 built by token exchange in {setup:.1f} s", flush=True)
        decided, refused = await _timed("decisions", decisions(runtime, presented, n, warmup))
        if refused:
            print(f"  !! {refused} decisions were not allowed (chain or mandate expired?)")
        piped = pipeline(runtime, presented, n, warmup)
        analysed = analyser_alone(runtime, presented, n, warmup)
        cold = first_sight(runtime, presented, n, min(warmup, 100))
        print("\n".join(table(decided, piped, analysed, cold)))
    finally:
        await runtime.close()
    print(f"  (total {time.perf_counter() - started:.1f} s)")


async def _timed(label: str, work: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await work
    print(f"  {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--quick", action="store_true", help="300 samples per depth (< 30 s)")
    parser.add_argument("--samples", type=int, default=None, help="samples per depth")
    parser.add_argument("--database", help="a PostgreSQL server URL (throwaway database)")
    args = parser.parse_args()
    n = args.samples or (300 if args.quick else 5000)
    warmup = 50 if args.quick else 300
    print(
        f"Warden chain benchmark · python {sys.version.split()[0]} · {os.cpu_count()} cpus · "
        f"{time.strftime('%Y-%m-%d')} · {n:,} samples per depth"
    )
    if args.database:
        with throwaway_database(args.database) as url:
            print("\nPostgreSQL store (throwaway database):")
            asyncio.run(run(url, n, warmup))
        return
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        print("\nSQLite store (fresh file under /tmp):")
        asyncio.run(run(f"sqlite:///{folder}/chains.db", n, warmup))


if __name__ == "__main__":
    main()
