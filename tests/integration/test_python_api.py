"""``from warden import Warden``: the same pipeline and ledger, in-process, sync and async."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from warden import Outcome, Warden
from warden.decisions.errors import InvalidRequest
from warden.registry.specs import AgentSpec, ToolSpec

ROOT = Path(__file__).resolve().parents[2]
AP = "spiffe://acme.example/agent/ap-clerk"
TODO = ROOT / "examples" / "authzen-todo"
RICK = "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
BETH = "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"


def test_sync_decide_uses_the_bundle_and_records(sqlite_url: str) -> None:
    with Warden.open(sqlite_url, bundle=TODO) as warden:
        todo = {"type": "todo", "id": "t1", "properties": {"ownerID": "beth@the-smiths.com"}}
        rick = warden.decide({"type": "user", "id": RICK}, "can_delete_todo", todo)
        beth = warden.decide({"type": "user", "id": BETH}, "can_delete_todo", todo)
        assert rick.outcome is Outcome.ALLOW
        assert beth.outcome is Outcome.DENY  # a viewer, even of her own todo
        entries = asyncio.run_coroutine_threadsafe(
            warden.runtime.ledger_store.tail(2), warden._loop
        ).result()
        assert [e.entry_id for e in entries] == [rick.decision_id, beth.decision_id]


async def test_async_decide_sees_registry_changes(sqlite_url: str) -> None:
    warden = await Warden.open_async(sqlite_url)
    try:
        subject = {"type": "agent", "id": AP}
        before = await warden.adecide(subject, "invoke", {"type": "tool", "id": "ledger.read"})
        assert before.reasons[0].code == "agent.unknown"
        spec = AgentSpec(id=AP, display_name="AP", owner="ann@acme.example", team="finance")
        await warden.runtime.registry.register_agent(spec, actor="test", now=datetime.now(UTC))
        await warden.runtime.registry.register_tool(
            ToolSpec(name="ledger.read"), actor="test", now=datetime.now(UTC)
        )
        after = await warden.adecide(subject, "invoke", {"type": "tool", "id": "ledger.read"})
        assert after.reasons[0].code == "policy.no_permit"  # known now; no policy permits yet
        assert after.features["risk"]["registered"] is True
    finally:
        await warden.aclose()


def test_malformed_subject_is_a_clear_error(sqlite_url: str) -> None:
    with Warden.open(sqlite_url) as warden, pytest.raises(InvalidRequest) as caught:
        warden.decide({"id": "x"}, "invoke", {"type": "tool", "id": "t"})
    assert caught.value.field == "subject"


def test_a_mandate_from_python_binds_the_actions_taken_for_it(sqlite_url: str) -> None:
    with Warden.open(sqlite_url, bundle=ROOT / "examples" / "mandates") as warden:
        now = datetime.now(UTC)
        spec = AgentSpec(id=AP, display_name="AP", owner="ann@acme.example", team="finance")
        asyncio.run_coroutine_threadsafe(
            warden.runtime.registry.register_agent(spec, actor="test", now=now), warden._loop
        ).result()
        issued = warden.issue_mandate("ann@acme.example", "Reconcile last month's vendor invoices")
        assert issued.mandate.profile == "ap-reconciliation"
        subject = {"type": "agent", "id": AP}
        context = {"mandate": issued.token}
        read = warden.decide(subject, "invoke", {"type": "tool", "id": "erp.invoice.read"}, context)
        assert read.outcome is Outcome.ALLOW
        export = {"type": "tool", "id": "storage.external.upload"}
        refused = warden.decide(subject, "invoke", export, context)
        assert [r.code for r in refused.reasons] == ["mandate.out_of_scope"]
        assert "ap-reconciliation" in refused.reasons[0].message
        bare = warden.decide(subject, "invoke", {"type": "tool", "id": "erp.invoice.read"})
        assert [r.code for r in bare.reasons] == ["mandate.missing"]
