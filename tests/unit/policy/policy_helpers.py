"""Helpers for policy tests: a request against Warden's default schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cedarpy
import pytest

from warden.policy import Bundle, PolicyVerdict, PreparedPolicies, default_schema

AGENT = {"type": "Agent", "id": "spiffe://acme/agent/clerk"}
INVOKE = {"type": "Action", "id": "invoke"}
TOOL = {"type": "Tool", "id": "payments.send"}


def context(**risk: Any) -> dict[str, Any]:
    block = {"registered": True, "read_only": False, "destructive": False, "external": False}
    return {
        "identity": {"registered": True, "status": "active", "risk_tier": "low"},
        "risk": {**block, "labels": [], **risk},
    }


def prepare(*files: str, entities: tuple[Mapping[str, Any], ...] = ()) -> PreparedPolicies:
    policies = {f"p{i}.cedar": text for i, text in enumerate(files)}
    return PreparedPolicies.prepare(Bundle(policies, default_schema(), entities), 1)


def request_entities(prepared: PreparedPolicies, risk_tier: str = "low") -> cedarpy.Entities:
    agent = {
        "uid": AGENT,
        "attrs": {
            "display_name": "clerk",
            "owner": {"__entity": {"type": "Person", "id": "ann"}},
            "team": {"__entity": {"type": "Team", "id": "finance"}},
            "status": "active",
            "risk_tier": risk_tier,
        },
        "parents": [{"type": "Team", "id": "finance"}],
    }
    tool = {
        "uid": TOOL,
        "attrs": {
            "description": "send money",
            "read_only": False,
            "destructive": True,
            "external": True,
            "labels": ["finance"],
        },
        "parents": [],
    }
    return prepared.base_entities.with_added_json_str(json.dumps([agent, tool]))


def decide(prepared: PreparedPolicies, ctx: dict[str, Any] | None = None) -> PolicyVerdict:
    ctx = context() if ctx is None else ctx
    return prepared.evaluate(AGENT, INVOKE, TOOL, ctx, request_entities(prepared))


@pytest.fixture
def schema() -> str:
    return default_schema()
