"""Warden's token exchange extension parameters for delegation: parsed, or refused with a
message that says which parameter is wrong."""

from __future__ import annotations

import pytest

from warden.chains.errors import DelegationRefused
from warden.chains.service import MAX_TASK, DelegationRequest


def test_a_full_request_parses() -> None:
    parsed = DelegationRequest.parse(
        {
            "mandate": "eyJ.x.y",
            "task": "  read the March invoices  ",
            "tools": "erp.invoice.read  payments.* erp.invoice.read",
            "limits": '{"payments.transfer": {"amount": 500, "fee": 2.5}}',
            "expires_in": "600",
        }
    )
    assert parsed.mandate == "eyJ.x.y"
    assert parsed.task == "read the March invoices"
    assert parsed.tools == ("erp.invoice.read", "payments.*")  # de-duplicated, in order
    assert parsed.limits == {"payments.transfer": {"amount": 500.0, "fee": 2.5}}
    assert parsed.expires_in == 600
    assert parsed.narrows


def test_nothing_asked_narrows_nothing() -> None:
    parsed = DelegationRequest.parse({})
    assert parsed == DelegationRequest()
    assert not parsed.narrows


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limits": "{not json"}, "`limits` is not json"),
        ({"limits": "[1, 2]"}, "must be a json object"),
        ({"limits": '{"payments.transfer": 5}'}, "`limits.payments.transfer` must be an object"),
        ({"limits": '{"payments.transfer": {}}'}, "`limits.payments.transfer` must be an object"),
        ({"limits": '{"t": {"amount": "lots"}}'}, "`limits.t.amount` must be a number"),
        ({"limits": '{"t": {"amount": true}}'}, "`limits.t.amount` must be a number"),
        ({"expires_in": "-5"}, "`expires_in` must be a positive number"),
        ({"expires_in": "soon"}, "`expires_in` must be a positive number"),
        ({"expires_in": "0"}, "`expires_in` must be a positive number"),
        ({"task": "x" * (MAX_TASK + 1)}, "`task` is longer than"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(params: dict[str, str], words: str) -> None:
    with pytest.raises(DelegationRefused) as caught:
        DelegationRequest.parse(params)
    assert caught.value.code == "chain.malformed"
    assert words in caught.value.message
