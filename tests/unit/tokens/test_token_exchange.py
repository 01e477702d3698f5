"""RFC 8693 token exchange, pure parts: request parsing and the delegated token's claims."""

from __future__ import annotations

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
from warden.tokens.rfc8693 import (
    DelegatedClaims,
    ExchangeRequest,
    actor_chain,
    current_actor,
    delegate,
)

ALICE = "spiffe://warden.local/agent/alice"
BOB = "spiffe://warden.local/agent/bob"
CAROL = "spiffe://warden.local/agent/carol"
API = "https://api.example.com"
FILES = "https://files.example.com"


def request(
    resources: tuple[str, ...] = (), audiences: tuple[str, ...] = (), **params: str
) -> TokenRequest:
    base = {"subject_token": "s.t", "subject_token_type": ACCESS_TOKEN_TYPE}
    return TokenRequest(
        grant_type=TOKEN_EXCHANGE_GRANT,
        params={**base, **params},
        resources=resources,
        audiences=audiences,
    )


def parse(*args: Any, **kwargs: Any) -> ExchangeRequest:
    return ExchangeRequest.parse(request(*args, **kwargs))


@contextmanager
def refused(code: str) -> Iterator[None]:
    """The block raises an OAuth error with ``code``."""
    with pytest.raises(OAuthError) as caught:
        yield
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"


def subject(**claims: Any) -> dict[str, Any]:
    return {"sub": ALICE, "scope": "read write", "aud": [API, FILES], **claims}


def hop(
    claims: dict[str, Any], actor: str, exchange: ExchangeRequest | None = None
) -> DelegatedClaims:
    return delegate(
        claims, {"sub": actor}, exchange or parse(), client_id="c-" + actor, max_depth=5
    )


# -- request (§2.1) ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["subject_token", "subject_token_type"])
def test_subject_token_and_its_type_are_required(missing: str) -> None:
    params = {"subject_token": "s.t", "subject_token_type": ACCESS_TOKEN_TYPE}
    del params[missing]
    with refused("invalid_request"):
        ExchangeRequest.parse(TokenRequest(grant_type=TOKEN_EXCHANGE_GRANT, params=params))


@pytest.mark.parametrize(
    "params",
    [{"actor_token": "a.t"}, {"actor_token_type": ACCESS_TOKEN_TYPE}],
)
def test_actor_token_type_is_required_if_and_only_if_actor_token(params: dict[str, str]) -> None:
    with refused("invalid_request"):
        parse(**params)


def test_actor_token_with_its_type_is_accepted() -> None:
    parsed = parse(actor_token="a.t", actor_token_type=ACCESS_TOKEN_TYPE)
    assert (parsed.actor_token, parsed.actor_token_type) == ("a.t", ACCESS_TOKEN_TYPE)


@pytest.mark.parametrize(
    "kind",
    [
        "urn:ietf:params:oauth:token-type:saml2",
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:unsigned_json",
        "urn:example:custom",
    ],
)
def test_unsupported_subject_token_type_is_invalid_request(kind: str) -> None:
    with refused("invalid_request"):
        parse(subject_token_type=kind)


def test_a_refresh_token_is_never_exchanged() -> None:
    with refused("invalid_request"):
        parse(subject_token_type=REFRESH_TOKEN_TYPE)


def test_a_transaction_token_cannot_become_an_access_token() -> None:
    with refused("invalid_request"):
        parse(subject_token_type=TXN_TOKEN_TYPE)


def test_requested_token_type_defaults_to_access_token_and_rejects_unknown() -> None:
    assert parse().requested_token_type == ACCESS_TOKEN_TYPE
    with refused("invalid_request"):
        parse(requested_token_type="urn:ietf:params:oauth:token-type:saml1")


def test_resource_and_audience_may_repeat() -> None:
    parsed = parse(resources=(API, FILES), audiences=("billing", "ledger"), scope="read")
    assert parsed.targets == (API, FILES, "billing", "ledger")
    assert parsed.scope == ("read",)


@pytest.mark.parametrize("resource", ["/relative/path", "api.example.com", f"{API}/x#frag"])
def test_resource_must_be_an_absolute_uri_without_fragment(resource: str) -> None:
    with refused("invalid_target"):
        parse(resources=(resource,))


@pytest.mark.parametrize("raw", ["{not json", '{"type": "x"}', '[{"actions": ["read"]}]', "[1]"])
def test_malformed_authorization_details_are_refused(raw: str) -> None:
    with refused("invalid_authorization_details"):
        parse(authorization_details=raw)


# -- delegation (§4.1, §4.4) -------------------------------------------------------------


def test_one_hop_keeps_the_subject_and_names_the_actor() -> None:
    claims = hop(subject(), BOB).to_claims()
    assert claims["sub"] == ALICE
    assert claims["act"] == {"sub": BOB}
    assert claims["chain_depth"] == 1
    assert claims["scope"] == "read write"
    assert claims["aud"] == [API, FILES]


