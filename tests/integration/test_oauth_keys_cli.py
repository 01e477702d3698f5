"""``warden keys list|rotate`` on a local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warden.cli.main import app


def test_rotate_then_list_shows_old_key_published_and_new_key_signing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_DATABASE_URL", f"sqlite:///{tmp_path / 'warden.db'}")
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    monkeypatch.delenv("WARDEN_URL", raising=False)
    runner = CliRunner()
    first = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)["keys"]
    rotated = runner.invoke(app, ["keys", "rotate", "--json"])
    assert rotated.exit_code == 0, rotated.output
    new_kid = json.loads(rotated.output)["kid"]
    keys = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)["keys"]
    assert [k["kid"] for k in keys] == [first[0]["kid"], new_kid]
    assert [k["signing"] for k in keys] == [False, True]
    assert keys[0]["published"] and keys[0]["publish_until"]
    assert "PRIVATE" not in rotated.output
