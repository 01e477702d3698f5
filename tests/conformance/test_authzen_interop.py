"""OpenID AuthZEN interop decisions against the real ``warden serve``.

Cases: openid/authzen@e287920eed842b227e38531c1735b712337ca44d, copied to
``../shared/conformance/authzen/`` (see its README):

- ``interop/authzen-todo-backend/test/decisions-authorization-api-1_0-02.json``
  → ``todo-decisions-1_0-02.json``, run against ``examples/authzen-todo``;
- ``interop/authzen-api-gateways/test-harness/test/decisions.json``
  → ``gateway-decisions.json``, run against ``examples/authzen-gateway``.

As the interop runners do, every case is POSTed to ``/access/v1/evaluation`` or
``/access/v1/evaluations`` and only the decisions are compared.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = REPO.parent / "shared" / "conformance" / "authzen"
WARDEN = Path(sys.executable).with_name("warden")
READY_TRIES = 300  # x 0.1 s of polling at most
SCENARIOS = {
    "todo": ("authzen-todo", "todo-decisions-1_0-02.json"),
    "gateway": ("authzen-gateway", "gateway-decisions.json"),
}


@dataclass(frozen=True)
class Case:
    scenario: str
    endpoint: str
    request: dict[str, Any]
    expected: bool | list[bool]

    @property
    def path(self) -> str:
        return f"/access/v1/{self.endpoint}"


def _cases() -> list[Any]:
    params = []
    for scenario, (_, file) in SCENARIOS.items():
        path = CASES / file
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        for endpoint in ("evaluation", "evaluations"):
            for index, raw in enumerate(data.get(endpoint, [])):
                expected = raw["expected"]
                if isinstance(expected, list):
                    expected = [item["decision"] for item in expected]
                case = Case(scenario, endpoint, raw["request"], expected)
                params.append(pytest.param(case, id=f"{scenario}-{endpoint}-{index:02d}"))
    return params


CASE_PARAMS = _cases()
pytestmark = pytest.mark.skipif(
    not CASE_PARAMS, reason=f"AuthZEN interop cases not found in {CASES}"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _start(bundle: str, tmp: Path) -> Server:
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{tmp / 'w.db'}"}
    command = [str(WARDEN), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--bundle", str(REPO / "examples" / bundle)],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    _wait_until_ready(server)
    return server


def _wait_until_ready(server: Server) -> None:
    for _ in range(READY_TRIES):
        if server.process.poll() is not None:
            break
        try:
            response = httpx.get(f"{server.url}/.well-known/authzen-configuration", timeout=1)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # between polls, not instead of them
    _stop(server)
    pytest.fail(f"warden serve did not become ready:\n{server.log.read_text()[-4000:]}")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, httpx.Client]]:
    started: list[Server] = []
    clients: dict[str, httpx.Client] = {}
    try:
        for scenario, (bundle, _) in SCENARIOS.items():
            server = _start(bundle, tmp_path_factory.mktemp(scenario))
            started.append(server)
            clients[scenario] = httpx.Client(base_url=server.url, timeout=10)
        yield clients
    finally:
        for client in clients.values():
            client.close()
        for server in started:
            _stop(server)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_interop_decision(servers: dict[str, httpx.Client], case: Case) -> None:
    response = servers[case.scenario].post(case.path, json=case.request)
    assert response.status_code == 200, response.text
    body = response.json()
    if case.endpoint == "evaluation":
        assert body["decision"] is case.expected
    else:
        assert [item["decision"] for item in body["evaluations"]] == case.expected


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_configuration_document(servers: dict[str, httpx.Client], scenario: str) -> None:
    client = servers[scenario]
    response = client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    base = str(client.base_url).rstrip("/")
    assert document["policy_decision_point"] == base
    assert document["access_evaluation_endpoint"] == f"{base}/access/v1/evaluation"
    assert document["access_evaluations_endpoint"] == f"{base}/access/v1/evaluations"
    assert not any(key.startswith("search_") for key in document)


@pytest.mark.parametrize("path", ["/access/v1/evaluation", "/access/v1/evaluations"])
def test_request_id_is_echoed(servers: dict[str, httpx.Client], path: str) -> None:
    case = CASE_PARAMS[0].values[0]
    request_id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    response = servers[case.scenario].post(
        path, json=case.request, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id


def test_a_malformed_request_is_a_400_naming_the_field(servers: dict[str, httpx.Client]) -> None:
    body = {"subject": {"type": "user"}, "action": {"name": "can_read_todos"}}
    response = servers["todo"].post("/access/v1/evaluation", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["field"] == "subject.id"


def test_request_properties_cannot_grant_a_known_user_a_role(
    servers: dict[str, httpx.Client],
) -> None:
    jerry = "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"  # a viewer
    rick_todo = {"type": "todo", "id": "t-1", "properties": {"ownerID": "rick@the-citadel.com"}}
    body = {
        "subject": {"type": "user", "id": jerry, "properties": {"roles": ["admin"]}},
        "action": {"name": "can_delete_todo"},
        "resource": rick_todo,
    }
    response = servers["todo"].post("/access/v1/evaluation", json=body)
    assert response.status_code == 200
    assert response.json()["decision"] is False
