"""Verifying the ledger: prove it untouched, or name the first entry that was tampered with.

:func:`verify` streams the ledger in ``seq`` order and checks three things per entry: its
hash matches its content (else *altered*), its ``prev_hash`` is the previous entry's hash,
and its ``seq`` is one more than the previous one (else *removed*, *reordered* or
*inserted*, diagnosed below). Given ``expect_head`` — a ``(seq, hash)`` seen earlier, e.g.
from a signed checkpoint — it also catches a truncated tail and a chain rewritten up to it,
which a hash chain alone cannot reveal.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from warden.audit.chain import GENESIS_HASH, entry_hash, format_timestamp
from warden.audit.errors import AuditError, LedgerCorrupted
from warden.audit.models import LedgerEntry, Problem, VerifyReport
from warden.audit.store import LedgerStore

_WINDOW = 1024  # how many recent hashes are remembered to explain an insertion
_SEARCH = 32  # how far from its seq a moved entry's original seq is searched


@dataclass(frozen=True, slots=True)
class _Finding:
    seq: int
    problem: Problem
    detail: str


@dataclass(slots=True)
class _Walk:
    """Where the walk is: the next expected seq and the hash it must chain to."""

    expect_head: tuple[int, str] | None
    next_seq: int = 1
    prev_hash: str = GENESIS_HASH
    checked: int = 0
    seen_expected: str | None = None
    recent: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def accepts(self, entry: LedgerEntry) -> bool:
        return (
            entry.seq == self.next_seq
            and entry.prev_hash == self.prev_hash
            and _hash_at(entry, entry.seq) == entry.hash
        )

    def advance(self, entry: LedgerEntry) -> None:
        self.next_seq, self.prev_hash = entry.seq + 1, entry.hash
        self.checked += 1
        self.recent[entry.hash] = entry.seq
        if len(self.recent) > _WINDOW:
            self.recent.popitem(last=False)
        if self.expect_head is not None and entry.seq == self.expect_head[0]:
            self.seen_expected = entry.hash


async def verify(
    store: LedgerStore,
    *,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
    expect_head: tuple[int, str] | None = None,
) -> VerifyReport:
    """Check the whole ledger in ``store``, reading ``batch`` entries at a time.

    ``progress`` is called after each batch with the number of entries proven so far.
    Returns a :class:`VerifyReport` naming the first bad entry and what happened to it.
    """
    walk = _Walk(expect_head)
    while True:
        entries, corrupted = await _read(store, walk.next_seq - 1, batch)
        finding = await _walk_batch(store, walk, entries, batch)
        if finding is None and corrupted is not None:
            finding = _unreadable(walk, corrupted)
        if finding is not None:
            return _failed(walk, finding)
        if progress is not None:
            progress(walk.checked)
        if not entries:
            return _finish(walk)


async def _walk_batch(
    store: LedgerStore, walk: _Walk, entries: Sequence[LedgerEntry], batch: int
) -> _Finding | None:
    for entry in entries:
        if not walk.accepts(entry):
            lookahead, _ = await _read(store, entry.seq, batch)
            return _diagnose(walk, entry, lookahead)
        walk.advance(entry)
    return None


async def _read(
    store: LedgerStore, after_seq: int, limit: int
) -> tuple[list[LedgerEntry], LedgerCorrupted | None]:
    """Up to ``limit`` readable entries, stopping before an unreadable row (returned too)."""
    try:
        return await store.scan(after_seq, limit), None
    except LedgerCorrupted as exc:
        corrupted = exc
    entries: list[LedgerEntry] = []
    while len(entries) < limit:  # slow path, only once a row is known to be unreadable
        try:
            step = await store.scan(entries[-1].seq if entries else after_seq, 1)
        except LedgerCorrupted:
            break
        if not step:
            break
        entries.extend(step)
    return entries, corrupted


def _diagnose(walk: _Walk, entry: LedgerEntry, later: Sequence[LedgerEntry]) -> _Finding:
    """Name what happened at the first entry that does not fit."""
    n = walk.next_seq
    if entry.seq > n:
        return _removed(n, entry.seq, f"entry {entry.seq} follows entry {n - 1}")
    if entry.seq < n:
        return _Finding(entry.seq, "reordered", f"entry {entry.seq} appears after entry {n - 1}")
    if _hash_at(entry, n) == entry.hash:
        return _broken_link(walk, entry)
    owner = next((f for f in later if f.prev_hash == walk.prev_hash), None)
    if owner is not None:
        detail = f"{_describe(entry)} is out of order: the entry recorded there is now {owner.seq}"
        return _Finding(n, "reordered", detail)
    return _moved_or_altered(walk, entry)


def _moved_or_altered(walk: _Walk, entry: LedgerEntry) -> _Finding:
    n = walk.next_seq
    origin = _original_seq(walk, entry)
    if origin is None:
        return _Finding(
            n, "altered", f"{_describe(entry)} was altered: its hash no longer matches its content"
        )
    if origin > n:
        return _removed(n, origin, f"the entry now at {n} was recorded as entry {origin}")
    predecessor = walk.recent.get(entry.prev_hash)
    if predecessor is not None and origin == predecessor + 1:
        return _inserted(predecessor, n, f"the entry now at {n} was recorded as entry {origin}")
    detail = f"{_describe(entry)} is out of order: it was recorded as entry {origin}"
    return _Finding(n, "reordered", detail)


def _broken_link(walk: _Walk, entry: LedgerEntry) -> _Finding:
    """``entry`` is intact where it is, but does not chain to the entry before it."""
    n = entry.seq
    predecessor = walk.recent.get(entry.prev_hash)
    if predecessor is not None and predecessor < n - 1:
        return _inserted(predecessor, n, f"entry {n} was chained to entry {predecessor}")
    if n == 1:
        detail = f"{_describe(entry)} was altered: it does not start from the genesis hash"
        return _Finding(1, "altered", detail)
    detail = f"entry {n - 1} was replaced: entry {n} was chained to a different entry"
    return _Finding(n - 1, "altered", detail)


def _removed(first: int, upto: int, why: str) -> _Finding:
    what = f"entry {first} was" if upto == first + 1 else f"entries {first} to {upto - 1} were"
    return _Finding(first, "removed", f"{what} removed: {why}")


def _inserted(predecessor: int, n: int, why: str) -> _Finding:
    first = predecessor + 1
    what = f"entry {first} was" if first == n - 1 else f"entries {first} to {n - 1} were"
    return _Finding(first, "inserted", f"{what} inserted: {why}")


def _unreadable(walk: _Walk, corrupted: LedgerCorrupted) -> _Finding:
    if corrupted.seq > walk.next_seq:
        return _removed(walk.next_seq, corrupted.seq, f"entry {corrupted.seq} comes next")
    return _Finding(corrupted.seq, "altered", f"{corrupted.message}: it was altered")


def _original_seq(walk: _Walk, entry: LedgerEntry) -> int | None:
    """The seq under which ``entry``'s hash is valid, if it is near where it now sits."""
    predecessor = walk.recent.get(entry.prev_hash)
    candidates = [] if predecessor is None else [predecessor + 1]
    for distance in range(1, _SEARCH + 1):
        candidates += [entry.seq + distance, entry.seq - distance]
    return next((s for s in candidates if s > 0 and _hash_at(entry, s) == entry.hash), None)


