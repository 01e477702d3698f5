"""Accountability query benchmark: prints figures, no pass/fail.

    .venv/bin/python bench/trace.py                      # 1,000,000 entries (build ~minutes)
    .venv/bin/python bench/trace.py --entries 100000     # quicker
    .venv/bin/python bench/trace.py --reuse              # keep the ledger built last time

Builds a SQLite ledger under /tmp: ~70 % decisions (80 % of them inside one of ~2,000
chains of depth 0-6 for ~500 people), a ``chain:delegated`` entry per hop, the rest other
events; rows bulk-inserted with executemany, hashes chained with warden.audit.chain, index
rows from warden.audit.index.index_rows, hop rows from warden.chains.store.hop_row. Then
times, through the real stores and :class:`warden.chains.queries.Accountability`:
``trace`` of 1,000 random decisions, ``tree`` and ``blast_radius`` of 100 random chains,
``on_behalf_of`` (one day of one person) for 100 people, and the CLI's rendering of a trace.
Target: trace p99 ≤ 100 ms at 1M entries.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from _stats import summary
from warden.audit.chain import (
    GENESIS_HASH,
    canonical_payload,
    format_timestamp,
    hash_with_canonical_payload,
)
from warden.audit.index import index_rows
from warden.audit.models import LEDGER_VERSION, LedgerEntry
from warden.audit.store.sql import SqlLedgerStore
from warden.chains.models import Hop, hop_digest
from warden.chains.queries import Accountability
from warden.chains.store import SqlChainStore, hop_row
from warden.cli.trace import render_trace
from warden.store.db import migrate, open_engine, parse_database_url

T0 = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
PEOPLE, CHAINS, MAX_DEPTH = 500, 2000, 6
TOOLS = [f"tool{n}" for n in range(60)]
LABELS = ["pii", "finance", "secret", "health"]
CHUNK = 20_000

_INSERT = (
    "INSERT INTO ledger (seq, entry_id, version, event_type, recorded_at, payload, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INDEX = (
    "INSERT INTO ledger_index (seq, entry_id, recorded_at, event_type, person, chain_id, agent)"
    " VALUES (:seq, :entry_id, :recorded_at, :event_type, :person, :chain_id, :agent)"
)
_HOP = (
    "INSERT INTO chain_hops (id, chain_id, parent_id, depth, person, from_party, to_agent,"
    " mandate_id, root_mandate_id, exchange_jti, task, tools, limits, digest, created_at,"
    " expires_at, revoked_at, entry_id) VALUES (:id, :chain_id, :parent_id, :depth, :person,"
    " :from_party, :to_agent, :mandate_id, :root_mandate_id, :exchange_jti, :task, :tools,"
    " :limits, :digest, :created_at, :expires_at, :revoked_at, :entry_id)"
)


def person(n: int) -> str:
    return f"person{n}@acme.example"


def make_chains(rng: random.Random) -> dict[str, list[Hop]]:
    """~2,000 trees rooted at a person; each deeper hop under a random existing hop."""
    chains: dict[str, list[Hop]] = {}
    for c in range(CHAINS):
        chain_id, who = f"chn_{c:06d}", person(rng.randrange(PEOPLE))
        at = T0 + SPAN * (c / CHAINS) * 0.9
        hops = [_hop(chain_id, 0, None, who, at, rng)]
        for n in range(1, rng.choice((1, 2, 3, 4, 5, 6, 8, 10))):
            parent = rng.choice([h for h in hops if h.depth < MAX_DEPTH])
            hops.append(_hop(chain_id, n, parent, who, at, rng))
        chains[chain_id] = hops
    return chains


def _hop(chain: str, n: int, parent: Hop | None, who: str, at: datetime, rng: random.Random) -> Hop:
    tools = tuple(rng.sample(TOOLS, 5)) if parent is not None else None
    hop = Hop(
        id=f"hop_{chain[4:]}_{n}",
        chain_id=chain,
        parent_id=parent.id if parent else None,
        depth=parent.depth + 1 if parent else 0,
        person=who,
        from_party=parent.to_agent if parent else who,
        to_agent=f"spiffe://acme.example/agent/a{rng.randrange(3000)}",
        mandate_id=f"mnd_{chain[4:]}_{n}",
        root_mandate_id=f"mnd_{chain[4:]}_0",
        exchange_jti=None,
        task=f"task {n}",
        tools=tools,
        limits={},
        digest="",
        created_at=at,
        expires_at=at + timedelta(days=2),
        entry_id=f"{chain}-{n}-delegated",
    )
    return replace(hop, digest=hop_digest(None, hop.body()))


def path_of(hop: Hop, by_id: dict[str, Hop]) -> list[Hop]:
    path = [hop]
    while path[-1].parent_id:
        path.append(by_id[path[-1].parent_id])
    return path[::-1]


def payloads(
    n: int, chains: dict[str, list[Hop]], rng: random.Random
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(entry id, event type, payload) for ``n`` entries: delegations spread in, ~70 %
    decisions, the rest other events."""
    by_id = {h.id: h for hops in chains.values() for h in hops}
    delegations = [h for hops in chains.values() for h in hops]
    every = max(1, n // max(1, len(delegations)) // 4)
    chain_ids = list(chains)
    for seq in range(1, n + 1):
        if delegations and seq % every == 0:
            hop = delegations.pop(0)
            yield hop.entry_id or "", "chain:delegated", _delegated(hop)
            continue
        roll = rng.random()
        if roll < 0.70:
            yield f"{seq:032x}", *_decision(seq, chains[rng.choice(chain_ids)], by_id, rng)
        else:
            yield f"{seq:032x}", "registry:agent:updated", {"id": f"a{seq % 3000}", "n": seq}


def _decision(
    seq: int, hops: list[Hop], by_id: dict[str, Hop], rng: random.Random
) -> tuple[str, dict[str, Any]]:
    outcome = rng.choices(("allow", "deny", "step_up"), (85, 10, 5))[0]
    features: dict[str, Any] = {"mandate": {"present": True, "valid": True, "id": "mnd"}}
    who: str | None = person(rng.randrange(PEOPLE)) if rng.random() < 0.5 else None
    agent = f"spiffe://acme.example/agent/a{rng.randrange(3000)}"
    if rng.random() < 0.8:
        hop = rng.choice(hops)
        path = path_of(hop, by_id)
        who, agent = hop.person, hop.to_agent
        features["chain"] = {
            "present": True, "valid": True, "id": hop.chain_id, "hop": hop.id,
            "depth": hop.depth, "person": hop.person, "root_mandate": hop.root_mandate_id,
            "mandate": hop.mandate_id, "purpose": "bench", "agents": [h.to_agent for h in path],
            "path": [h.id for h in path], "labels": rng.sample(LABELS, rng.randrange(3)),
            "destinations": [f"d{rng.randrange(50)}.example"] if rng.random() < 0.2 else [],
        }  # fmt: skip
    return f"decision:{outcome}", {
        "decision_id": f"{seq:032x}", "outcome": outcome, "on_behalf_of": who,
        "subject": {"type": "agent", "id": agent}, "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": rng.choice(TOOLS)},
        "reasons": [{"code": f"bench.{outcome}", "message": "bench", "outcome": outcome}],
        "errors": [], "policy_revision": 1, "features": features, "context_digest": "0" * 64,
    }  # fmt: skip


