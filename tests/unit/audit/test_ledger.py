from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from audit_helpers import decision

from warden.audit import (
    EventType,
    InvalidEntry,
    InvalidPayload,
    Ledger,
    LedgerConflict,
    LedgerEntry,
    LedgerUnavailable,
    MemoryLedgerStore,
    new_entry_id,
    verify,
)

DENY = EventType.DECISION_DENY


class CountingStore(MemoryLedgerStore):
    """Records the size of every batch; yields to the loop like a real database would."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        await asyncio.sleep(0)
        await super().append_batch(rows)
        self.batches.append(len(rows))


class FailingOnceStore(MemoryLedgerStore):
    """Fails the next batch; with ``after_write`` the batch is written first (lost ack)."""

    def __init__(self, *, after_write: bool = False) -> None:
        super().__init__()
        self.fail_next = False
        self.after_write = after_write

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        if not self.fail_next:
            return await super().append_batch(rows)
        self.fail_next = False
        if self.after_write:
            await super().append_batch(rows)
        raise ConnectionError("database went away")


async def test_concurrent_appends_are_numbered_chained_and_group_committed() -> None:
    store = CountingStore()
    async with Ledger(store) as ledger:
        entries = await asyncio.gather(*(ledger.append(DENY, decision(i)) for i in range(200)))
    assert sorted(e.seq for e in entries) == list(range(1, 201))
    assert sum(store.batches) == 200
    assert len(store.batches) < 200
    report = await verify(store)
    assert report.ok, report.detail
    assert report.entries_checked == 200


async def test_batches_never_exceed_max_batch() -> None:
    store = CountingStore()
    async with Ledger(store, max_batch=8) as ledger:
        await asyncio.gather(*(ledger.append(DENY, decision(i)) for i in range(100)))
    assert max(store.batches) == 8
    assert (await verify(store)).ok


async def test_the_returned_entry_is_what_was_stored() -> None:
    store = MemoryLedgerStore()
    async with Ledger(store) as ledger:
        entry = await ledger.append(DENY, decision(1), entry_id="dec-1")
    assert await store.get("dec-1") == entry
    assert entry.payload["amount"] == 1.5
    assert ledger.head == (1, entry.hash)


async def test_a_failed_batch_leaves_no_trace_and_no_hole() -> None:
    store = FailingOnceStore()
    async with Ledger(store) as ledger:
        await ledger.append(DENY, decision(0))
        store.fail_next = True
        with pytest.raises(LedgerUnavailable) as caught:
            await ledger.append(DENY, decision(1), entry_id="lost")
        assert caught.value.code == "ledger_unavailable"
        after = await asyncio.gather(*(ledger.append(DENY, decision(i)) for i in range(5)))
    assert await store.get("lost") is None
    assert [e.seq for e in after] == [2, 3, 4, 5, 6]
    assert (await verify(store)).ok


async def test_every_waiter_of_a_failed_batch_is_told() -> None:
    store = FailingOnceStore()
    async with Ledger(store) as ledger:
        store.fail_next = True
        results = await asyncio.gather(
            *(ledger.append(DENY, decision(i)) for i in range(10)), return_exceptions=True
        )
    failed = [r for r in results if isinstance(r, LedgerUnavailable)]
    assert failed, "the first batch must fail"
    assert len(failed) + (await store.count()) == 10
    assert (await verify(store)).ok


async def test_the_head_is_reloaded_when_a_commit_succeeded_but_its_ack_was_lost() -> None:
    store = FailingOnceStore(after_write=True)
    async with Ledger(store) as ledger:
        store.fail_next = True
        with pytest.raises(LedgerUnavailable):
            await ledger.append(DENY, decision(1))
        entry = await ledger.append(DENY, decision(2))
    assert entry.seq == 2
    assert (await verify(store)).ok


async def test_a_second_writer_rechains_instead_of_forking() -> None:
    store = MemoryLedgerStore()
    first, second = Ledger(store), Ledger(store)
    await first.start()
    await second.start()  # both start from an empty ledger
    await first.append(DENY, decision(1))
    # `second` still believes the head is empty: its batch conflicts, is not written, and
    # is chained again on the reloaded head.
    entry = await second.append(DENY, decision(2))
    await first.close()
    await second.close()
    assert entry.seq == 2
    assert (await verify(store)).ok


async def test_a_conflict_that_persists_is_reported() -> None:
    store = MemoryLedgerStore()
    ledger = Ledger(store)
    await ledger.start()
    await ledger.append(DENY, decision(1), entry_id="same-id")
    with pytest.raises(LedgerConflict):
        await ledger.append(DENY, decision(2), entry_id="same-id")
    await ledger.close()
    assert (await verify(store)).entries_checked == 1


async def test_close_commits_what_is_queued_and_refuses_more() -> None:
    store = MemoryLedgerStore()
    ledger = Ledger(store)
    await ledger.start()
    queued = [asyncio.create_task(ledger.append(DENY, decision(i))) for i in range(20)]
    await asyncio.sleep(0)
    await ledger.close()
    assert len(await asyncio.gather(*queued)) == 20
    with pytest.raises(LedgerUnavailable):
        await ledger.append(DENY, decision(21))
    assert await store.count() == 20


async def test_append_before_start_is_refused() -> None:
    with pytest.raises(LedgerUnavailable):
        await Ledger(MemoryLedgerStore()).append(DENY, decision(1))


async def test_a_bad_append_fails_alone() -> None:
    store = MemoryLedgerStore()
    async with Ledger(store) as ledger:
        good = asyncio.create_task(ledger.append(DENY, decision(1)))
        with pytest.raises(InvalidPayload):
            await ledger.append(DENY, {"amount": float("inf")})
        with pytest.raises(InvalidEntry):
            await ledger.append(DENY, {}, entry_id="x" * 65)
        with pytest.raises(InvalidEntry):
            await ledger.append("decision:maybe", {})  # type: ignore[arg-type]
        await good
    assert await store.count() == 1


async def test_a_start_resumes_after_the_stored_head() -> None:
    store = MemoryLedgerStore()
    async with Ledger(store) as ledger:
        await ledger.append(DENY, decision(1))
    async with Ledger(store) as ledger:
        entry = await ledger.append(DENY, decision(2))
    assert entry.seq == 2
    assert (await verify(store)).ok


def test_entry_ids_are_uuid7_hex_and_unique() -> None:
    ids = {new_entry_id() for _ in range(1000)}
    assert len(ids) == 1000
    sample = next(iter(ids))
    assert len(sample) == 32
    assert sample[12] == "7"
    assert sample[16] in "89ab"
