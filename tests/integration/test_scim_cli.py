"""`warden scim people`: who the IdP provisioned, against a running server (with an auditor's
token) and from the local store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.cli.main import app
from warden.runtime import Runtime

ADMIN = "cli-scim-admin-token-0123456789"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN", "WARDEN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def provision(base: str, token: str, user_name: str, active: bool) -> None:
    body = {
        "schemas": [USER],
        "userName": user_name,
        "displayName": user_name.split("@")[0].title(),
        "active": active,
        "emails": [{"value": user_name, "primary": True}],
    }
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{base}/scim/v2/Users", json=body, headers=headers)
    assert response.status_code == 201, response.text


def test_people_against_a_server_with_an_auditor_token(
    live_server: Callable[..., LiveServer], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    provision(server.url, ADMIN, "ana@acme.example", active=True)
    provision(server.url, ADMIN, "bo@acme.example", active=False)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    grant = ["access", "grant", "--person", "audra@acme.example", "--role", "auditor", "--json"]
    token = json.loads(ok(warden(*grant, "--url", server.url)))["token"]
    monkeypatch.setenv("WARDEN_TOKEN", token)

    table = ok(warden("scim", "people", "--url", server.url))
    assert "ana@acme.example" in table and "Bo" in table
    listed = json.loads(ok(warden("scim", "people", "--inactive", "--json", "--url", server.url)))
    assert [(p["user_name"], p["active"]) for p in listed["people"]] == [("bo@acme.example", False)]

    monkeypatch.setenv("WARDEN_TOKEN", "wdn_not_a_token")
    refused = warden("scim", "people", "--url", server.url)
    assert refused.exit_code != 0 and "401" in refused.output and "Traceback" not in refused.output


def test_people_from_the_local_store(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{clean_env / 'warden.db'}"
    monkeypatch.setenv("WARDEN_DATABASE_URL", url)
    assert "no people provisioned yet" in ok(warden("scim", "people"))
    asyncio.run(seed(url))

    listed = json.loads(ok(warden("scim", "people", "--json")))["people"]
    assert [(p["user_name"], p["email"], p["active"]) for p in listed] == [
        ("ana", "ana@acme.example", False),
        ("bo@acme.example", None, True),
    ]
    inactive = ok(warden("scim", "people", "--inactive"))
    assert "ana@acme.example" in inactive and "bo@acme.example" not in inactive


async def seed(url: str) -> None:
    runtime = await Runtime.open(url)
    try:
        storage = runtime.scim.acting_as("test")
        users = next(t for t in runtime.scim.provider.resource_types if t.name == "User")
        model = cast(Any, runtime.scim.provider.model_for(users))
        email = [{"value": "Ana@acme.example", "primary": True}]
        await storage.create(users, model(user_name="ana", active=False, emails=email))
        await storage.create(users, model(user_name="bo@acme.example"))
    finally:
        await runtime.close()
