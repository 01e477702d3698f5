"""Transaction Tokens, pure parts: the request profile, new tokens' claims, replacement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from warden.tokens.errors import OAuthError
from warden.tokens.models import (
    ACCESS_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    TXN_TOKEN_TYPE,
    TokenRequest,
)
from warden.tokens.rfc8693 import ExchangeRequest, bounded_ttl
from warden.tokens.txn_tokens import (
    TxnRequest,
    replacement_claims,
    txn_claims,
)

DOMAIN = "warden.local"
GATEWAY = "spiffe://warden.local/agent/gateway"
WORKER = "spiffe://warden.local/agent/worker"
NOW = 1_800_000_000


@contextmanager
def refused(code: str) -> Iterator[None]:
    with pytest.raises(OAuthError) as caught:
        yield
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"


def txn_request(
    audiences: tuple[str, ...] = (DOMAIN,), resources: tuple[str, ...] = (), **params: str
) -> TxnRequest:
    base = {
        "subject_token": "s.t",
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": TXN_TOKEN_TYPE,
        "scope": "pay.bill",
    }
    request = TokenRequest(
        grant_type=TOKEN_EXCHANGE_GRANT,
        params={k: v for k, v in {**base, **params}.items() if v != "<absent>"},
        resources=resources,
        audiences=audiences,
    )
    return TxnRequest.parse(request, ExchangeRequest.parse(request), trust_domain=DOMAIN)


def access_claims(**claims: Any) -> dict[str, Any]:
    return {"sub": "user@example.com", "scope": "pay.bill read", "exp": NOW + 600, **claims}


def issued(**params: str) -> dict[str, Any]:
    claims = txn_claims(access_claims(), txn_request(**params), requester=GATEWAY, txn="t-1")
    return {**claims, "exp": NOW + 300, "iat": NOW}


# -- request -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audiences", "resources"),
    [((), ()), (("other.example",), ()), ((DOMAIN, "x"), ()), ((DOMAIN,), ("https://a.b",))],
)
def test_audience_must_be_the_trust_domain(audiences: tuple[str, ...], resources: Any) -> None:
    with refused("invalid_target"):
        txn_request(audiences=audiences, resources=resources)


@pytest.mark.parametrize("scope", ["<absent>", ""])
def test_scope_the_purpose_is_required(scope: str) -> None:
    with refused("invalid_request"):
        txn_request(scope=scope)


def test_a_refresh_token_cannot_be_the_subject() -> None:
    with refused("invalid_request"):
        txn_request(subject_token_type=REFRESH_TOKEN_TYPE)


def test_no_actor_token_in_a_transaction_token_request() -> None:
    with refused("invalid_request"):
        txn_request(actor_token="a.t", actor_token_type=ACCESS_TOKEN_TYPE)


@pytest.mark.parametrize("name", ["request_context", "request_details"])
@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', json.dumps({"k": "v" * 9000})])
def test_context_parameters_must_be_small_json_objects(name: str, raw: str) -> None:
    with refused("invalid_request"):
        txn_request(**{name: raw})


# -- a new token ---------------------------------------------------------------------------


def test_claims_of_a_new_transaction_token() -> None:
    claims = issued(
        request_context='{"req_ip": "69.151.72.123", "authn": "face"}',
        request_details='{"action": "BUY", "ticker": "MSFT", "quantity": "100"}',
    )
    assert claims["aud"] == DOMAIN
    assert claims["txn"] == "t-1"
    assert claims["sub"] == "user@example.com"
    assert claims["scope"] == "pay.bill"
    assert claims["req_wl"] == GATEWAY
    assert claims["rctx"] == {"req_ip": "69.151.72.123", "authn": "face"}
    assert claims["tctx"] == {"action": "BUY", "ticker": "MSFT", "quantity": "100"}


def test_scope_cannot_exceed_the_subject_tokens() -> None:
    with refused("invalid_scope"):
        txn_claims(access_claims(), txn_request(scope="admin"), requester=GATEWAY, txn="t")


def test_a_subject_whose_scope_is_unknown_is_refused() -> None:
    subject = {"sub": "user@example.com"}
    with refused("invalid_request"):
        txn_claims(subject, txn_request(), requester=GATEWAY, txn="t")


def test_the_delegation_chain_travels_in_the_transaction_token() -> None:
    subject = access_claims(act={"sub": WORKER}, chain_depth=1)
    claims = txn_claims(subject, txn_request(), requester=GATEWAY, txn="t")
    assert (claims["act"], claims["chain_depth"]) == ({"sub": WORKER}, 1)


def test_lifetime_never_outlasts_the_subject_token() -> None:
    assert bounded_ttl({"exp": NOW + 60}, now=NOW, ttl=300) == 60
    assert bounded_ttl({"exp": NOW + 6000}, now=NOW, ttl=300) == 300


# -- replacement ---------------------------------------------------------------------------


def replace(presented: dict[str, Any], now: int = NOW, **params: str) -> dict[str, Any]:
    request = txn_request(subject_token_type=TXN_TOKEN_TYPE, **params)
    assert request.is_replacement
    return replacement_claims(presented, request, requester=WORKER, now=now)


def test_a_replacement_keeps_txn_sub_aud_and_tctx() -> None:
    presented = issued(request_details='{"amount": 100}')
    replaced = replace(presented)
    for name in ("txn", "sub", "aud", "tctx", "scope"):
        assert replaced[name] == presented[name]


def test_a_replacement_records_the_call_chain_of_requesters() -> None:
    assert replace(issued())["req_wl"] == f"{GATEWAY},{WORKER}"


def test_a_replacement_may_narrow_but_never_widen_scope() -> None:
    presented = issued(scope="pay.bill read")
    assert replace(presented, scope="read")["scope"] == "read"
    with refused("invalid_scope"):
        replace(issued(), scope="pay.bill read")


def test_an_expired_transaction_token_is_not_replaced() -> None:
    presented = issued()
    with refused("invalid_request"):
        replace(presented, now=presented["exp"])


def test_a_token_for_another_trust_domain_is_not_replaced() -> None:
    with refused("invalid_request"):
        replace({**issued(), "aud": "other.example"})


def test_tctx_is_immutable_in_a_replacement() -> None:
    presented = issued(request_details='{"amount": 100}')
    assert replace(presented, request_details='{"amount": 100}')["tctx"] == {"amount": 100}
    with refused("invalid_request"):
        replace(presented, request_details='{"amount": 1000000}')


def test_rctx_members_may_be_added_but_not_changed() -> None:
    presented = issued(request_context='{"req_ip": "10.0.0.1"}')
    added = replace(presented, request_context='{"hop": "worker"}')
    assert added["rctx"] == {"req_ip": "10.0.0.1", "hop": "worker"}
    with refused("invalid_request"):
        replace(presented, request_context='{"req_ip": "6.6.6.6"}')
