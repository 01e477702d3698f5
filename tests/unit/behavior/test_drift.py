"""The drift score: each signal fires on the drift it names and stays quiet on normal work."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from drift_helpers import CLERK, MONDAY, OUTREACH, Clerk, ListSink, Outreach, Replay, facts

from warden.behavior import BehaviorService, DriftResult

SCHEMA = Path(__file__).parents[3] / "src/warden/policy/warden.cedarschema"
WEEK3 = MONDAY + timedelta(days=21)  # the Monday after three weeks of history


@pytest.fixture
def clerk_history() -> tuple[Replay, Clerk]:
    """Three weeks of the clerk's work: about 1,500 allowed actions."""
    replay, clerk = Replay(BehaviorService(None, ListSink())), Clerk()
    replay.sessions_of(clerk.days(0, 21))
    return replay, clerk


@pytest.fixture
def clerk(clerk_history: tuple[Replay, Clerk]) -> tuple[Replay, Clerk]:
    """The clerk's history, at 10:00 on the next Monday, two invoices into a new session."""
    replay, agent = clerk_history
    _mid_session(replay, agent)
    return replay, agent


def _mid_session(replay: Replay, clerk: Clerk) -> None:
    """A new session: an invoice read and matched to its purchase order (not learned)."""
    replay.new_session(CLERK)
    at = WEEK3 + timedelta(hours=10)
    replay.decide(clerk.action("read_invoice", at), learn=False)
    replay.decide(clerk.action("match_po", at + timedelta(seconds=40)), learn=False)


def _at(minutes: float = 2) -> datetime:
    return WEEK3 + timedelta(hours=10, minutes=minutes)


def _signal(result: DriftResult, name: str) -> float:
    return max((s.strength for s in result.signals if s.name == name), default=0.0)


def test_normal_work_after_warm_up_raises_almost_no_alarm(clerk_history: tuple[Replay, Clerk]):
    replay, clerk = clerk_history
    results = Replay(replay.service).sessions_of(clerk.days(21, 7))  # a fresh week, learned
    assert len(results) > 300
    assert all(r.warm and r.basis == "agent" for r in results)
    alarms = [r for r in results if r.score >= 0.6]
    assert len(alarms) <= len(results) // 1000, [r.explanation for r in alarms]
    assert sum(r.score for r in results) / len(results) < 0.1


