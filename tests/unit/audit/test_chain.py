from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785

from warden.audit import (
    GENESIS_HASH,
    InvalidEntry,
    InvalidPayload,
    canonical_payload,
    entry_hash,
    format_timestamp,
    parse_timestamp,
)

FIELDS: dict[str, Any] = {
    "version": 1,
    "seq": 42,
    "entry_id": "0193b7c2e4a07d5f8a1b2c3d4e5f6a7b",
    "event_type": "decision:deny",
    "recorded_at_iso": "2026-11-28T14:03:11.000123Z",
    "payload": {"outcome": "deny", "amount": 1.5, "labels": ["pii", "é"], "n": None},
    "prev_hash": "ab" * 32,
}


def test_genesis_is_64_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


def test_hash_is_sha256_of_the_jcs_object_of_exactly_the_seven_fields() -> None:
    wire = dict(FIELDS)
    wire["recorded_at"] = wire.pop("recorded_at_iso")
    expected = hashlib.sha256(rfc8785.dumps(wire)).hexdigest()
    assert entry_hash(**FIELDS) == expected


def test_hash_is_stable_across_releases() -> None:
    # Pinned: if this changes, every stored ledger stops verifying.
    assert entry_hash(**FIELDS) == PINNED


PINNED = "6173c9a1e559263ce9f36a84d5bb9d7c84e6452bd34cabc88380ceeda5f595f7"


def test_hash_ignores_payload_key_order() -> None:
    reordered = dict(reversed(list(FIELDS["payload"].items())))
    assert entry_hash(**{**FIELDS, "payload": reordered}) == entry_hash(**FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 2),
        ("seq", 43),
        ("entry_id", "0193b7c2e4a07d5f8a1b2c3d4e5f6a7c"),
        ("event_type", "decision:allow"),
        ("recorded_at_iso", "2026-11-28T14:03:11.000124Z"),
        ("payload", {**FIELDS["payload"], "outcome": "allow"}),
        ("payload", {**FIELDS["payload"], "extra": 0}),
        ("prev_hash", "ac" + "ab" * 31),
    ],
)
def test_changing_any_field_changes_the_hash(field: str, value: Any) -> None:
    assert entry_hash(**{**FIELDS, field: value}) != entry_hash(**FIELDS)


def test_canonical_payload_is_rfc8785() -> None:
    assert canonical_payload({"b": 1.0, "a": [True, None, "x"]}) == '{"a":[true,null,"x"],"b":1}'


@pytest.mark.parametrize(
    "payload",
    [
        {"x": float("nan")},
        {"x": b"bytes"},
        {"x": 2**60},
        {"x": datetime.now(UTC)},
        {1: "non-string key"},
        ["not", "an", "object"],
    ],
)
def test_non_json_payloads_are_refused(payload: Any) -> None:
    with pytest.raises(InvalidPayload) as caught:
        canonical_payload(payload)
    assert caught.value.code == "invalid_ledger_payload"


def test_timestamps_are_utc_with_microseconds_and_round_trip() -> None:
    moment = datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))
    text = format_timestamp(moment)
    assert text == "2025-12-31T23:02:03.000004Z"
    assert parse_timestamp(text) == moment


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(InvalidEntry):
        format_timestamp(datetime(2026, 1, 1))


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000000+00:00"])
def test_other_timestamp_shapes_do_not_parse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
