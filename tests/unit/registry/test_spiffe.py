"""SPIFFE ID rules (STANDARDS.md §10, spiffe/spiffe standards/SPIFFE-ID.md)."""

from __future__ import annotations

import pytest

from warden.registry.spiffe import spiffe_id_problem


@pytest.mark.parametrize(
    "value",
    [
        "spiffe://acme.example/agent/ap-clerk",
        "spiffe://prod_td-1.example/agent/Finance.Bot_2",
        "spiffe://a/" + "x" * (2048 - len("spiffe://a/")),
    ],
)
def test_valid_ids(value: str) -> None:
    assert spiffe_id_problem(value) is None


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("https://acme.example/agent/x", "starts with"),
        ("spiffe://Acme.example/agent/x", "trust domain"),
        ("spiffe://acme.example:8443/agent/x", "trust domain"),
        ("spiffe://user@acme.example/agent/x", "trust domain"),
        ("spiffe://acme.example", "needs a path"),
        ("spiffe://acme.example/", "needs a path"),
        ("spiffe://acme.example/agent//x", "segment ``"),
        ("spiffe://acme.example/agent/./x", "segment `.`"),
        ("spiffe://acme.example/agent/../x", "segment `..`"),
        ("spiffe://acme.example/agent/x/", "segment ``"),
        ("spiffe://acme.example/agent/x%20y", "segment `x%20y`"),
        ("spiffe://acme.example/agent/x?q=1", "segment"),
        ("spiffe://acme.example/agent/x#f", "segment"),
        ("spiffe://a/" + "x" * 2048, "at most 2048"),
    ],
)
def test_invalid_ids_say_why(value: str, needle: str) -> None:
    problem = spiffe_id_problem(value)
    assert problem is not None
    assert needle in problem
