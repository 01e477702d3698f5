"""The AuthZEN HTTP routes, driven through httpx against the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request

from warden.decisions.api import authzen_router
from warden.decisions.models import Decision, DecisionRequest, Outcome

EVALUATION = {
    "subject": {"type": "user", "id": "alice"},
    "action": {"name": "read"},
    "resource": {"type": "document", "id": "ok-1"},
}


async def decide(request: DecisionRequest) -> Decision:
    if request.resource.id == "boom":
        raise RuntimeError("store down")
    allowed = request.resource.id.startswith("ok")
    return Decision(
        outcome=Outcome.ALLOW if allowed else Outcome.DENY,
        reasons=(),
        errors=(),
        policy_revision=3,
        decision_id="d-1",
        decided_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def public_url(request: Request) -> str:
    return f"https://{request.headers['host']}/"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(authzen_router(decide, pdp_url=public_url, max_body_bytes=4096))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pdp.test") as client:
        yield client


async def test_configuration_advertises_the_callers_base_url(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "policy_decision_point": "https://pdp.test",
        "access_evaluation_endpoint": "https://pdp.test/access/v1/evaluation",
        "access_evaluations_endpoint": "https://pdp.test/access/v1/evaluations",
    }


async def test_evaluation_allows_and_denies_with_200(client: httpx.AsyncClient) -> None:
    allowed = await client.post("/access/v1/evaluation", json=EVALUATION)
    assert allowed.status_code == 200
    assert allowed.json()["decision"] is True
    assert allowed.json()["context"]["policy_revision"] == 3
    denied_body = {**EVALUATION, "resource": {"type": "document", "id": "no"}}
    denied = await client.post("/access/v1/evaluation", json=denied_body)
    assert denied.status_code == 200
    assert denied.json()["decision"] is False


async def test_evaluations_answers_in_order(client: httpx.AsyncClient) -> None:
    body = {
        **EVALUATION,
        "evaluations": [{"resource": {"type": "document", "id": i}} for i in ("no", "ok", "no")],
    }
    response = await client.post("/access/v1/evaluations", json=body)
    assert response.status_code == 200
    assert [e["decision"] for e in response.json()["evaluations"]] == [False, True, False]


async def test_evaluations_without_a_batch_answers_like_evaluation(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/access/v1/evaluations", json=EVALUATION)
    assert response.json()["decision"] is True


@pytest.mark.parametrize("path", ["/access/v1/evaluation", "/access/v1/evaluations"])
async def test_request_id_is_echoed_on_success_and_error(
    client: httpx.AsyncClient, path: str
) -> None:
    headers = {"X-Request-ID": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"}
    ok = await client.post(path, json=EVALUATION, headers=headers)
    bad = await client.post(path, content=b"{", headers=headers)
    assert ok.headers["x-request-id"] == headers["X-Request-ID"]
    assert bad.status_code == 400
    assert bad.headers["x-request-id"] == headers["X-Request-ID"]
    assert "x-request-id" not in (await client.post(path, json=EVALUATION)).headers


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{", ""),
        (b"", ""),
        (b"[]", ""),
        (b'"x"', ""),
        (b"\xff\xfe", ""),
        (b'{"subject": {"type": "user"}}', "subject.id"),
        (b'{"subject": {"type": "user", "id": "a"}, "action": {"name": 1}}', "action.name"),
        (b"[" * 1500 + b"]" * 1500, ""),  # deeper than orjson parses
    ],
)
async def test_a_malformed_body_is_a_400_naming_the_field(
    client: httpx.AsyncClient, content: bytes, field: str
) -> None:
    response = await client.post(
        "/access/v1/evaluation",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["field"] == field
    assert response.json()["message"]


async def test_a_bad_semantic_is_a_400(client: httpx.AsyncClient) -> None:
    body = {**EVALUATION, "evaluations": [{}], "options": {"evaluations_semantic": "x"}}
    response = await client.post("/access/v1/evaluations", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == "options.evaluations_semantic"


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "application/json; charset=utf-8"}, {"content-type": "Application/JSON"}],
)
async def test_json_or_no_content_type_is_accepted(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    content = orjson.dumps(EVALUATION)
    response = await client.post("/access/v1/evaluation", content=content, headers=headers)
    assert response.request.headers.get("content-type") == headers.get("content-type")
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_another_content_type_is_a_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/access/v1/evaluation",
        content=b'{"subject": {}}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


async def test_an_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    body = {**EVALUATION, "context": {"padding": "x" * 5000}}
    response = await client.post("/access/v1/evaluation", json=body)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_a_pipeline_fault_is_a_500_that_never_allows(client: httpx.AsyncClient) -> None:
    body = {**EVALUATION, "resource": {"type": "document", "id": "boom"}}
    response = await client.post("/access/v1/evaluation", json=body)
    assert response.status_code == 500
    assert response.json()["decision"] is False
    assert "store down" not in response.text


async def test_a_pipeline_fault_in_a_batch_denies_only_that_item(
    client: httpx.AsyncClient,
) -> None:
    items = [{"resource": {"type": "document", "id": i}} for i in ("boom", "ok")]
    body = {**EVALUATION, "evaluations": items}
    response = await client.post("/access/v1/evaluations", json=body)
    assert response.status_code == 200
    first, second = response.json()["evaluations"]
    assert first == {
        "decision": False,
        "context": {"error": {"status": 500, "message": "the decision could not be made"}},
    }
    assert second["decision"] is True


async def test_openapi_documents_the_bodies(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    evaluation = schema["paths"]["/access/v1/evaluation"]["post"]
    request_schema = evaluation["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema["required"] == ["subject", "action", "resource"]
    assert {"200", "400", "415", "500"} <= set(evaluation["responses"])
    batch = schema["paths"]["/access/v1/evaluations"]["post"]
    batch_schema = batch["requestBody"]["content"]["application/json"]["schema"]
    assert "evaluations" in batch_schema["properties"]
