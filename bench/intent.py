"""Intent benchmark: the labelled corpus (tests/scenarios/corpus) replayed through Warden.
Prints figures, no pass/fail. Results go in docs/intent-evaluation.md.

    .venv/bin/python bench/intent.py                 # every mode, both matchers if installed
    .venv/bin/python bench/intent.py --matcher lexical
    .venv/bin/python bench/intent.py --misses 20     # and the first 20 disagreements

Per mode and per domain:

- in-intent actions allowed without step-up (%)          — target ≥ 95 %
- out-of-intent high-risk actions denied or stepped up (%) — target ≥ 98 %
- decision latency: ``Runtime.decide`` (ledger included) and the pure pipeline (analysers and
  Cedar, no ledger), p50 / p99 in µs — target: mandate features add ≤ 2 ms p99

Modes: ``baseline`` (token scope only: no mandate, no mandate analyser), ``risk`` (the baseline
plus a step-up for every destructive, external tool: a guard rail without intent), and
``mandate`` with each intent matcher (``lexical``; ``semantic`` when ``warden[semantic]`` is
installed). Each mode runs on its own fresh SQLite store.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "scenarios"))

from corpus import DOMAINS, Case, CorpusRunner, Mode, Run, load_corpus

from _stats import summary


async def replay(cases: list[Case], mode: Mode, matcher: str | None) -> tuple[Run, float]:
    with tempfile.TemporaryDirectory() as tmp:
        runner = await CorpusRunner.open(f"sqlite:///{tmp}/intent.db", mode, matcher=matcher)
        try:
            started = time.perf_counter()
            run = await runner.run(cases)
            return run, time.perf_counter() - started
        finally:
            await runner.close()


def report(label: str, run: Run, seconds: float) -> None:
    print(f"\n{label}  ({len(run.played)} actions in {seconds:.1f} s)")
    print(f"  {'domain':<9} {'in-intent allowed':>24} {'out-of-intent stopped':>26}")
    for domain in (*DOMAINS, None):
        allowed, stopped = run.in_intent_allowed(domain), run.out_of_intent_stopped(domain)
        print(f"  {domain or 'all':<9} {allowed!s:>24} {stopped!s:>26}")
    decide = summary(run.latencies())
    pipeline = summary([p.pipeline_us for p in run.played])
    print(f"  Runtime.decide (+ ledger)   p50 {decide[0]:8.0f} µs   p99 {decide[1]:8.0f} µs")
    print(f"  pipeline only (no ledger)   p50 {pipeline[0]:8.0f} µs   p99 {pipeline[1]:8.0f} µs")
    if run.matched:
        issue = summary([m.issue_us for m in run.matched])
        print(f"  requests matched to the expected profile {run.profiles_matched()}")
        print(f"  issuing a mandate           p50 {issue[0]:8.0f} µs   p99 {issue[1]:8.0f} µs")


def misses(run: Run, limit: int) -> None:
    wrong = run.misses()
    print(f"\n{len(wrong)} disagreements in {run.mode.value} mode (first {limit}):")
    for p in wrong[:limit]:
        print(
            f"  {p.case.id:<12} {p.step.tool:<24} expected {p.expected.value:<16} got "
            f"{p.got.value:<8} {','.join(p.reasons)[:60]}"
        )


def matchers(asked: str | None) -> list[str]:
    if asked:
        return [asked]
    found = ["lexical"]
    if importlib.util.find_spec("sentence_transformers") is not None:
        found.append("semantic")
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matcher", choices=["lexical", "semantic"], default=None)
    parser.add_argument("--misses", type=int, default=0, help="print the first N disagreements")
    args = parser.parse_args()
    cases = load_corpus()
    actions = sum(len(c.steps) for c in cases)
    print(f"Intent corpus: {len(cases)} cases, {actions} labelled actions")
    for mode in (Mode.BASELINE, Mode.RISK):
        run, seconds = await replay(cases, mode, None)
        report(f"{mode.value}: " + _DESCRIPTION[mode], run, seconds)
    for name in matchers(args.matcher):
        run, seconds = await replay(cases, Mode.MANDATE, name)
        report(f"mandate, {name} matcher", run, seconds)
        if args.misses:
            misses(run, args.misses)


_DESCRIPTION = {
    Mode.BASELINE: "token scope only (no mandate, no mandate analyser)",
    Mode.RISK: "token scope + step-up on destructive external tools (no intent)",
}

if __name__ == "__main__":
    asyncio.run(main())
