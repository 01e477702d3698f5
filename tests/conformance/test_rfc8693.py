"""RFC 8693 conformance: the §4.1 ``act`` and §4.4 ``may_act`` examples, and delegation
chains of depth 1 to 5 built by successive exchanges.

Vectors as quoted in /work/shared/STANDARDS.md §4 (RFC 8693 §4.1 and §4.4 examples).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from warden.tokens.errors import OAuthError
from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, TokenRequest
from warden.tokens.rfc8693 import (
    ExchangeRequest,
    actor_chain,
    chain_depth,
    current_actor,
    delegate,
)

# RFC 8693 §4.1, Figure "Actor Claim": user@example.com's token, admin@example.com acting.
SECTION_4_1_ACT = {
    "aud": "https://consumer.example.com",
    "iss": "https://issuer.example.com",
    "exp": 1443904177,
    "nbf": 1443904077,
    "sub": "user@example.com",
    "act": {"sub": "admin@example.com"},
}
# RFC 8693 §4.4: the same object with "may_act" in place of "act".
SECTION_4_4_MAY_ACT = {k if k != "act" else "may_act": v for k, v in SECTION_4_1_ACT.items()}

MAX_DEPTH = 5
AGENTS = [f"spiffe://warden.local/agent/a{i}" for i in range(MAX_DEPTH + 2)]
ROOT = AGENTS[0]
API = "https://api.example.com"
FILES = "https://files.example.com"


@contextmanager
def refused(code: str) -> Iterator[None]:
    with pytest.raises(OAuthError) as caught:
        yield
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"


def exchange(
    resources: tuple[str, ...] = (), audiences: tuple[str, ...] = (), **params: str
) -> ExchangeRequest:
    base = {"subject_token": "s.t", "subject_token_type": ACCESS_TOKEN_TYPE}
    return ExchangeRequest.parse(
        TokenRequest(
            TOKEN_EXCHANGE_GRANT, {**base, **params}, resources=resources, audiences=audiences
        )
    )


def exchange_to(subject: dict[str, Any], actor: str, request: ExchangeRequest) -> dict[str, Any]:
    done = delegate(subject, {"sub": actor}, request, client_id=actor, max_depth=MAX_DEPTH)
    return done.to_claims()


def chain(depth: int) -> dict[str, Any]:
    """A token of ROOT delegated ``depth`` times, each hop narrowing a little."""
    claims: dict[str, Any] = {"sub": ROOT, "scope": "s0 s1 s2 s3 s4 s5", "aud": [API, FILES]}
    for hop in range(1, depth + 1):
        scope = " ".join(f"s{i}" for i in range(hop, 6))
        claims = exchange_to(claims, AGENTS[hop], exchange(scope=scope))
    return claims


def test_section_4_1_example_is_what_one_exchange_produces() -> None:
    subject = {k: v for k, v in SECTION_4_1_ACT.items() if k != "act"}
    made = delegate(
        subject, {"sub": "admin@example.com"}, exchange(), client_id="admin", max_depth=1
    ).to_claims()
    assert made["sub"] == SECTION_4_1_ACT["sub"]
    assert made["act"] == SECTION_4_1_ACT["act"]
    assert made["aud"] == SECTION_4_1_ACT["aud"]


def test_section_4_1_the_current_actor_is_the_outermost() -> None:
    assert current_actor(SECTION_4_1_ACT) == "admin@example.com"
    assert chain_depth(SECTION_4_1_ACT) == 1


def test_section_4_4_may_act_lets_the_named_party_act() -> None:
    made = delegate(
        SECTION_4_4_MAY_ACT,
        {"sub": "admin@example.com"},
        exchange(),
        client_id="any",
        max_depth=1,
    )
    assert made.act == {"sub": "admin@example.com"}


def test_section_4_4_may_act_refuses_another_party() -> None:
    with refused("invalid_request"):
        delegate(
            SECTION_4_4_MAY_ACT,
            {"sub": "mallory@example.com"},
            exchange(),
            client_id="m",
            max_depth=1,
        )


@pytest.mark.parametrize("depth", range(1, MAX_DEPTH + 1))
def test_chains_of_depth_1_to_5(depth: int) -> None:
    claims = chain(depth)
    assert claims["sub"] == ROOT
    assert claims["chain_depth"] == depth
    assert current_actor(claims) == AGENTS[depth]
    assert actor_chain(claims) == tuple(reversed(AGENTS[1 : depth + 1]))
    assert claims["scope"] == " ".join(f"s{i}" for i in range(depth, 6))
    assert_no_times_or_audience_inside_act(claims["act"])


def assert_no_times_or_audience_inside_act(act: dict[str, Any]) -> None:
    while act:
        assert not {"exp", "nbf", "aud"} & act.keys()
        act = act.get("act", {})


def test_depth_6_is_refused_at_maximum_5() -> None:
    with refused("invalid_request"):
        exchange_to(chain(MAX_DEPTH), AGENTS[MAX_DEPTH + 1], exchange())


@pytest.mark.parametrize("depth", range(0, MAX_DEPTH))
@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        ({"scope": "admin"}, "invalid_scope"),
        ({"audiences": ("https://evil.example.com",)}, "invalid_target"),
        ({"resources": ("https://evil.example.com/api",)}, "invalid_target"),
    ],
)
def test_widening_is_refused_at_every_level(
    depth: int, request_args: dict[str, Any], code: str
) -> None:
    with refused(code):
        exchange_to(chain(depth), AGENTS[depth + 1], exchange(**request_args))


@pytest.mark.parametrize("depth", range(1, MAX_DEPTH))
def test_a_scope_dropped_earlier_cannot_come_back(depth: int) -> None:
    with refused("invalid_scope"):
        exchange_to(chain(depth), AGENTS[depth + 1], exchange(scope=f"s{depth - 1}"))


def test_an_audience_dropped_earlier_cannot_come_back() -> None:
    narrowed = exchange_to(chain(1), AGENTS[2], exchange(resources=(API,)))
    assert narrowed["aud"] == API
    with refused("invalid_target"):
        exchange_to(narrowed, AGENTS[3], exchange(resources=(FILES,)))


def test_a_cycle_back_to_an_earlier_actor_is_refused() -> None:
    with refused("invalid_request"):
        exchange_to(chain(3), AGENTS[1], exchange())
