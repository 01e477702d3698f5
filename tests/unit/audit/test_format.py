from __future__ import annotations

from dataclasses import replace

from audit_helpers import T0, decision

from warden.audit import GENESIS_HASH, EventType, LedgerEntry, format_entry


def entry(event_type: EventType, payload: dict[str, object]) -> LedgerEntry:
    return LedgerEntry(1042, "e", 1, event_type, T0, payload, GENESIS_HASH, "f" * 64)


def test_a_decision_reads_as_outcome_subject_action_resource_and_first_reason() -> None:
    payload = decision(1)
    payload["reasons"] = [{"code": "forbid-large-refund"}, {"code": "second"}]
    line = format_entry(entry(EventType.DECISION_DENY, payload))
    assert line == (
        "2026-11-28T14:03:11Z  #1042  decision:deny  deny  "
        "agent:spiffe://acme/agent/a1 → payments.refund → invoice:INV-1  [forbid-large-refund]"
    )


def test_a_decision_without_reasons_has_no_brackets() -> None:
    payload = {**decision(1), "reasons": [], "outcome": "allow"}
    line = format_entry(entry(EventType.DECISION_ALLOW, payload))
    assert line.endswith("→ invoice:INV-1")


def test_unknown_payload_fields_never_reach_the_terminal() -> None:
    payload = {**decision(1), "context": {"api_key": "sk-live-secret"}, "token": "eyJsecret"}
    line = format_entry(entry(EventType.DECISION_DENY, payload))
    assert "secret" not in line


def test_control_characters_cannot_forge_lines() -> None:
    payload = decision(1)
    payload["resource"] = {"type": "invoice", "id": "x\n2026-01-01  #1  decision:allow\x1b[2K"}
    line = format_entry(entry(EventType.DECISION_DENY, payload))
    assert "\n" not in line
    assert "\x1b" not in line


def test_long_values_are_shortened() -> None:
    payload = {**decision(1), "action": {"name": "a" * 500}}
    assert len(format_entry(entry(EventType.DECISION_DENY, payload))) < 250


def test_other_events_show_only_identifying_fields() -> None:
    created = entry(
        EventType.REGISTRY_AGENT_CREATED,
        {"id": "spiffe://acme/agent/billing", "owner": "alice@example.com", "secret": "s"},
    )
    assert format_entry(created) == (
        "2026-11-28T14:03:11Z  #1042  registry:agent:created  id=spiffe://acme/agent/billing"
    )


def test_a_lifecycle_change_shows_from_to_and_why() -> None:
    changed = entry(
        EventType.REGISTRY_AGENT_STATUS_CHANGED,
        {"actor": "ana@acme.example", "agent_id": "spiffe://acme/agent/ap", "from": "active",
         "to": "suspended", "reason": "ticket SEC-7\x1b[2J"},
    )  # fmt: skip
    assert format_entry(changed) == (
        "2026-11-28T14:03:11Z  #1042  registry:agent:status_changed  agent_id=spiffe://acme/agent/ap"
        "  from=active  to=suspended  reason=ticket SEC-7\ufffd[2J  actor=ana@acme.example"
    )


def test_an_event_type_from_a_newer_warden_still_renders() -> None:
    newer = replace(entry(EventType.DECISION_DENY, {}), event_type="agent:credential:issued")
    assert format_entry(newer) == "2026-11-28T14:03:11Z  #1042  agent:credential:issued"


def test_a_malformed_decision_payload_renders_placeholders() -> None:
    line = format_entry(entry(EventType.DECISION_STEP_UP, {"subject": "nope", "reasons": "x"}))
    assert line.endswith("decision:step_up  ?  ?:? → ? → ?:?")


def test_registry_events_name_the_agent_or_tool_and_who_changed_it() -> None:
    agent = {"actor": "admin", "agent": {"id": "spiffe://acme/agent/a1", "owner": "x@acme"}}
    tool = {"actor": "cli", "tool": {"name": "payments.transfer", "description": "secret"}}
    agent_line = format_entry(entry(EventType.REGISTRY_AGENT_CREATED, agent))
    tool_line = format_entry(entry(EventType.REGISTRY_TOOL_CREATED, tool))
    assert agent_line.endswith("agent=spiffe://acme/agent/a1  actor=admin")
    assert tool_line.endswith("tool=payments.transfer  actor=cli")
    assert "secret" not in tool_line
