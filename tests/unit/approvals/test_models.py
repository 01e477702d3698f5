"""The action hash binds an approval to one exact action: the same action hashes the same
(whatever the key order), and any change a person would care about hashes differently."""

from __future__ import annotations

from typing import Any

import pytest

from warden.approvals import action_hash

AGENT = "spiffe://acme.example/agent/ap-clerk"
BASE: dict[str, Any] = {
    "agent": AGENT,
    "action": "call",
    "resource_type": "tool",
    "resource_id": "payments.transfer",
    "arguments": {"amount": 48_000, "to": {"iban": "DE89370400440532013000", "name": "Nordwind"}},
    "mandate_id": "mnd_1",
    "hop_id": "hop_1",
}


def test_the_same_action_hashes_the_same_whatever_the_key_order() -> None:
    reordered = {**BASE, "arguments": {"to": {"name": "Nordwind", "iban": "DE89370400440532013000"},
                                       "amount": 48_000}}  # fmt: skip
    first = action_hash(**BASE)
    assert first == action_hash(**BASE) == action_hash(**reordered)
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"arguments": {**BASE["arguments"], "amount": 48_001}},
        {"arguments": {**BASE["arguments"], "amount": 48_000.0}},  # numbers as given
        {"arguments": {**BASE["arguments"], "amount": "48000"}},
        {"arguments": {**BASE["arguments"], "to": {"iban": "GB29NWBK60161331926819"}}},
        {"arguments": {**BASE["arguments"], "memo": "extra"}},
        {"resource_id": "payments.refund"},
        {"resource_type": "api"},
        {"action": "read"},
        {"agent": "spiffe://acme.example/agent/other"},
        {"mandate_id": "mnd_2"},
        {"mandate_id": None},
        {"mandate_id": ""},
        {"hop_id": "hop_2"},
        {"hop_id": None},
    ],
)
def test_any_change_to_the_action_changes_the_hash(change: dict[str, Any]) -> None:
    assert action_hash(**{**BASE, **change}) != action_hash(**BASE)


def test_values_are_not_confused_across_fields() -> None:
    """Moving a value from one field to another is a different action (no concatenation)."""
    one = {**BASE, "mandate_id": "x", "hop_id": None}
    other = {**BASE, "mandate_id": None, "hop_id": "x"}
    assert action_hash(**one) != action_hash(**other)