def test_the_newest_actor_is_outermost_and_prior_ones_nest() -> None:
    first = hop(subject(), BOB).to_claims()
    second = hop(first, CAROL).to_claims()
    assert second["act"] == {"sub": CAROL, "act": {"sub": BOB}}
    assert current_actor(second) == CAROL
    assert actor_chain(second) == (CAROL, BOB)


def test_exp_nbf_and_aud_are_removed_from_nested_actors() -> None:
    dirty = subject(act={"sub": BOB, "exp": 1, "nbf": 0, "aud": "x", "client_id": "c"})
    claims = hop(dirty, CAROL).to_claims()
    assert claims["act"] == {"sub": CAROL, "act": {"sub": BOB, "client_id": "c"}}


def test_chain_deeper_than_the_maximum_is_refused() -> None:
    claims = subject(act={"sub": BOB})
    with refused("invalid_request"):
        delegate(claims, {"sub": CAROL}, parse(), client_id="c", max_depth=1)


@pytest.mark.parametrize("actor", [ALICE, BOB])
def test_an_actor_already_in_the_chain_is_a_cycle(actor: str) -> None:
    with refused("invalid_request"):
        hop(subject(act={"sub": BOB}), actor)


def test_a_delegated_token_cannot_serve_as_the_actor_token() -> None:
    with refused("invalid_request"):
        delegate(
            subject(), {"sub": BOB, "act": {"sub": CAROL}}, parse(), client_id="c", max_depth=5
        )


def test_scope_narrows_and_never_widens() -> None:
    assert hop(subject(), BOB, parse(scope="read")).scope == ("read",)
    with refused("invalid_scope"):
        hop(subject(), BOB, parse(scope="read admin"))


def test_a_subject_without_scope_grants_none() -> None:
    claims = {"sub": ALICE, "aud": API}
    assert hop(claims, BOB).scope == ()
    with refused("invalid_scope"):
        hop(claims, BOB, parse(scope="read"))


def test_audience_and_resource_narrow_and_never_widen() -> None:
    assert hop(subject(), BOB, parse(resources=(API,))).aud == (API,)
    with refused("invalid_target"):
        hop(subject(), BOB, parse(resources=("https://elsewhere.example.com",)))
    with refused("invalid_target"):
        hop(subject(), BOB, parse(audiences=("billing",)))


def test_a_subject_without_audience_cannot_be_aimed_anywhere() -> None:
    with refused("invalid_target"):
        hop({"sub": ALICE, "scope": "read"}, BOB, parse(resources=(API,)))


def test_may_act_allows_the_named_actor_and_client() -> None:
    claims = subject(may_act={"sub": BOB, "client_id": "bob-client"})
    done = delegate(claims, {"sub": BOB}, parse(), client_id="bob-client", max_depth=5)
    assert done.act == {"sub": BOB}
    assert "may_act" not in done.to_claims()


@pytest.mark.parametrize(("actor", "client_id"), [(CAROL, "bob-client"), (BOB, "someone-else")])
def test_may_act_refuses_anyone_else(actor: str, client_id: str) -> None:
    claims = subject(may_act={"sub": BOB, "client_id": "bob-client"})
    with refused("invalid_request"):
        delegate(claims, {"sub": actor}, parse(), client_id=client_id, max_depth=5)


def test_without_an_actor_the_token_is_only_narrowed() -> None:
    claims = subject(act={"sub": BOB})
    done = delegate(claims, None, parse(scope="read"), client_id="c", max_depth=5)
    assert (done.act, done.chain_depth, done.scope) == ({"sub": BOB}, 1, ("read",))


DETAILS = [{"type": "payment", "actions": ["read", "pay"], "locations": [API]}]


def test_authorization_details_default_to_the_subjects_and_may_narrow() -> None:
    assert hop(subject(authorization_details=DETAILS), BOB).authorization_details == tuple(DETAILS)
    narrower = '[{"type": "payment", "actions": ["read"]}]'
    done = hop(subject(authorization_details=DETAILS), BOB, parse(authorization_details=narrower))
    assert done.to_claims()["authorization_details"] == [{"type": "payment", "actions": ["read"]}]


@pytest.mark.parametrize(
    "wider",
    [
        '[{"type": "payment", "actions": ["read", "refund"]}]',
        '[{"type": "payment", "privileges": ["admin"]}]',
        '[{"type": "transfer"}]',
        '[{"type": "payment", "locations": ["https://other.example.com"]}]',
    ],
)
def test_authorization_details_never_widen(wider: str) -> None:
    with refused("invalid_authorization_details"):
        hop(subject(authorization_details=DETAILS), BOB, parse(authorization_details=wider))
