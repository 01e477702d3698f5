"""`warden policy test` case files and the registry entries a bundle's entities imply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.cli.policy import CaseError, load_cases, registry_specs
from warden.decisions.models import Outcome
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.models import AgentStatus, RiskTier
from warden.registry.specs import AgentSpec, ToolSpec

REQUEST = {
    "subject": {"type": "agent", "id": "spiffe://acme.example/agent/ap"},
    "action": {"name": "invoke"},
    "resource": {"type": "tool", "id": "ledger.read"},
}


def test_cases_come_from_objects_and_lists_in_file_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"request": REQUEST, "expected": "deny"}))
    (tmp_path / "a.json").write_text(
        json.dumps([{"name": "reads", "request": REQUEST, "expected": "allow"}])
    )
    (tmp_path / "notes.txt").write_text("not a case")

    cases = load_cases(tmp_path)

    assert [(c.name, c.expected) for c in cases] == [
        ("reads", Outcome.ALLOW),
        ("b.json", Outcome.DENY),
    ]
    assert cases[0].request.resource.id == "ledger.read"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"request": {},\n  "expected": nope}', "c.json:2:15: not valid JSON"),
        (json.dumps({"request": REQUEST, "expected": "maybe"}), "`maybe`"),
        (json.dumps({"expected": "allow"}), "`request` must be"),
        (
            json.dumps({"request": {"subject": {}}, "expected": "allow"}),
            "not a valid evaluation request: missing",
        ),
        (json.dumps([1]), "c.json[0]: a case must be an object"),
    ],
)
def test_malformed_cases_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "c.json").write_text(content)
    with pytest.raises(CaseError) as caught:
        load_cases(tmp_path)
    assert message in caught.value.message


def test_an_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"no `\*\.json` files"):
        load_cases(tmp_path)
    with pytest.raises(CaseError, match="does not exist"):
        load_cases(tmp_path / "nowhere")


def test_agents_and_tools_in_the_bundle_become_registry_specs() -> None:
    agent = {
        "uid": {"type": "Agent", "id": "spiffe://acme.example/agent/ap"},
        "attrs": {
            "display_name": "AP",
            "owner": {"__entity": {"type": "Person", "id": "ana@acme.example"}},
            "status": "suspended",
            "risk_tier": "high",
        },
        "parents": [{"type": "Team", "id": "finance"}],
    }
    tool = {"uid": {"type": "Tool", "id": "ledger.read"}, "attrs": {"read_only": True}}
    team = {"uid": {"type": "Team", "id": "finance"}, "attrs": {}, "parents": []}
    bundle = Bundle({"a.cedar": ""}, default_schema(), (agent, tool, team))

    specs = registry_specs(bundle)

    assert specs[0] == AgentSpec(
        id="spiffe://acme.example/agent/ap",
        display_name="AP",
        owner="ana@acme.example",
        team="finance",
        status=AgentStatus.SUSPENDED,
        risk_tier=RiskTier.HIGH,
    )
    assert isinstance(specs[1], ToolSpec) and specs[1].annotations.read_only
    assert len(specs) == 2