def _delegated(hop: Hop) -> dict[str, Any]:
    return {
        "chain_id": hop.chain_id, "hop_id": hop.id, "parent_id": hop.parent_id,
        "depth": hop.depth, "person": hop.person, "from": hop.from_party, "to": hop.to_agent,
        "mandate_id": hop.mandate_id, "root_mandate_id": hop.root_mandate_id,
        "tools": list(hop.tools) if hop.tools is not None else None, "limits": {},
        "expires_at": hop.expires_at.isoformat(), "task_digest": "ab" * 32,
    }  # fmt: skip


def build(path: Path, n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Write the ledger, its index and the hops; return decision ids and chain ids."""
    path.unlink(missing_ok=True)
    migrate(parse_database_url(f"sqlite:///{path}"))
    chains = make_chains(rng)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    db.executemany(_HOP, [hop_row(h) for hops in chains.values() for h in hops])
    db.execute("COMMIT")
    prev, entries, decisions = GENESIS_HASH, [], []
    for seq, (entry_id, kind, payload) in enumerate(payloads(n, chains, rng), start=1):
        at = T0 + SPAN * (seq / n)
        text = canonical_payload(payload)
        iso = format_timestamp(at)
        digest = hash_with_canonical_payload(LEDGER_VERSION, seq, entry_id, kind, iso, text, prev)
        entries.append(
            LedgerEntry(seq, entry_id, LEDGER_VERSION, kind, at, payload, prev, digest, text)
        )
        prev = digest
        if kind.startswith("decision:"):
            decisions.append(entry_id)
        if len(entries) == CHUNK:
            _flush(db, entries)
    _flush(db, entries)
    db.close()
    return decisions, list(chains)


def _flush(db: sqlite3.Connection, entries: list[LedgerEntry]) -> None:
    db.execute("BEGIN")
    db.executemany(_INSERT, [_row(e) for e in entries])
    db.executemany(_INDEX, index_rows(entries))
    db.execute("COMMIT")
    entries.clear()


def _row(e: LedgerEntry) -> tuple[Any, ...]:
    at = format_timestamp(e.recorded_at)
    return (e.seq, e.entry_id, e.version, e.event_type, at, e.payload_json, e.prev_hash, e.hash)


async def timed(fn: Callable[[Any], Any], items: list[Any]) -> list[float]:
    """Per-call latencies in milliseconds."""
    samples = []
    for item in items:
        start = time.perf_counter()
        await fn(item)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure(
    path: Path, decisions: list[str], chains: list[str], samples: int, rng: random.Random
) -> None:
    engine = open_engine(parse_database_url(f"sqlite:///{path}"))
    queries = Accountability(SqlLedgerStore(engine), SqlChainStore(engine))
    picked = rng.sample(decisions, min(samples, len(decisions)))
    some_chains = rng.sample(chains, 100)
    days = [
        (person(rng.randrange(PEOPLE)), T0 + timedelta(days=rng.randrange(29))) for _ in range(100)
    ]
    await timed(queries.trace, picked[:50])  # warm caches and the connection pool
    rows = [("trace", await timed(queries.trace, picked))]
    rows.append(("tree", await timed(queries.tree, some_chains)))
    rows.append(
        (
            "on_behalf_of (1 day)",
            await timed(
                lambda d: queries.on_behalf_of(d[0], d[1], d[1] + timedelta(days=1), 1000), days
            ),
        )
    )
    rows.append(("blast_radius", await timed(queries.blast_radius, some_chains)))
    bodies = [(await queries.trace(d)).to_dict() for d in picked]
    console = Console(file=io.StringIO(), width=120)
    rows.append(("CLI render of a trace", await timed(_render(console), bodies)))
    await engine.dispose()
    print(f"{'query':24s} {'n':>5s} {'median ms':>10s} {'p99 ms':>8s}")
    for name, got in rows:
        median, p99 = summary(got)
        print(f"{name:24s} {len(got):5d} {median:10.2f} {p99:8.2f}")


def _render(console: Console) -> Callable[[dict[str, Any]], Any]:
    async def render(body: dict[str, Any]) -> None:
        console.print(render_trace(body))

    return render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/warden-bench-trace.db"))
    parser.add_argument("--reuse", action="store_true", help="keep the ledger already at --path")
    args = parser.parse_args()
    rng = random.Random(7)
    started = time.perf_counter()
    if args.reuse and args.path.exists():
        db = sqlite3.connect(args.path)
        decisions = [
            r[0]
            for r in db.execute("SELECT entry_id FROM ledger WHERE event_type LIKE 'decision:%'")
        ]
        chains = [r[0] for r in db.execute("SELECT DISTINCT chain_id FROM chain_hops")]
        entries = db.execute("SELECT count(*) FROM ledger").fetchone()[0]
        db.close()
    else:
        decisions, chains = build(args.path, args.entries, rng)
        entries = args.entries
    size = args.path.stat().st_size / 2**20
    ready = time.perf_counter() - started
    print(f"ledger: {entries:,} entries, {len(decisions):,} decisions, {len(chains):,} chains, "
          f"{size:,.0f} MiB at {args.path} (ready in {ready:.0f} s)")  # fmt: skip
    asyncio.run(measure(args.path, decisions, chains, args.samples, rng))


if __name__ == "__main__":
    main()
