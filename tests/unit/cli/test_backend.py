"""The HTTP backend maps a server's answers to domain values and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from warden.cli.backend import BackendError, HttpBackend, spec_problem
from warden.policy.errors import PolicyValidationError
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec

URL = "http://warden.test"
AGENT = {
    "id": "spiffe://acme.example/agent/ap",
    "display_name": "AP",
    "owner": "ana@acme.example",
    "team": "finance",
    "status": "active",
    "risk_tier": "high",
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-01T00:00:00+00:00",
}


def backend(
    handler: Callable[[httpx.Request], httpx.Response], token: str | None = "t"
) -> HttpBackend:
    return HttpBackend(URL, token, transport=httpx.MockTransport(handler))


def answer(
    status: int, body: Any = None, text: str = ""
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return handler


def test_agents_come_back_as_domain_values_and_the_token_is_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"agents": [AGENT]})

    with backend(handler, token="s3cret") as http:
        agents = http.agents()

    assert [a.id for a in agents] == [AGENT["id"]]
    assert agents[0].risk_tier.value == "high"
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert seen[0].url.path == "/v1/agents"


def test_401_names_the_server_and_its_message() -> None:
    body = {"error": "unauthorized", "message": "the admin token is not valid"}
    with backend(answer(401, body)) as http, pytest.raises(BackendError) as caught:
        http.agents()
    assert f"`{URL}`" in caught.value.message
    assert "the admin token is not valid" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_4xx_shows_the_servers_message() -> None:
    body = {"error": "agent_not_found", "message": "no agent `x` is registered"}
    with backend(answer(404, body)) as http, pytest.raises(BackendError) as caught:
        http.agent("x")
    assert "404" in caught.value.message and "no agent `x` is registered" in caught.value.message


def test_a_non_json_answer_is_summarised_on_one_line() -> None:
    page = answer(502, text="<html>\n<b>bad gateway</b>\n</html>")
    with backend(page) as http, pytest.raises(BackendError) as caught:
        http.tools()
    assert "502" in caught.value.message and "\n" not in caught.value.message


def test_policy_problems_become_a_validation_error() -> None:
    problem = {"file": "a.cedar", "line": 3, "column": 7, "policy_id": None, "message": "oops"}
    body = {"error": "policy_invalid", "message": "a.cedar:3:7: oops", "problems": [problem]}
    bundle = Bundle({"a.cedar": "permit (principal, action, resource);"}, schema="")
    with backend(answer(400, body)) as http, pytest.raises(PolicyValidationError) as caught:
        http.apply_policies(bundle)
    assert [(p.where, p.message) for p in caught.value.problems] == [("a.cedar:3:7", "oops")]


def test_an_unreachable_server_is_one_line() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with backend(refuse) as http, pytest.raises(BackendError) as caught:
        http.agents()
    assert caught.value.message == f"cannot reach warden at `{URL}`: connection refused"


def test_a_missing_active_revision_is_none() -> None:
    with backend(
        answer(404, {"error": "not_found", "message": "no policy revision is active"})
    ) as http:
        assert http.revision() is None


def test_spec_problems_name_the_option_and_value() -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSpec(id="spiffe://acme.example", display_name="x", owner="a@b.example", team="t")
    message = spec_problem(caught.value, {"id": "--id"})
    assert message.startswith(
        "invalid --id `spiffe://acme.example`: an agent's spiffe id needs a path"
    )
