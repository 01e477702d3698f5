"""Slicing must never change a decision: sliced and unsliced evaluation agree (seeded)."""

from __future__ import annotations

import json
import random

import pytest

from warden.decisions.models import Outcome
from warden.policy import Bundle, PolicyVerdict, PreparedPolicies

SCHEMA = """
entity Agent { tier: Long };
entity Doc;
entity Tool;
type Ctx = { flag: Bool, n: Long };
action all;
action read, write in [all] appliesTo { principal: Agent, resource: [Doc, Tool], context: Ctx };
action delete appliesTo { principal: Agent, resource: [Doc, Tool], context: Ctx };
"""
ACTIONS = ["read", "write", "delete"]
ACTION_SCOPES = [
    "action",
    'action == Action::"read"',
    'action == Action::"delete"',
    'action in [Action::"read", Action::"delete"]',
    'action in [Action::"write"]',
    'action in Action::"all"',
    'action in [Action::"all", Action::"delete"]',
]
RESOURCE_SCOPES = ["resource", "resource is Doc", "resource is Tool", 'resource == Tool::"t1"']
CONDITIONS = [
    "",
    "when { context.flag }",
    "unless { context.flag }",
    "when { context.n > 2 }",
    "when { principal.tier < context.n }",
    "when { context.n > 3 && context.n * 4611686018427387904 > 0 }",  # overflows: errors
]


def random_policy(rng: random.Random, index: int) -> str:
    effect = rng.choice(["permit", "permit", "forbid", "step_up"])
    annotation = '@outcome("step_up") ' if effect == "step_up" else ""
    annotation += f'@id("r{index}") ' if rng.random() < 0.5 else ""
    scope = f"principal, {rng.choice(ACTION_SCOPES)}, {rng.choice(RESOURCE_SCOPES)}"
    keyword = "forbid" if effect == "step_up" else effect
    return f"{annotation}{keyword}({scope}) {rng.choice(CONDITIONS)};"


def verdict_key(verdict: PolicyVerdict) -> tuple[Outcome, list[str]]:
    return verdict.outcome, sorted(r.code for r in verdict.reasons)


@pytest.mark.parametrize("seed", range(12))
def test_sliced_and_unsliced_decisions_agree(seed: int) -> None:
    rng = random.Random(seed)
    files = {
        f"f{f}.cedar": "\n".join(random_policy(rng, f * 100 + i) for i in range(rng.randint(1, 6)))
        for f in range(3)
    }
    bundle = Bundle(files, SCHEMA)
    sliced = PreparedPolicies.prepare(bundle, 1)
    unsliced = PreparedPolicies.prepare(bundle, 1, slicing=False)
    entities = sliced.base_entities.with_added_json_str(
        json.dumps(
            [{"uid": {"type": "Agent", "id": "a"}, "attrs": {"tier": 2}, "parents": []}]
            + [
                {"uid": {"type": t, "id": i}, "attrs": {}, "parents": []}
                for t in ("Doc", "Tool")
                for i in ("t1", "t2")
            ]
        )
    )
    for _ in range(40):
        args = (
            {"type": "Agent", "id": "a"},
            {"type": "Action", "id": rng.choice(ACTIONS)},
            {"type": rng.choice(["Doc", "Tool"]), "id": rng.choice(["t1", "t2"])},
            {"flag": rng.random() < 0.5, "n": rng.randint(0, 5)},
            entities,
        )
        assert verdict_key(sliced.evaluate(*args)) == verdict_key(unsliced.evaluate(*args)), files


def test_a_slice_holds_only_policies_for_its_action_and_resource_type() -> None:
    files = {
        "a.cedar": (
            'permit(principal, action == Action::"read", resource is Doc);\n'
            'permit(principal, action == Action::"delete", resource);\n'
            'forbid(principal, action in Action::"all", resource is Tool);\n'
            'permit(principal, action in [Action::"write"], resource);\n'
            'permit(principal, action == Action::"read", resource == Tool::"t1");\n'
        )
    }
    prepared = PreparedPolicies.prepare(Bundle(files, SCHEMA), 1)
    chosen = {
        key: [p.compiled.id for p in prepared._policies.values() if p.applies_to(key)]
        for key in [
            ("Action", "read", "Doc", None),
            ("Action", "delete", "Tool", None),
            ("Action", "read", "Tool", None),
            ("Action", "read", "Tool", "t1"),
        ]
    }
    assert chosen == {
        ("Action", "read", "Doc", None): ["a.cedar#0"],
        ("Action", "delete", "Tool", None): ["a.cedar#1", "a.cedar#2"],
        ("Action", "read", "Tool", None): ["a.cedar#2"],
        # A policy pinned to one resource is in that resource's slice only.
        ("Action", "read", "Tool", "t1"): ["a.cedar#2", "a.cedar#4"],
    }