def _hash_at(entry: LedgerEntry, seq: int) -> str | None:
    """``entry``'s hash recomputed as if it were entry ``seq``; ``None`` if it cannot be."""
    try:
        return entry_hash(
            entry.version,
            seq,
            entry.entry_id,
            str(entry.event_type),
            format_timestamp(entry.recorded_at),
            entry.payload,
            entry.prev_hash,
        )
    except AuditError:
        return None


def _finish(walk: _Walk) -> VerifyReport:
    last = walk.next_seq - 1
    if walk.expect_head is not None:
        finding = _check_expected(walk, *walk.expect_head)
        if finding is not None:
            return _failed(walk, finding)
    if last == 0:
        return VerifyReport(True, 0, None, None, "the ledger is empty")
    detail = f"{last} entries verified: the chain is intact from entry 1 to entry {last}"
    return VerifyReport(True, walk.checked, None, None, detail)


def _check_expected(walk: _Walk, seq: int, digest: str) -> _Finding | None:
    last = walk.next_seq - 1
    if last < seq:
        why = f"the ledger ends at entry {last} but reached entry {seq} before"
        return _removed(last + 1, seq + 1, why)
    if walk.seen_expected != digest:
        why = f"entry {seq} does not match the expected head `{digest[:16]}`"
        return _Finding(seq, "altered", f"{why}: the ledger was rewritten up to it")
    return None


def _failed(walk: _Walk, finding: _Finding) -> VerifyReport:
    checked = min(walk.checked, finding.seq - 1)
    return VerifyReport(False, checked, finding.seq, finding.problem, finding.detail)


def _describe(entry: LedgerEntry) -> str:
    moment = entry.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"entry {entry.seq} ({entry.event_type} at {moment})"