def test_a_tool_the_agent_never_used_is_a_strong_signal(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    result = replay.decide(facts("export_table", _at()), learn=False)
    assert result.score >= 0.6
    assert [s.name for s in result.signals] == ["novel_tool"]
    assert re.fullmatch(
        r"drift \d+/100: first use of `export_table` by this agent in [\d,]+ actions over 18 days",
        result.explanation,
    )


def test_an_improbable_transition_is_a_weak_signal(clerk: tuple[Replay, Clerk]):
    replay, clerk_ = clerk
    # after match_po the clerk approves or flags, never searches for a vendor
    result = replay.decide(clerk_.action("search_vendor", _at()), learn=False)
    assert 0.2 <= result.score < 0.6
    assert [s.name for s in result.signals] == ["improbable_transition"]
    assert re.search(r"transition from `match_po` to `search_vendor` seen 0 times in [\d,]+",
                     result.explanation)  # fmt: skip


def test_usual_next_tools_are_not_improbable(clerk: tuple[Replay, Clerk]):
    replay, clerk_ = clerk
    for tool in ("approve_invoice", "flag_invoice"):
        _mid_session(replay, clerk_)
        assert _signal(replay.decide(clerk_.action(tool, _at()), learn=False),
                       "improbable_transition") == 0  # fmt: skip


def test_an_amount_far_past_the_usual_is_an_outlier(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    action = facts("approve_invoice", _at(), numbers=(("amount", 480_000.0),))
    result = replay.decide(action, learn=False)
    assert result.score >= 0.6
    assert "argument_outlier" in result.block()["signals"]
    detail = next(s.detail for s in result.signals if s.name == "argument_outlier")
    assert re.fullmatch(
        r"`amount` 480,000 is \d+\.\dσ above its usual 1,\d{3} \(range [\d,.]+ to [\d,]+ over "  # noqa: RUF001
        r"[\d,]+ calls\)",
        detail,
    )


def test_amounts_within_the_usual_spread_are_not_outliers(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    for amount in (90.0, 1_100.0, 6_000.0):
        action = facts("approve_invoice", _at(), numbers=(("amount", amount),))
        assert _signal(replay.decide(action, learn=False), "argument_outlier") == 0


def test_a_new_domain_from_an_agent_that_never_contacts_new_ones(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    action = facts("send_email", _at(), destinations=("evil.example",),
                   recipients=("drop@evil.example",))  # fmt: skip
    result = replay.decide(action, learn=False)
    assert _signal(result, "new_destination") >= 0.6
    assert re.search(r"first contact with `evil.example` \(this agent contacts a new domain "
                     r"in about "
                     r"\d\.\d% of its actions\)", result.explanation)  # fmt: skip
    assert "drop@" not in result.explanation  # domains only, never the address


def test_a_known_vendor_is_not_a_new_destination(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    action = facts("send_email", _at(), destinations=("vendor3.example",),
                   recipients=("billing@vendor3.example",))  # fmt: skip
    assert _signal(replay.decide(action, learn=False), "new_destination") == 0


def test_an_agent_that_often_contacts_new_domains_is_judged_less_harshly():
    replay, outreach = Replay(BehaviorService(None, ListSink())), Outreach()
    replay.sessions_of(outreach.days(0, 14))
    replay.new_session(OUTREACH)
    result = replay.decide(outreach.send("evil.example", MONDAY + timedelta(days=14, hours=10)))
    assert _signal(result, "new_destination") == 0  # a third of its mail goes to new domains
    assert result.score < 0.6


def test_a_burst_of_actions_in_a_minute(clerk: tuple[Replay, Clerk]):
    replay, clerk_ = clerk
    results = [
        replay.decide(clerk_.action("read_invoice", _at() + timedelta(seconds=3 * n)), learn=False)
        for n in range(14)
    ]
    assert _signal(results[2], "burst") == 0  # a few quick reads are normal
    last = results[-1]
    assert 0.3 <= _signal(last, "burst") < 0.6
    assert re.search(r"1\d actions in the last minute \(usual at most \d\)", last.explanation)


def test_an_hour_the_agent_never_works(clerk: tuple[Replay, Clerk]):
    replay, clerk_ = clerk
    sunday_3am = WEEK3 - timedelta(hours=21)
    result = replay.decide(clerk_.action("approve_invoice", sunday_3am), learn=False)
    assert 0.2 <= result.score < 0.6
    assert "active Sunday 03:00 UTC, an hour with 0 of 1," in result.explanation
    tuesday = WEEK3 + timedelta(days=1, hours=11)
    assert _signal(replay.decide(clerk_.action("approve_invoice", tuesday), learn=False),
                   "unusual_hour") == 0  # fmt: skip


def test_a_deeper_delegation_chain(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    result = replay.decide(facts("approve_invoice", _at(), chain_depth=3), learn=False)
    assert 0.3 <= result.score < 0.6
    assert "delegation chain 3 deep (deepest seen 1)" in result.explanation


def test_two_weak_signals_together_cross_the_step_up_level(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    sunday_3am = WEEK3 - timedelta(hours=21)
    result = replay.decide(facts("approve_invoice", sunday_3am, chain_depth=3), learn=False)
    strengths = [s.strength for s in result.signals]
    assert len(strengths) == 2 and max(strengths) < 0.6
    assert result.score == pytest.approx(1 - (1 - strengths[0]) * (1 - strengths[1]))
    assert result.score >= 0.6
    assert result.explanation.startswith(f"drift {round(result.score * 100)}/100: ")


def test_a_normal_action_explains_that_nothing_fired(clerk: tuple[Replay, Clerk]):
    replay, clerk_ = clerk
    result = replay.decide(clerk_.action("approve_invoice", _at()), learn=False)
    assert (result.score, result.signals, result.explanation) == (0, (), "no drift signal")


def test_a_session_drifting_on_and_on_becomes_sustained(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    tools = ("export_table", "dump_db", "list_users", "export_users")
    results = [replay.decide(facts(t, _at(n)), learn=False) for n, t in enumerate(tools)]
    assert [r.run for r in results] == [1, 2, 3, 4]
    assert [r.sustained for r in results] == [False, False, True, True]
    assert results[2].block()["session_score"] >= 50
    calm = replay.decide(facts("read_invoice", _at(5)), learn=False)
    assert calm.run == 0 and not calm.sustained
    assert 0 < calm.session_score < results[-1].session_score


def test_the_block_has_exactly_the_schema_keys(clerk: tuple[Replay, Clerk]):
    replay, _ = clerk
    declared = re.search(r"type DriftBlock = \{(.*?)\};", SCHEMA.read_text(), re.S)
    assert declared is not None
    keys = set(re.findall(r"^\s*(\w+):", declared.group(1), re.M))
    block = replay.decide(facts("export_table", _at(), chain_depth=4), learn=False).block()
    assert set(block) == keys
    assert block["signals"] == ["deeper_chain", "novel_tool"]
    assert isinstance(block["score"], int) and 0 <= block["score"] <= 100
    assert (block["warm"], block["baseline"]) == (True, "agent")
