"""Drift benchmark (issue 6): the drift corpus replayed through Warden's real decision path.
Prints figures, no pass/fail. Results go in docs/benchmarks.md.

    .venv/bin/python bench/drift.py                  # 22 agents, 4 weeks (~55,000 actions)
    .venv/bin/python bench/drift.py --quick          # 12 agents, 3 weeks; latency to 1,000
    .venv/bin/python bench/drift.py --agents 30 --weeks 6 --seed 7 --misses 3

The corpus (``bench/drift_corpus.py``) is generated for the seed, then every action is decided
in time order by ``Runtime.decide(request, now=simulated time)`` on a fresh SQLite store, with
every agent and tool registered and a bundle of one permit-all policy plus Warden's drift
policies (``examples/drift``: step-up at a drift score of 60, deny at 90 or when sustained).
The first simulated week is the baselines' warm-up: false alarms and AUROC are measured on the
benign actions of weeks 2 and later only. Drift actions all come after the warm-up.

A step-up asks a person; the bench plays the approver, who knows the truth: a benign held
action is approved (it runs, and ``Runtime.approved`` lets the agent's baseline learn it, as
the approvals of a later issue will), an attack's never is. Every step-up still counts as an
alarm. A suspended session denies every action until someone resumes it. The bench plays that
operator too: a suspension is lifted 30 simulated minutes after it began. Benign actions denied
during a suspension that an attack caused are counted apart (the agent was compromised; holding
it is right); during one a benign action caused, they are false alarms.

Printed, per drift type and overall:

- AUROC of the per-action drift score (``features["drift"]["score"]``, 0-100): drift actions
  against benign actions of weeks 2+ (rank-based, ties averaged);
- recall, per action and per episode (an episode counts when any of its actions alarms), at
  the score threshold that gives at most 1 false alarm per 1,000 benign actions;
- recall and the false-alarm rate of the shipped policy (an alarm is a step-up or a deny);
- detection delay: the number of an episode's injected actions up to and including its first
  step-up or deny (median, p90; episodes never caught counted apart);
- which drift signals fired, on drift and on benign actions;

and the latency of a decision at session lengths 10, 1,000 and 10,000 (one agent, one session,
one decision per simulated second): ``Runtime.decide`` in full (ledger included), and the
session and drift features alone (the ``session`` and ``drift`` analysers and
``Runtime.conclude``, which records the session and learns the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _stats import percentile
from drift_corpus import KINDS, TOOLS, Corpus, CorpusAction, Episode, ToolDef, generate
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec
from warden.runtime import Runtime

PERMIT_ALL = 'permit (principal is Agent, action == Action::"invoke", resource is Tool);'
DRIFT_POLICIES = Path(__file__).parents[1] / "examples" / "drift"
RESUME_AFTER = timedelta(minutes=30)
OPERATOR = "drift-bench"
FA_PER_THOUSAND = 1.0
SIGNALS = (
    "novel_tool",
    "improbable_transition",
    "argument_outlier",
    "new_destination",
    "burst",
    "unusual_hour",
    "deeper_chain",
)


# -- metrics -----------------------------------------------------------------------------------


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """The area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting half (Mann-Whitney U from average ranks)."""
    if not positives or not negatives:
        return math.nan
    ranked = sorted([(v, True) for v in positives] + [(v, False) for v in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += average * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def threshold_for(negatives: Sequence[int], per_thousand: float = FA_PER_THOUSAND) -> int:
    """The lowest integer score threshold (alarm when ``score >= threshold``) at which at most
    ``per_thousand`` of every 1,000 negatives alarm."""
    allowed = math.floor(len(negatives) * per_thousand / 1000)
    ordered = sorted(negatives, reverse=True)
    if allowed >= len(ordered):
        return min(ordered, default=0)
    return ordered[allowed] + 1


def first_alarm(alarms: Iterable[bool]) -> int | None:
    """The detection delay: 1-based position of the first alarm, None when there is none."""
    return next((i for i, alarm in enumerate(alarms, 1) if alarm), None)


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def percent(self) -> float:
        return 100 * self.hits / self.total if self.total else math.nan

    def __str__(self) -> str:
        return f"{self.percent:5.1f} % ({self.hits}/{self.total})" if self.total else "-"


# -- replay ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Played:
    """One corpus action and what Warden answered."""

    action: CorpusAction
    outcome: Outcome
    score: int | None  # features["drift"]["score"], None when there is no drift block
    signals: tuple[str, ...]
    reasons: tuple[str, ...]  # codes of the reasons that did not allow
    warm: bool  # judged against a warm baseline (the agent's or its profile's)
    held_by_suspension: bool  # its session was suspended when it came
    collateral: bool  # ... by a suspension an attack caused
    errors: bool

    @property
    def alarm(self) -> bool:
        return self.outcome is not Outcome.ALLOW


@dataclass
class Replay:
    corpus: Corpus
    played: list[Played]
    seconds: float
    drift_wired: bool  # decisions carry context.drift
    policies: bool  # examples/drift was applied
    suspensions: Counter[str] = field(default_factory=Counter)  # "attack" / "benign" → count

    def negatives(self) -> list[Played]:
        after = self.corpus.warmup_end
        return [p for p in self.played if not p.action.episode and p.action.at >= after]

    def positives(self, kind: str | None = None) -> list[Played]:
        return [p for p in self.played if p.action.episode and kind in (None, p.action.kind)]

    def episodes(self, kind: str | None = None) -> list[tuple[Episode, list[Played]]]:
        of: dict[str, list[Played]] = {}
        for p in self.positives(kind):
            of.setdefault(p.action.episode, []).append(p)
        return [(e, of[e.id]) for e in self.corpus.episodes if e.id in of]

    def threshold(self) -> int:
        return threshold_for([p.score for p in self.negatives() if p.score is not None])


@dataclass(frozen=True, slots=True)
class Figures:
    """What the bench prints for one drift type (or all of them)."""

    kind: str
    actions: int
    episodes: int
    auroc: float
    recall_at_threshold: Rate
    episodes_at_threshold: Rate
    recall_policy: Rate
    episodes_policy: Rate
    delays: tuple[int, ...]  # of the episodes the policy caught
    never_caught: int

    @property
    def delay_median(self) -> float:
        return statistics.median(self.delays) if self.delays else math.nan

    @property
    def delay_p90(self) -> float:
        return percentile(list(map(float, self.delays)), 90) if self.delays else math.nan


def figures(replay: Replay, kind: str | None = None) -> Figures:
    negatives = [p.score or 0 for p in replay.negatives()]
    positives = replay.positives(kind)
    threshold = replay.threshold()
    episodes = replay.episodes(kind)
    delays = [first_alarm(p.alarm for p in played) for _, played in episodes]
    return Figures(
        kind=kind or "all",
        actions=len(positives),
        episodes=len(episodes),
        auroc=auroc([p.score or 0 for p in positives], negatives),
        recall_at_threshold=Rate(
            sum((p.score or 0) >= threshold for p in positives), len(positives)
        ),
        episodes_at_threshold=Rate(
            sum(any((p.score or 0) >= threshold for p in played) for _, played in episodes),
            len(episodes),
        ),
        recall_policy=Rate(sum(p.alarm for p in positives), len(positives)),
        episodes_policy=Rate(sum(d is not None for d in delays), len(episodes)),
        delays=tuple(d for d in delays if d is not None),
        never_caught=sum(d is None for d in delays),
    )


def false_alarms(replay: Replay) -> tuple[Rate, Rate]:
    """Benign actions of weeks 2+ that alarmed: at the 1/1,000 score threshold, and under the
    shipped policy (denials from an attack's suspension left out)."""
    negatives = replay.negatives()
    threshold = replay.threshold()
    at_threshold = Rate(sum((p.score or 0) >= threshold for p in negatives), len(negatives))
    judged = [p for p in negatives if not p.collateral]
    return at_threshold, Rate(sum(p.alarm for p in judged), len(judged))


async def open_runtime(url: str, corpus: Corpus | None) -> tuple[Runtime, bool]:
    """A runtime on ``url`` with the corpus's agents and tools registered and the bench's
    bundle applied; and whether the drift policies were found."""
    runtime = await Runtime.open(url)
    try:
        if corpus is not None:
            await register(runtime, corpus)
        policies = {"permit.cedar": PERMIT_ALL}
        found = sorted(DRIFT_POLICIES.glob("*.cedar")) if DRIFT_POLICIES.is_dir() else []
        policies.update({f"drift/{p.name}": p.read_text() for p in found})
        bundle = Bundle(policies, default_schema(), source="bench/drift")
        await runtime.apply_policies(bundle, author=OPERATOR)
    except BaseException:
        await runtime.close()
        raise
    return runtime, bool(found)


async def register(runtime: Runtime, corpus: Corpus) -> None:
    when = corpus.start - timedelta(days=1)
    agents = [
        AgentSpec(
            id=a.id, display_name=a.display, owner=a.owner, team=a.purpose.team,
            purpose=a.purpose.purpose,
        )
        for a in corpus.agents
    ]  # fmt: skip
    await runtime.registry.register_agents(agents, actor=OPERATOR, now=when)
    await register_tools(runtime, corpus.tools, when)


async def register_tools(runtime: Runtime, tools: Iterable[ToolDef], when: datetime) -> None:
    specs = [
        ToolSpec(
            name=t.name,
            description=t.description,
            annotations=AnnotationsSpec(
                read_only=t.read_only,
                destructive=t.destructive,
                external=t.external,
                labels=list(t.labels),
            ),
        )
        for t in tools
    ]
    await runtime.registry.register_tools(specs, actor=OPERATOR, now=when)


def request_of(action: CorpusAction) -> DecisionRequest:
    return DecisionRequest(
        subject=Entity("agent", action.agent),
        action=Action("invoke"),
        resource=Entity("tool", action.tool),
        context={"arguments": dict(action.arguments), "chain_depth": action.chain_depth},
    )


class Operator:
    """Lifts each session suspension ``RESUME_AFTER`` after it began, and remembers whether an
    attack or a benign action caused it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions = getattr(runtime, "sessions", None)
        self.open: dict[str, tuple[datetime, str, bool]] = {}  # agent → (since, id, by attack)
        self.count: Counter[str] = Counter()

    def held(self, agent: str) -> tuple[bool, bool]:
        """Whether ``agent``'s session is suspended, and whether an attack caused that."""
        if agent not in self.open:
            return False, False
        return True, self.open[agent][2]

    async def before(self, now: datetime) -> None:
        for agent, (since, session, _) in list(self.open.items()):
            if now - since >= RESUME_AFTER:
                assert self.sessions is not None
                await self.sessions.resume(
                    session, actor=OPERATOR, reason="investigated by the bench", now=now
                )
                del self.open[agent]

    def approve(self, action: CorpusAction, decision: Decision) -> None:
        """A person answers a step-up: yes to the agent's own work, no to an attack's."""
        if decision.outcome is Outcome.STEP_UP and not action.episode:
            approved = getattr(self.runtime, "approved", None)
            if approved is not None:
                approved(request_of(action), action.at)
                self.count["approved"] += 1

    def after(self, action: CorpusAction) -> None:
        if self.sessions is None or action.agent in self.open:
            return
        state = self.sessions.get((action.agent, ""))
        if state is not None and state.suspended:
            self.open[action.agent] = (action.at, state.id, bool(action.episode))
            self.count["attack" if action.episode else "benign"] += 1


async def replay(
    corpus: Corpus, url: str, progress: Callable[[int, int], None] | None = None
) -> Replay:
    """Decide every action of ``corpus`` in time order on a fresh store at ``url``."""
    runtime, policies = await open_runtime(url, corpus)
    operator = Operator(runtime)
    played: list[Played] = []
    started = time.perf_counter()
    try:
        for i, action in enumerate(corpus.actions):
            await operator.before(action.at)
            held, by_attack = operator.held(action.agent)
            decision = await runtime.decide(request_of(action), now=action.at)
            operator.approve(action, decision)
            operator.after(action)
            played.append(_played(action, decision, held, held and by_attack))
            if progress is not None and (i + 1) % 2000 == 0:
                progress(i + 1, len(corpus.actions))
    finally:
        await runtime.close()
    wired = any(p.score is not None for p in played)
    result = Replay(corpus, played, time.perf_counter() - started, wired, policies)
    result.suspensions = operator.count
    return result


def _played(action: CorpusAction, decision: Decision, held: bool, collateral: bool) -> Played:
    drift = decision.features.get("drift")
    score = int(drift["score"]) if isinstance(drift, Mapping) else None
    signals = tuple(drift.get("signals", ())) if isinstance(drift, Mapping) else ()
    reasons = tuple(r.code for r in decision.reasons if r.outcome is not Outcome.ALLOW)
    warm = bool(drift.get("warm")) if isinstance(drift, Mapping) else False
    return Played(
        action,
        decision.outcome,
        score,
        signals,
        reasons,
        warm,
        held,
        collateral,
        bool(decision.errors),
    )


# -- latency -----------------------------------------------------------------------------------


class _Clock:
    """Time spent in the session and drift features during one decision."""

    def __init__(self) -> None:
        self.ns = 0
        self.calls: Counter[str] = Counter()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns += time.perf_counter_ns() - start
                self.calls[name] += 1

        return timed


class _TimedAnalyser:
    def __init__(self, analyser: Any, clock: _Clock) -> None:
        self.name = analyser.name
        self.analyse = clock.wrap(analyser.name, analyser.analyse)


@dataclass(frozen=True, slots=True)
class Latency:
    length: int
    decide_us: list[float]
    features_us: list[float] | None  # None when the features are not wired
    conclude_wired: bool


async def latency(folder: str, lengths: Sequence[int]) -> list[Latency]:
    """Decision latency at each session length: for 10, the first 10 decisions of 300 agents;
    for 1,000, decisions 501-1,000 of 5 agents; for 10,000, decisions 5,001-10,000 of one."""
    corpus = generate(agents=4, weeks=2, seed=1)  # the AP clerk's actions, in a loop
    clerk = corpus.agents[0].id
    sample = [a for a in corpus.actions if a.agent == clerk and not a.episode]
    tools = [t for t in corpus.tools if t.name in {a.tool for a in sample}]
    runtime, _ = await open_runtime(f"sqlite:///{folder}/latency.db", None)
    try:
        plan = {10: (300, 1), 1000: (5, 501), 10_000: (1, 5001)}
        specs = [
            AgentSpec(
                id=f"spiffe://acme.example/agent/latency-{n}-{k}",
                display_name=f"latency {n} {k}", owner="bench@acme.example", team="bench",
            )
            for n in lengths
            for k in range(plan[n][0])
        ]  # fmt: skip
        await runtime.registry.register_agents(specs, actor=OPERATOR, now=corpus.start)
        await register_tools(runtime, tools, corpus.start)
        clock = _Clock()
        wired = _instrument(runtime, clock)
        results = []
        for n in lengths:
            agents, first = plan[n]
            decide: list[float] = []
            features: list[float] = []
            for k in range(agents):
                agent = f"spiffe://acme.example/agent/latency-{n}-{k}"
                for i in range(n):
                    action = sample[i % len(sample)]
                    request = request_of(
                        CorpusAction(action.at, agent, action.tool, action.arguments, 0)
                    )
                    clock.ns = 0
                    start = time.perf_counter_ns()
                    await runtime.decide(request, now=corpus.start + timedelta(seconds=i))
                    elapsed = time.perf_counter_ns() - start
                    if i + 1 >= first:
                        decide.append(elapsed / 1000)
                        features.append(clock.ns / 1000)
            results.append(
                Latency(n, decide, features if wired else None, clock.calls["conclude"] > 0)
            )
        return results
    finally:
        await runtime.close()


def _instrument(runtime: Runtime, clock: _Clock) -> bool:
    """Time the session and drift analysers and ``conclude`` inside ``Runtime.decide``; False
    when the analysers are not wired."""
    names = {a.name for a in runtime.analysers}
    if not {"session", "drift"} <= names:
        return False
    runtime.analysers = tuple(
        _TimedAnalyser(a, clock) if a.name in ("session", "drift") else a for a in runtime.analysers
    )
    conclude = getattr(runtime, "conclude", None)
    if conclude is not None:
        runtime.conclude = clock.wrap("conclude", conclude)  # type: ignore[method-assign]
    return True


# -- report ------------------------------------------------------------------------------------


def shape(corpus: Corpus) -> list[str]:
    benign = [a for a in corpus.actions if not a.episode]
    after = sum(1 for a in benign if a.at >= corpus.warmup_end)
    lines = [
        f"Drift corpus (seed {corpus.seed}): {len(corpus.agents)} agents, {len(corpus.tools)} "
        f"tools, {corpus.weeks} weeks from {corpus.start:%Y-%m-%d} (week 1 is warm-up)",
        f"  benign actions: {len(benign):,} ({len(benign) - after:,} in the warm-up week, "
        f"{after:,} after it)",
    ]
    for kind in KINDS:
        episodes = [e for e in corpus.episodes if e.kind == kind]
        actions = sum(e.size for e in episodes)
        agents = len({e.agent for e in episodes})
        lines.append(
            f"  {kind:<16} {len(episodes):>4} episodes, {actions:>5} actions, {agents:>2} agents"
        )
    return lines


def report(replay: Replay, misses: int = 0) -> list[str]:
    n = len(replay.played)
    lines = [f"\nReplayed {n:,} decisions in {replay.seconds:.0f} s ({n / replay.seconds:,.0f}/s)"]
    errors = sum(p.errors for p in replay.played)
    if errors:
        lines.append(f"  !! {errors} decisions carried pipeline errors (denied)")
    if not replay.drift_wired:
        lines.append("  drift score: n/a (not wired: no decision carries features['drift'])")
    if not replay.policies:
        lines.append(f"  shipped policy: n/a ({DRIFT_POLICIES} not found; permit-all only)")
    if not replay.drift_wired:
        return lines
    threshold = replay.threshold()
    at_threshold, policy = false_alarms(replay)
    lines.append(
        f"  score threshold for <= {FA_PER_THOUSAND:g} false alarm per 1,000 benign actions: "
        f">= {threshold}"
    )
    header = (
        f"  {'drift type':<16} {'actions':>7} {'eps':>4} {'AUROC':>6} "
        f"{'recall@thr act':>15} {'ep':>6} {'policy act':>11} {'ep':>6} "
        f"{'delay med':>9} {'p90':>5} {'missed':>6}"
    )
    lines.append(header)
    for kind in (*KINDS, None):
        f = figures(replay, kind)
        lines.append(
            f"  {f.kind:<16} {f.actions:>7} {f.episodes:>4} {f.auroc:>6.3f} "
            f"{f.recall_at_threshold.percent:>13.1f} % {f.episodes_at_threshold.percent:>4.0f} % "
            f"{f.recall_policy.percent:>9.1f} % {f.episodes_policy.percent:>4.0f} % "
            f"{f.delay_median:>9.1f} {f.delay_p90:>5.0f} {f.never_caught:>6}"
        )
    lines.append(
        f"  benign false alarms (after the warm-up): at the threshold "
        f"{_per_thousand(at_threshold)}; shipped policy {_per_thousand(policy)}"
    )
    negatives, positives = replay.negatives(), replay.positives()
    warm_benign = Rate(sum(p.warm for p in negatives), len(negatives))
    warm_drift = Rate(sum(p.warm for p in positives), len(positives))
    lines.append(
        f"  judged against a warm baseline: {warm_benign} of benign actions after the warm-up, "
        f"{warm_drift} of drift actions"
    )
    held = [p for p in negatives if p.held_by_suspension]
    lines.append(
        f"  session suspensions: {replay.suspensions['attack']} by attacks, "
        f"{replay.suspensions['benign']} by benign actions; benign actions held by them: "
        f"{sum(p.collateral for p in held)} (attack, not counted) / "
        f"{sum(not p.collateral for p in held)} (benign, counted)"
    )
    lines.append(
        f"  benign step-ups approved by the simulated approver (then learned): "
        f"{replay.suspensions['approved']:,}"
    )
    lines.extend(phases(replay))
    lines.extend(signal_table(replay))
    lines.extend(false_alarm_sources(replay))
    if misses:
        lines.extend(missed_episodes(replay, misses))
    return lines


def _per_thousand(rate: Rate) -> str:
    return f"{rate.hits / rate.total * 1000:.2f} per 1,000 ({rate.hits}/{rate.total:,})"


def phases(replay: Replay) -> list[str]:
    """Drift actions that reach outside (sends, uploads) apart from the others (reads, changes
    with the agent's own or new tools): the first are what an episode is for."""
    negatives = [p.score or 0 for p in replay.negatives()]
    threshold = replay.threshold()
    lines = ["\n  drift actions by phase      actions  AUROC  recall@thr  policy"]
    for kind in KINDS:
        for outside in (False, True):
            group = [p for p in replay.positives(kind) if TOOLS[p.action.tool].external == outside]
            if not group:
                continue
            scores = [p.score or 0 for p in group]
            lines.append(
                f"  {kind:<16} {'outside' if outside else 'inside ':<8} {len(group):>8} "
                f"{auroc(scores, negatives):>6.3f} "
                f"{100 * sum(s >= threshold for s in scores) / len(group):>9.1f} % "
                f"{100 * sum(p.alarm for p in group) / len(group):>5.1f} %"
            )
    return lines


def signal_table(replay: Replay) -> list[str]:
    """How often each signal fired (% of actions), per drift type and on benign actions."""
    short = {s: s.replace("improbable_", "").replace("_", " ")[:11] for s in SIGNALS}
    lines = [
        "\n  signals fired (% of actions)",
        "  " + " " * 17 + "".join(f"{short[s]:>12}" for s in SIGNALS),
    ]
    groups: list[tuple[str, list[Played]]] = [(k, replay.positives(k)) for k in KINDS]
    negatives = replay.negatives()
    groups.append(("benign wk 2+", negatives))
    groups.append(("benign alarms", [p for p in negatives if p.alarm and not p.collateral]))
    for name, played in groups:
        counts = Counter(s for p in played for s in p.signals)
        cells = "".join(
            f"{100 * counts[s] / len(played):>11.1f}%" if played else f"{'-':>12}" for s in SIGNALS
        )
        lines.append(f"  {name:<17}{cells}")
    return lines


def false_alarm_sources(replay: Replay, top: int = 8) -> list[str]:
    alarms = [p for p in replay.negatives() if p.alarm and not p.collateral]
    if not alarms:
        return []
    by_agent = Counter(p.action.agent.rsplit("/", 1)[-1] for p in alarms)
    by_tool = Counter(p.action.tool for p in alarms)
    by_reason = Counter(r for p in alarms for r in p.reasons)
    return [
        "\n  benign alarms by agent: "
        + ", ".join(f"{k} {v}" for k, v in by_agent.most_common(top)),
        "  benign alarms by tool:  " + ", ".join(f"{k} {v}" for k, v in by_tool.most_common(top)),
        "  benign alarms by reason: "
        + ", ".join(f"{k} {v}" for k, v in by_reason.most_common(top)),
    ]


def missed_episodes(replay: Replay, per_kind: int) -> list[str]:
    lines = ["\n  episodes the policy never caught (tool score [signals])"]
    for kind in KINDS:
        missed = [(e, p) for e, p in replay.episodes(kind) if not any(x.alarm for x in p)]
        for episode, played in missed[:per_kind]:
            steps = " → ".join(
                f"{p.action.tool} {p.score} [{','.join(p.signals)}]" for p in played[:6]
            )
            lines.append(f"  {episode.id} ({episode.agent.rsplit('/', 1)[-1]}): {steps}")
    return lines


def latency_report(results: Sequence[Latency]) -> list[str]:
    lines = ["\nLatency per decision by session length (µs; median / p99)"]
    lines.append(f"  {'length':>7} {'samples':>8} {'Runtime.decide':>22} {'session+drift':>22}")
    for r in results:
        decide = f"{statistics.median(r.decide_us):8.0f} / {percentile(r.decide_us, 99):8.0f}"
        if r.features_us is None:
            features = "n/a (not wired)"
        else:
            features = (
                f"{statistics.median(r.features_us):8.0f} / {percentile(r.features_us, 99):8.0f}"
            )
        lines.append(f"  {r.length:>7,} {len(r.decide_us):>8} {decide:>22} {features:>22}")
    if results and results[0].features_us is not None and not results[0].conclude_wired:
        lines.append("  (Runtime.conclude: n/a (not wired); features are the analysers only)")
    return lines


def _progress(done: int, total: int) -> None:
    print(f"  … {done:,}/{total:,} decisions", file=sys.stderr, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=22)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="12 agents, 3 weeks, latency ≤ 1,000")
    parser.add_argument("--misses", type=int, default=0, help="show N missed episodes per type")
    args = parser.parse_args()
    agents, weeks = (12, 3) if args.quick else (args.agents, args.weeks)
    started = time.perf_counter()
    corpus = generate(agents=agents, weeks=weeks, seed=args.seed)
    print("\n".join(shape(corpus)))
    print(f"  (generated in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        result = await replay(corpus, f"sqlite:///{folder}/drift.db", _progress)
        print("\n".join(report(result, args.misses)))
        print("  measuring latency…", file=sys.stderr, flush=True)
        lengths = (10, 1000) if args.quick else (10, 1000, 10_000)
        print("\n".join(latency_report(await latency(folder, lengths))))


if __name__ == "__main__":
    asyncio.run(main())
