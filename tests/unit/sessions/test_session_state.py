"""Session state: exact sliding windows, counts before the action, bounded work and memory."""

from __future__ import annotations

from datetime import datetime, timedelta

from session_helpers import AGENT, START, facts

from warden.decisions.models import Outcome
from warden.sessions import DriftMark, SessionState, session_id
from warden.sessions.models import MAX_DESTINATIONS, MAX_RECENT


def _state() -> SessionState:
    return SessionState(session_id(AGENT, ""), AGENT, "", START)


def _at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_session_id_is_stable_and_differs_per_mandate() -> None:
    assert session_id(AGENT, "") == session_id(AGENT, "")
    assert session_id(AGENT, "") != session_id(AGENT, "m-1")
    assert session_id(AGENT, "").startswith("ses_") and len(session_id(AGENT, "")) == 28


def test_windows_count_exactly_the_actions_inside_them() -> None:
    state = _state()
    for second in (0, 30, 100, 550, 3000):
        state.record(facts("erp.read", _at(second)), Outcome.ALLOW, None)
    block = state.block(facts("erp.read", _at(3010)))
    # m1: (2950, 3010] → 3000; m10: (2410, 3010] → 3000; h1: everything after -590 → all 5
    assert [block[w]["actions"] for w in ("m1", "m10", "h1", "d1")] == [1, 1, 5, 5]
    # an action exactly one window old has left it
    assert _state_with_one_at(0).block(facts("x", _at(60)))["m1"]["actions"] == 0
    assert _state_with_one_at(0).block(facts("x", _at(59.9)))["m1"]["actions"] == 1


def _state_with_one_at(second: float) -> SessionState:
    state = _state()
    state.record(facts("x", _at(second)), Outcome.ALLOW, None)
    return state


def test_block_counts_the_session_before_this_action_and_sums_amounts_with_it() -> None:
    state = _state()
    state.record(facts("pay", _at(0), amount=100.0, call="a"), Outcome.ALLOW, None)
    state.record(facts("pay", _at(1), amount=250.0, call="b"), Outcome.STEP_UP, None)
    state.record(facts("refund", _at(2), amount=40.0), Outcome.ALLOW, None)
    state.record(facts("pay", _at(3), amount=9999.0, call="c"), Outcome.DENY, None)
    block = state.block(facts("pay", _at(4), amount=50.0))
    assert block["actions"] == 3  # the denied one did not count
    assert block["m1"] == {
        "actions": 3,
        "tool": 2,
        "destructive": 0,
        "external": 0,
        "denied": 1,
        "amount": 400,  # 100 + 250 (held) + 50 (this action); the denied 9999 did not run
    }
    assert block["tools_used"] == ["pay", "refund"]
    assert block["previous_tool"] == "refund"


def test_amounts_leave_the_window_with_their_actions() -> None:
    state = _state()
    state.record(facts("pay", _at(0), amount=100.5), Outcome.ALLOW, None)
    state.record(facts("pay", _at(30), amount=20.0, call="2"), Outcome.ALLOW, None)
    assert state.block(facts("pay", _at(70)))["m1"]["amount"] == 20
    assert state.block(facts("pay", _at(100)))["m1"] == {
        "actions": 0,
        "tool": 0,
        "destructive": 0,
        "external": 0,
        "denied": 0,
        "amount": 0,
    }
    assert state.block(facts("pay", _at(100)))["h1"]["amount"] == 120  # 120.5 rounded


def test_only_allowed_actions_add_labels_changes_and_destinations() -> None:
    state = _state()
    secret = facts("vault.read", _at(0), read_only=True, labels={"secret"})
    state.record(secret, Outcome.DENY, None)
    state.record(facts("bank.update", _at(1), labels={"bank_details"}), Outcome.STEP_UP, None)
    mail = facts("mail.send", _at(2), external=True, destinations=("evil.example",))
    state.record(mail, Outcome.DENY, None)
    block = state.block(facts("x", _at(3)))
    assert block["labels_seen"] == [] and block["labels_changed"] == []
    assert block["destinations"] == [] and block["seconds_since_change"] == -1
    state.record(facts("bank.update", _at(4), labels={"bank_details"}), Outcome.ALLOW, None)
    state.record(facts("crm.read", _at(5), read_only=True, labels={"pii"}), Outcome.ALLOW, None)
    state.record(mail, Outcome.ALLOW, None)
    block = state.block(facts("x", _at(14)))
    assert block["labels_seen"] == ["bank_details", "pii"]
    assert block["labels_changed"] == ["bank_details"]  # the read-only read changed nothing
    assert block["destinations"] == ["evil.example"]
    assert block["seconds_since_change"] == 10


def test_new_destination_only_for_external_actions_to_unseen_domains() -> None:
    state = _state()
    send = facts("mail.send", _at(0), external=True, destinations=("a.example",))
    assert state.block(send)["new_destination"] is True
    state.record(send, Outcome.ALLOW, None)
    assert (
        state.block(facts("mail.send", _at(1), external=True, destinations=("a.example",)))[
            "new_destination"
        ]
        is False
    )
    both = facts("mail.send", _at(2), external=True, destinations=("a.example", "b.example"))
    assert state.block(both)["new_destination"] is True
    internal = facts("wiki.write", _at(3), external=False, destinations=("c.example",))
    assert state.block(internal)["new_destination"] is False


