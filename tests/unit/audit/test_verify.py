from __future__ import annotations

from dataclasses import replace

from audit_helpers import build_ledger, store_of

from warden.audit import (
    EventType,
    LedgerEntry,
    MemoryLedgerStore,
    entry_hash,
    format_timestamp,
    verify,
)


def rehashed(entry: LedgerEntry, **changes: object) -> LedgerEntry:
    """What an attacker who knows the format writes: a changed entry with a valid own hash."""
    forged = replace(entry, **changes)  # type: ignore[arg-type]
    digest = entry_hash(
        forged.version,
        forged.seq,
        forged.entry_id,
        str(forged.event_type),
        format_timestamp(forged.recorded_at),
        forged.payload,
        forged.prev_hash,
    )
    return replace(forged, hash=digest)


async def test_an_intact_ledger_of_5000_entries_verifies_with_progress() -> None:
    entries = await build_ledger(5000)
    seen: list[int] = []
    report = await verify(store_of(entries), batch=700, progress=seen.append)
    assert report.ok, report.detail
    assert (report.entries_checked, report.first_bad_seq, report.problem) == (5000, None, None)
    assert seen == sorted(seen)
    assert seen[-1] == 5000


async def test_an_empty_ledger_verifies() -> None:
    report = await verify(MemoryLedgerStore())
    assert report.ok
    assert report.entries_checked == 0


async def test_an_altered_payload_is_named() -> None:
    entries = await build_ledger(10)
    entries[3] = replace(entries[3], payload={**entries[3].payload, "outcome": "allow"})
    report = await verify(store_of(entries))
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 4, "altered")
    assert report.entries_checked == 3
    assert report.detail == (
        "entry 4 (decision:allow at 2026-11-28T14:03:15Z) was altered: "
        "its hash no longer matches its content"
    )


async def test_an_altered_event_type_is_named() -> None:
    entries = await build_ledger(10)
    entries[4] = replace(entries[4], event_type=EventType.DECISION_ALLOW)
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (5, "altered")
    assert "entry 5 (decision:allow" in report.detail


async def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = await build_ledger(10)
    entries[4] = rehashed(entries[4], payload={"outcome": "allow"})
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (5, "altered")
    assert report.detail.startswith("entry 5 was replaced")


async def test_a_deleted_middle_entry_is_named() -> None:
    entries = await build_ledger(10)
    del entries[4]
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (5, "removed")
    assert report.detail == "entry 5 was removed: entry 6 follows entry 4"


async def test_a_deleted_first_entry_is_named() -> None:
    entries = await build_ledger(10)
    del entries[0]
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem, report.entries_checked) == (1, "removed", 0)


async def test_deleted_entries_hidden_by_renumbering_are_named() -> None:
    entries = await build_ledger(10)
    entries = entries[:3] + [replace(e, seq=e.seq - 2) for e in entries[5:]]
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (4, "removed")
    assert report.detail.startswith("entries 4 to 5 were removed")


async def test_two_swapped_entries_are_named() -> None:
    entries = await build_ledger(10)
    third, fourth = entries[2], entries[3]
    entries[2], entries[3] = replace(fourth, seq=3), replace(third, seq=4)
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (3, "reordered")
    assert "entry 3 (decision:allow" in report.detail


async def test_an_inserted_entry_is_named() -> None:
    entries = await build_ledger(10)
    fourth = entries[3]
    forged = rehashed(fourth, seq=5, entry_id="forged", payload={}, prev_hash=fourth.hash)
    entries = entries[:4] + [forged] + [replace(e, seq=e.seq + 1) for e in entries[4:]]
    report = await verify(store_of(entries))
    assert (report.first_bad_seq, report.problem) == (5, "inserted")
    assert report.detail == ("entry 5 was inserted: the entry now at 6 was recorded as entry 5")


async def test_a_truncated_tail_is_caught_with_the_expected_head() -> None:
    entries = await build_ledger(10)
    head = (10, entries[-1].hash)
    truncated = store_of(entries[:8])
    assert (await verify(truncated)).ok  # a hash chain alone cannot see a cut tail
    report = await verify(truncated, expect_head=head)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 9, "removed")
    assert report.detail.startswith("entries 9 to 10 were removed")


async def test_a_ledger_that_grew_past_the_expected_head_verifies() -> None:
    entries = await build_ledger(10)
    report = await verify(store_of(entries), expect_head=(6, entries[5].hash))
    assert report.ok, report.detail


async def test_a_rewritten_chain_is_caught_with_the_expected_head() -> None:
    entries = await build_ledger(3)
    forged = [rehashed(entries[0], payload={"outcome": "allow"})]
    for entry in entries[1:]:
        forged.append(rehashed(entry, prev_hash=forged[-1].hash))
    assert (await verify(store_of(forged))).ok
    report = await verify(store_of(forged), expect_head=(3, entries[2].hash))
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 3, "altered")


async def test_the_first_problem_wins_across_batches() -> None:
    entries = await build_ledger(50)
    entries[30] = replace(entries[30], payload={})
    del entries[40]
    report = await verify(store_of(entries), batch=7)
    assert (report.first_bad_seq, report.problem, report.entries_checked) == (31, "altered", 30)
