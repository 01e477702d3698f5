from __future__ import annotations

import math
from typing import Any

import pytest

from warden.policy import InvalidValue, cedar_entity, cedar_entity_type, to_cedar_value


@pytest.mark.parametrize(
    ("authzen", "cedar"),
    [
        ("user", "User"),
        ("todo", "Todo"),
        ("identity", "Identity"),
        ("route", "Route"),
        ("tool_call", "ToolCall"),
        ("Agent", "Agent"),
        ("acme::thing", "acme::thing"),
    ],
)
def test_entity_types(authzen: str, cedar: str) -> None:
    assert cedar_entity_type(authzen) == cedar


@pytest.mark.parametrize(
    ("value", "cedar"),
    [
        (True, True),
        ("pii", "pii"),
        (42, 42),
        (2.0, 2),
        (-1e3, -1000),
        (12.5, {"__extn": {"fn": "decimal", "arg": "12.5"}}),
        (-0.0001, {"__extn": {"fn": "decimal", "arg": "-0.0001"}}),
        ({"a": None, "b": {"c": [1, "x"]}}, {"b": {"c": [1, "x"]}}),
        ((1, 2), [1, 2]),
        ({"__entity": {"type": "Team", "id": "t"}}, {"__entity": {"type": "Team", "id": "t"}}),
    ],
)
def test_values_convert(value: Any, cedar: Any) -> None:
    assert to_cedar_value(value, "context.x") == cedar


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"amount": 0.12345}, "context.amount"),
        ({"amount": 1e300 + 0.5}, "context.amount"),
        ({"n": 2**63}, "context.n"),
        ({"n": -(2**63) - 1}, "context.n"),
        ({"n": float(2**70)}, "context.n"),
        ({"x": 922337203685477.6}, "context.x"),
        ({"nested": {"deep": [1, None]}}, "context.nested.deep[1]"),
        ({"nan": math.nan}, "context.nan"),
        ({"when": object()}, "context.when"),
        (None, "context"),
    ],
)
def test_values_without_a_cedar_form_name_their_path(value: Any, path: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        to_cedar_value(value, "context")
    assert caught.value.path == path
    assert caught.value.message.startswith(f"`{path}` ")


def test_extreme_longs_are_kept() -> None:
    assert to_cedar_value([2**63 - 1, -(2**63)], "x") == [2**63 - 1, -(2**63)]


def test_decimals_that_cedar_accepts() -> None:
    import cedarpy

    value = to_cedar_value({"x": 922337203685477.5}, "context")
    policy = 'permit(principal, action, resource) when { context.x.greaterThan(decimal("1.0")) };'
    request = {
        "principal": 'A::"a"',
        "action": 'Action::"a"',
        "resource": 'A::"r"',
        "context": value,
    }
    assert cedarpy.is_authorized(request, policy, []).allowed


def test_cedar_entity() -> None:
    entity = cedar_entity("Tool", "send", {"cost": 1.5, "note": None}, [("Team", "t")])
    assert entity == {
        "uid": {"type": "Tool", "id": "send"},
        "attrs": {"cost": {"__extn": {"fn": "decimal", "arg": "1.5"}}},
        "parents": [{"type": "Team", "id": "t"}],
    }