def test_destinations_are_bounded() -> None:
    state = _state()
    for i in range(MAX_DESTINATIONS + 50):
        send = facts(
            "mail.send", _at(i), external=True, destinations=(f"d{i}.example",), call=str(i)
        )
        state.record(send, Outcome.ALLOW, None)
    assert len(state.destinations) == MAX_DESTINATIONS
    unseen = facts("mail.send", _at(9999), external=True, destinations=("d1020.example",))
    assert state.block(unseen)["new_destination"] is True  # past the bound: still "new"


def test_repeats_count_identical_calls_in_a_row_before_this_one() -> None:
    state = _state()
    assert state.block(facts("t", _at(0), call="same"))["repeats"] == 0
    for i in range(3):
        state.record(facts("t", _at(i), call="same"), Outcome.ALLOW, None)
    assert state.block(facts("t", _at(3), call="same"))["repeats"] == 3
    assert state.block(facts("t", _at(3), call="other"))["repeats"] == 0
    state.record(facts("t", _at(4), call="other"), Outcome.ALLOW, None)
    assert state.block(facts("t", _at(5), call="same"))["repeats"] == 0


def test_seconds_since_start_and_previous() -> None:
    state = _state()
    first = state.block(facts("t", START))
    assert (first["seconds_since_start"], first["seconds_since_previous"]) == (0, -1)
    state.record(facts("t", _at(10)), Outcome.ALLOW, None)
    state.record(facts("t", _at(20)), Outcome.DENY, None)  # denied: not a previous action
    block = state.block(facts("t", _at(25)))
    assert (block["seconds_since_start"], block["seconds_since_previous"]) == (25, 15)


def test_count_reads_one_window_and_drift_mark_is_kept() -> None:
    state = _state()
    mark = DriftMark(0.2, 0.1, 0)
    state.record(facts("t", _at(0)), Outcome.ALLOW, mark)
    state.record(facts("t", _at(120)), Outcome.ALLOW, None)
    assert state.count("m1", _at(121)) == 1
    assert state.count("m10", _at(121)) == 2
    assert state.drift == mark  # an action without a mark keeps the last one


def test_sorted_sets_are_rebuilt_only_when_they_change() -> None:
    state = _state()
    state.record(facts("a", _at(0), labels={"pii"}, read_only=True), Outcome.ALLOW, None)
    before = state.block(facts("b", _at(1)))
    state.record(facts("a", _at(2), labels={"pii"}, read_only=True), Outcome.ALLOW, None)
    same = state.block(facts("b", _at(3)))
    assert same["labels_seen"] is before["labels_seen"]  # cached: not re-sorted
    assert same["tools_used"] is before["tools_used"]
    state.record(facts("c", _at(4), labels={"finance"}, read_only=True), Outcome.ALLOW, None)
    after = state.block(facts("b", _at(5)))
    assert after["labels_seen"] == ["finance", "pii"] and after["tools_used"] == ["a", "c"]


def test_a_long_session_holds_only_in_window_entries_and_evicts_each_once() -> None:
    """The work per action does not grow with the session: 10,000 actions, one per 10 s."""
    state = _state()
    evicted_total = 0
    windows = state._windows  # white box: count entries and evictions, not time
    for i in range(10_000):
        at = _at(i * 10)
        evicted = sum(w.slide(at.timestamp()) for w in windows.values())
        evicted_total += evicted
        assert evicted <= 4  # one entry per window at most leaves per action at this pace
        state.record(facts("t", at, call=str(i)), Outcome.ALLOW, None)
    last = _at(9_999 * 10)
    block = state.block(facts("t", last))
    assert (block["m1"]["actions"], block["m10"]["actions"]) == (6, 60)
    assert (block["h1"]["actions"], block["d1"]["actions"]) == (360, 8640)
    assert [state.held(w) for w in ("m1", "m10", "h1", "d1")] == [6, 60, 360, 8640]
    # every entry entered each of the four windows once and left it at most once
    assert evicted_total <= 4 * 10_000
    assert len(state.recent) == MAX_RECENT
    assert state.actions == 10_000


def test_round_trip_through_bytes_keeps_the_block() -> None:
    state = _state()
    state.record(facts("crm.read", _at(0), read_only=True, labels={"pii"}), Outcome.ALLOW, None)
    state.record(facts("bank.update", _at(5), labels={"bank_details"}), Outcome.ALLOW, None)
    mail = facts("mail.send", _at(30), external=True, destinations=("x.example",), amount=12.5)
    state.record(mail, Outcome.ALLOW, DriftMark(0.7, 0.4, 2))
    state.record(mail, Outcome.DENY, DriftMark(0.9, 0.6, 3))
    state.observe({"secret"}, True, _at(31))
    probe = facts("mail.send", _at(70), external=True, destinations=("y.example",), amount=1.0)
    copy = SessionState.from_bytes(state.to_bytes())
    assert copy.block(probe) == state.block(probe)
    assert copy.detail(_at(70)) == state.detail(_at(70))
    assert copy.drift == DriftMark(0.9, 0.6, 3) and copy.previous_tool == "mail.send"
    later = facts("mail.send", _at(4000), call="z")
    assert copy.block(later) == state.block(later)
