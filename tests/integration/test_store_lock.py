"""A running server owns its SQLite store: local CLI changes are refused, reads are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.cli.backend import BackendError, LocalBackend
from warden.registry.specs import AgentSpec
from warden.store.lock import StoreInUse, hold_server_lock, serving_url

AGENT = AgentSpec(
    id="spiffe://acme.example/agent/x", display_name="X", owner="a@acme.example", team="t"
)


def test_local_changes_are_refused_while_a_server_holds_the_store(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    lock = hold_server_lock(db, "http://127.0.0.1:8799")
    try:
        assert serving_url(db) == "http://127.0.0.1:8799"
        with pytest.raises(StoreInUse):
            hold_server_lock(db, "http://127.0.0.1:8800")
        with LocalBackend(f"sqlite:///{db}") as backend:
            assert backend.agents() == []  # reading is fine
            with pytest.raises(BackendError) as refused:
                backend.register_agent(AGENT)
        assert "--url http://127.0.0.1:8799" in refused.value.message
    finally:
        lock.close()
    assert serving_url(db) is None
    with LocalBackend(f"sqlite:///{db}") as backend:
        assert backend.register_agent(AGENT).id == AGENT.id
