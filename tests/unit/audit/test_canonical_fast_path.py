"""The orjson fast path of ``canonical_json`` emits exactly RFC 8785 bytes."""

from __future__ import annotations

import random
from typing import Any

import pytest
import rfc8785

from warden.audit.chain import canonical_json

ALPHABET = [chr(i) for i in range(0x80)] + ["é", "ß", "\u2028", "\ufeff", "\U0001f600", "中"]


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 4 else 4)
    if kind == 0:
        return _string(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randint(-(10**12), 10**12)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4):
        return rng.choice([0.5, 1e21, 1e-7, -0.0, 123.456, 2.0])
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [_string(rng) if rng.random() < 0.3 else f"k{rng.randint(0, 99)}" for _ in range(4)]
    return {k: _value(rng, depth + 1) for k in keys}


@pytest.mark.parametrize("seed", range(40))
def test_matches_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        value = {"payload": _value(rng)}
        assert canonical_json(value) == rfc8785.dumps(value)


def test_unsafe_integers_are_refused_like_rfc8785() -> None:
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_json({"n": 2**53})
