"""Provenance: where each argument of an action came from.

Enforcement points report every tool result under a mandate (``POST /v1/observations``);
:meth:`ProvenanceIndex.observe` walks the result, labels it (the tool's own data labels plus
:mod:`warden.mandates.detectors`), flags injected instructions, and indexes every scalar value
— as given, and in the comparison form of the kind it is (e-mail, IBAN, URL, amount...), plus
the values named inside longer text — under the mandate.

:meth:`ProvenanceIndex.trace` then says, for each scalar argument of a later action, whether
its value is in the person's request, in data the person designated, in an earlier tool output
(which tool, that output's labels, whether it was injected), or nowhere. It reads memory only;
the durable write happens in ``observe``, off the decision path.

Nothing of the output's content is kept: values are stored and held in memory as keyed
digests (HMAC-SHA-256 truncated to 128 bits, with a per-install key kept in the database), so
a stolen table does not reveal the outputs and cannot be checked against guessed values
without the key. Labels and flags are kept as they are.

Bounds: at most ``max_values`` values per mandate (the oldest are forgotten first) and
``max_mandates`` mandates in memory (the least recently used are dropped, and read back from
the database by :meth:`ProvenanceIndex.ensure` or the next observation).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.mandates.detectors import BANK_DETAILS, PAYMENT_CARD, PII, SECRET, detect_labels, scan
from warden.mandates.intent import extract_designated, normalize
from warden.mandates.models import DesignatedValue, Mandate, Provenance, Source, ValueKind
from warden.store.schema import observation_keys, observations

log = logging.getLogger("warden.mandates")

MAX_VALUES = 10_000
"""Values remembered per mandate; past it the oldest are forgotten first."""
MAX_MANDATES = 1_000
"""Mandates held in memory; the least recently used are dropped (and read back on demand)."""
RETENTION = timedelta(days=7)
"""How long observations are stored (mandates live for hours; this leaves room to look back)."""
_DIGEST_BYTES = 16
_KEY_NAME = "provenance"
_LINES = 200  # lines of a multi-line string indexed on their own
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Keys that say what their value is, in structured outputs (a routing number alone is a
# 9-digit number; under ``routing_number`` it is bank details).
_KEY_LABELS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("iban", "routing_number", "routing", "aba", "sort_code", "account_number", "bic",
         "swift", "bank_account"),
        frozenset({BANK_DETAILS}),
    ),
    **dict.fromkeys(
        ("ssn", "social_security_number", "date_of_birth", "dob", "birth_date", "phone",
         "phone_number", "email", "email_address", "national_id", "passport_number"),
        frozenset({PII}),
    ),
    **dict.fromkeys(
        ("password", "passwd", "secret", "client_secret", "api_key", "access_token",
         "refresh_token", "private_key"),
        frozenset({SECRET}),
    ),
    **dict.fromkeys(("card_number", "pan", "cc_number", "credit_card"), frozenset({PAYMENT_CARD})),
}  # fmt: skip
_KIND_LABELS: dict[ValueKind, frozenset[str]] = {
    ValueKind.IBAN: frozenset({BANK_DETAILS}),
    ValueKind.ACCOUNT: frozenset({BANK_DETAILS}),
    ValueKind.EMAIL: frozenset({PII}),
    ValueKind.PERSON: frozenset({PII}),
}
_INLINE_SCALARS = 200  # outputs bigger than this are indexed in a thread
_INLINE_CHARS = 16_384
_IN_ORDER = (observations.c.observed_at, observations.c.id)

_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_IBAN = re.compile(r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,34}")
_AMOUNT = re.compile(r"(?:[€$£¥]\s?|[A-Za-z]{3}\s)?-?\d[\d.,' ]*(?:\s?[A-Za-z]{3}|[kKmM])?")
_NUMBER = re.compile(r"\d(?:[\d,.']*\d)?")
_SPACED_DIGITS = re.compile(r"\d+(?:[ -]\d+)+")
_DOMAIN = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,24}\.?", re.I)


@dataclass(frozen=True, slots=True)
class Observation:
    """What Warden kept of one tool result: its labels, whether it carried injected
    instructions, and how many distinct values it indexed."""

    mandate_id: str
    tool: str
    labels: frozenset[str]
    injected: bool
    values: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mandate": self.mandate_id,
            "tool": self.tool,
            "labels": sorted(self.labels),
            "injected": self.injected,
            "values": self.values,
        }


@dataclass(frozen=True, slots=True)
class _Output:
    tool: str
    labels: frozenset[str]
    injected: bool


@dataclass(frozen=True, slots=True)
class _Held:
    """What is known of one value: the first output that held it (its position in
    ``_Seen.outputs``), and over every output that held it, their labels and whether any was
    injected."""

    first: int
    labels: frozenset[str]
    injected: bool


@dataclass(slots=True)
class _Seen:
    """One mandate's observed outputs, and the digests of their values."""

    outputs: list[_Output] = field(default_factory=list)
    values: dict[bytes, _Held] = field(default_factory=dict)
    observed_at: str = ""  # the latest stored observation's time


@dataclass(frozen=True, slots=True)
class _Terms:
    """A mandate's own words and designated data, in comparison form."""

    request: str  # case-folded
    in_request: frozenset[str]
    designated: frozenset[str]


_WRITE_WINDOW = 0.02
"""Seconds observations gather before they are stored together (one transaction)."""


class ProvenanceIndex:
    """Observed tool outputs per mandate, in memory, with durable rows in ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_values: int = MAX_VALUES,
        max_mandates: int = MAX_MANDATES,
        retention: timedelta = RETENTION,
    ) -> None:
        self._engine = engine
        self._max_values = max_values
        self._max_mandates = max_mandates
        self._retention = retention
        self._key = b""
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._terms: OrderedDict[str, _Terms] = OrderedDict()
        self._reading: dict[str, asyncio.Task[None]] = {}  # read-backs under way
        self._rows: list[Mapping[str, Any]] = []  # observations waiting to be stored
        self._writer: asyncio.Task[None] | None = None  # stores them, many per transaction

    # -- set-up ---------------------------------------------------------------------------

    async def load(self, now: datetime) -> None:
        """Read (or create) the install's digest key, then the observations of the most
        recently observed mandates, up to ``max_mandates`` of them (at start)."""
        self._key = await self._install_key(now)
        latest = func.max(observations.c.observed_at)
        recent = (
            select(observations.c.mandate_id)
            .group_by(observations.c.mandate_id)
            .order_by(latest.desc())
            .limit(self._max_mandates)
        )
        rows = select(observations).where(observations.c.mandate_id.in_(recent.scalar_subquery()))
        loaded: dict[str, _Seen] = {}
        async with self._engine.connect() as conn:
            for row in await conn.execute(rows.order_by(*_IN_ORDER)):
                self._read(loaded.setdefault(row.mandate_id, _Seen()), row)
        self._seen.clear()
        latest_first = sorted(loaded, key=lambda m: loaded[m].observed_at, reverse=True)
        for mandate_id in reversed(latest_first):  # the most recent last: dropped last
            self._hold(mandate_id, loaded[mandate_id])

    async def ensure(self, mandate_id: str) -> None:
        """Hold ``mandate_id``'s observations in memory (read back if they were dropped)."""
        if mandate_id in self._seen:
            self._seen.move_to_end(mandate_id)
            return
        query = select(observations).where(observations.c.mandate_id == mandate_id)
        seen = _Seen()
        await self._written()  # a row still being stored must be read back too
        async with self._engine.connect() as conn:
            for row in await conn.execute(query.order_by(*_IN_ORDER)):
                self._read(seen, row)
        if mandate_id not in self._seen:  # a concurrent observation may have read it first
            self._hold(mandate_id, seen)

    def _read(self, seen: _Seen, row: Any) -> None:
        output = _Output(row.tool, frozenset(orjson.loads(row.labels)), row.injected)
        entries: dict[bytes, frozenset[str]] = {}
        for labels, digests in orjson.loads(row.digests):
            group = frozenset(labels)
            entries.update((bytes.fromhex(d), group) for d in digests.split())
        self._remember(seen, output, entries)
        seen.observed_at = row.observed_at

    async def _install_key(self, now: datetime) -> bytes:
        query = select(observation_keys.c.secret).where(observation_keys.c.name == _KEY_NAME)
        async with self._engine.connect() as conn:
            stored = (await conn.execute(query)).scalar_one_or_none()
        if stored is not None:
            return bytes.fromhex(stored)
        row = {"name": _KEY_NAME, "secret": secrets.token_hex(32), "created_at": now.isoformat()}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(observation_keys).values(row))
        except IntegrityError:  # another server created it first: use theirs
            async with self._engine.connect() as conn:
                return bytes.fromhex((await conn.execute(query)).scalar_one())
        return bytes.fromhex(row["secret"])

    # -- observing ------------------------------------------------------------------------

    async def observe(
        self,
        mandate_id: str,
        tool: str,
        result: Any,
        *,
        tool_labels: frozenset[str] = frozenset(),
        now: datetime,
        agent: str | None = None,
    ) -> Observation:
        """Index a tool result reported under ``mandate_id``: its values (as digests), its
        labels (``tool_labels`` plus what the detectors find) and whether it was injected."""
        if not self._key:
            self._key = await self._install_key(now)
        scalars = list(_scalars(result))
        tool_labels = frozenset(tool_labels)
        if len(scalars) > _INLINE_SCALARS or sum(len(str(v)) for _, v in scalars) > _INLINE_CHARS:
            # big: in a thread, so the event loop keeps serving decisions meanwhile
            detected, injected, entries = await asyncio.to_thread(self._index, scalars, tool_labels)
        else:
            detected, injected, entries = self._index(scalars, tool_labels)
        output = _Output(tool, tool_labels | detected, injected)
        await self.ensure(mandate_id)
        self._remember(self._seen[mandate_id], output, entries)
        row = {
            "id": uuid.uuid4().hex,
            "mandate_id": mandate_id,
            "tool": tool,
            "agent": agent,
            "labels": orjson.dumps(sorted(output.labels)).decode(),
            "injected": injected,
            "value_count": len(entries),
            "digests": _stored(entries, self._max_values),
            "observed_at": now.isoformat(),
        }
        # The next decision reads the memory just updated; the row (for restarts and other
        # replicas) is stored in the background, so a gateway answers without waiting on a
        # write. ``settled`` (shutdown, tests) waits for it.
        self._rows.append(row)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return Observation(mandate_id, tool, output.labels, injected, len(entries))

    async def _write(self) -> None:
        """Store the waiting rows, all that arrived meanwhile in one transaction (group
        commit: one write per burst of observations, not one per observation). A failure is
        logged; the observations stay in memory, only a restart would not see them."""
        await asyncio.sleep(_WRITE_WINDOW)  # let a burst gather: one fsync for all of it
        while self._rows:
            rows, self._rows = self._rows, []
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(observations), rows)
            except Exception:
                log.exception("could not store %d observations", len(rows))

    async def _written(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.gather(self._writer, return_exceptions=True)

    def _index(
        self, scalars: list[tuple[str, Scalar]], tool_labels: frozenset[str]
    ) -> tuple[frozenset[str], bool, dict[bytes, frozenset[str]]]:
        """An output's detected labels and injected flag, and the digest of each value with
        that value's own labels (CPU only)."""
        detected, injected = scan(_as_text(scalars))
        entries: dict[bytes, frozenset[str]] = {}
        groups: dict[frozenset[str], frozenset[str]] = {}  # one object per label set
        for form, labels in _observed_forms(scalars):
            labels = groups.setdefault(tool_labels | labels, tool_labels | labels)
            digest = self._digest(form)
            known = entries.get(digest)
            entries[digest] = labels if known is None or known <= labels else known | labels
        return detected, injected, entries

    async def purge(self, before: datetime) -> int:
        """Delete the observations made before ``before`` (a housekeeping job: mandates are
        short-lived); returns how many. Memory keeps what it holds until it is dropped."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(observations).where(observations.c.observed_at < before.isoformat())
            )
        return int(result.rowcount or 0)

    async def expire(self, now: datetime) -> int:
        """Delete the observations older than the retention (the ``observation-expiry``
        housekeeping job)."""
        return await self.purge(now - self._retention)

    def _remember(
        self, seen: _Seen, output: _Output, entries: Mapping[bytes, frozenset[str]]
    ) -> None:
        position = len(seen.outputs)
        seen.outputs.append(output)
        fresh: dict[frozenset[str], _Held] = {}  # one object per label set
        values = seen.values
        for digest, labels in entries.items():
            held = values.pop(digest, None)  # re-inserted last: the freshest are kept longest
            if held is None:
                values[digest] = fresh.setdefault(labels, _Held(position, labels, output.injected))
            elif (held.injected or not output.injected) and labels <= held.labels:
                values[digest] = held
            else:
                merged = _Held(held.first, held.labels | labels, held.injected or output.injected)
                values[digest] = merged
        while len(values) > self._max_values:
            del values[next(iter(values))]

    def _resident(self, mandate_id: str) -> _Seen | None:
        """The mandate's observations in memory. When they are not (dropped, or older than
        the start's read-back), they are read back in the background: the decision asking
        now sees none, the next ones see them."""
        seen = self._seen.get(mandate_id)
        if seen is not None or mandate_id in self._reading:
            return seen
        try:
            task = asyncio.get_running_loop().create_task(self.ensure(mandate_id))
        except RuntimeError:  # no event loop (a synchronous caller): nothing to schedule on
            return None
        self._reading[mandate_id] = task
        task.add_done_callback(lambda done: self._read_back(mandate_id, done))
        return None

    def _read_back(self, mandate_id: str, task: asyncio.Task[None]) -> None:
        self._reading.pop(mandate_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not read back the observations of mandate `%s`", mandate_id)

    async def settled(self) -> None:
        """Wait for the background read-backs and writes under way (tests, shutdown)."""
        await self._written()
        while self._reading:
            await asyncio.gather(*self._reading.values(), return_exceptions=True)

    def _hold(self, mandate_id: str, seen: _Seen) -> None:
        self._seen[mandate_id] = seen
        while len(self._seen) > self._max_mandates:
            self._seen.popitem(last=False)

    def _digest(self, form: str) -> bytes:
        return hmac.digest(self._key, form.encode("utf-8", "surrogatepass"), hashlib.sha256)[
            :_DIGEST_BYTES
        ]

    # -- tracing (memory only) ------------------------------------------------------------

    def trace(self, mandate: Mandate, arguments: Mapping[str, Any]) -> dict[str, Provenance]:
        """Where each scalar argument (by dotted path) came from: the request, designated
        data (``authorization_details``, the values the mandate names, the person themself),
        an earlier tool output (untrusted), or nowhere (unknown). Booleans and nulls are not
        traced."""
        return self.assess(mandate, arguments)[0]

    def labels_in(self, mandate_id: str, arguments: Mapping[str, Any]) -> frozenset[str]:
        """The labels of every observed output that held any of the argument values."""
        seen = self._resident(mandate_id)
        if seen is None:
            return frozenset()
        labels: set[str] = set()
        for _, value in _scalars(arguments):
            for held in self._held(seen, _forms(value)):
                labels |= held.labels
        return frozenset(labels)

    def assess(
        self, mandate: Mandate, arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Provenance], frozenset[str]]:
        """:meth:`trace` and :meth:`labels_in` in one pass over the arguments (what the
        decision path calls: each value's forms and digests are worked out once)."""
        terms = self._terms_of(mandate)
        seen = self._resident(mandate.id)
        traced: dict[str, Provenance] = {}
        labels: set[str] = set()
        for path, value in _scalars(arguments):
            forms = _forms(value)
            held = self._held(seen, forms) if seen is not None else []
            for h in held:
                labels |= h.labels
            traced[path] = self._source(path, value, forms, held, terms, seen)
        return traced, frozenset(labels)

    def _source(
        self,
        path: str,
        value: Scalar,
        forms: frozenset[str],
        held: list[_Held],
        terms: _Terms,
        seen: _Seen | None,
    ) -> Provenance:
        if not forms.isdisjoint(terms.in_request) or _literally_in(value, terms.request):
            return Provenance(path, Source.REQUEST)
        if not forms.isdisjoint(terms.designated):
            return Provenance(path, Source.DESIGNATED)
        if not held or seen is None:
            return Provenance(path, Source.UNKNOWN)
        tool = seen.outputs[min(h.first for h in held)].tool
        labels = frozenset().union(*(h.labels for h in held))
        return Provenance(path, Source.TOOL_OUTPUT, tool, labels, any(h.injected for h in held))

    def _held(self, seen: _Seen, forms: frozenset[str]) -> list[_Held]:
        found = (seen.values.get(self._digest(form)) for form in forms)
        return [h for h in found if h is not None]

    def _terms_of(self, mandate: Mandate) -> _Terms:
        terms = self._terms.get(mandate.id)
        if terms is None:
            terms = _terms(mandate)
            self._terms[mandate.id] = terms
            while len(self._terms) > self._max_mandates:
                self._terms.popitem(last=False)
        return terms


# -- values and their comparison forms ------------------------------------------------------

Scalar = str | int | float


def _scalars(value: Any, path: str = "") -> Iterator[tuple[str, Scalar]]:
    """Every string and number in a JSON-like value, with its dotted path."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _scalars(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        for index, item in enumerate(value):
            yield from _scalars(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield path, value


def _forms(value: Scalar) -> frozenset[str]:
    """The comparison forms of one value: as given (stripped, case-folded) and as the kind it
    reads as, normalized the way designated values are."""
    if not isinstance(value, str):
        return frozenset({normalize(ValueKind.AMOUNT, value), str(value).casefold()})
    text = value.strip()
    forms = {text.casefold()}
    kind = _kind_of(text)
    if kind is not None:
        forms.add(normalize(kind, text))
        if kind is ValueKind.AMOUNT and _SPACED_DIGITS.fullmatch(text):
            forms.add(normalize(ValueKind.ACCOUNT, text))
    return frozenset(forms)


def _kind_of(text: str) -> ValueKind | None:
    if not text or len(text) > 320:
        return None
    if "@" in text:
        return ValueKind.EMAIL if _EMAIL.fullmatch(text) else None
    if text[:4].lower() == "http":
        return ValueKind.URL
    if _IBAN.fullmatch(text):
        return ValueKind.IBAN
    if _AMOUNT.fullmatch(text):
        return ValueKind.AMOUNT
    if _DOMAIN.fullmatch(text):
        return ValueKind.DOMAIN
    if len(text) <= 24 and any(ch.isdigit() for ch in text):
        return ValueKind.DATE  # "2026-11-02", "2 November 2026": ISO; anything else as is
    return None


def _observed_forms(scalars: list[tuple[str, Scalar]]) -> Iterator[tuple[str, frozenset[str]]]:
    """Every form an output's values are indexed under, with that value's own data labels:
    each scalar's forms (labelled from the value and its key), each line of a multi-line
    string (from the line), and the values named inside text (from their kind)."""
    for path, value in scalars:
        key = _key(path)
        labels = detect_labels(f"{key}: {value}") | _KEY_LABELS.get(key, frozenset())
        for form in _forms(value):
            yield form, labels
        # A single word, or a whole value of a known kind (an IBAN, an amount): its forms say
        # it all. Anything else may name values inside it.
        text = value.strip() if isinstance(value, str) else ""
        if len(text.split(maxsplit=1)) > 1 and _kind_of(text) is None:
            lines = text.splitlines()
            if len(lines) > 1:
                for line in lines[:_LINES]:
                    line_labels = detect_labels(line)
                    for form in _forms(line):
                        yield form, line_labels
            for named in extract_designated(text):
                kind_labels = _KIND_LABELS.get(named.kind, frozenset())
                yield named.normalized, kind_labels
                yield named.value.strip().casefold(), kind_labels


def _key(path: str) -> str:
    """The name a value has in its output: the last path segment that is not a list index,
    lower-case with ``_`` between words (``lines.0.routingNumber`` → ``routing_number``)."""
    for segment in reversed(path.split(".")):
        if not segment.isdigit():
            return _CAMEL.sub("_", segment).replace("-", "_").replace(" ", "_").lower()
    return ""


def _stored(entries: Mapping[bytes, frozenset[str]], limit: int) -> str:
    """The digests column: JSON ``[[labels], "hex hex ..."]`` groups, the last ``limit``."""
    groups: dict[frozenset[str], list[str]] = {}
    for digest, labels in list(entries.items())[-limit:]:
        groups.setdefault(labels, []).append(digest.hex())
    return orjson.dumps([[sorted(k), " ".join(v)] for k, v in groups.items()]).decode()


def _as_text(scalars: list[tuple[str, Scalar]]) -> str:
    """The output as lines of ``key: value`` for the detectors (keys give context: a
    ``routing_number`` next to an ``account_number``)."""
    return "\n".join(f"{path.rsplit('.', 1)[-1]}: {value}" for path, value in scalars)


def _terms(mandate: Mandate) -> _Terms:
    in_request = _named(extract_designated(mandate.request))
    # every number written in the request, as an amount ("4,250 eur" → "4250"), whatever the
    # words around it
    in_request |= {normalize(ValueKind.AMOUNT, n) for n in _NUMBER.findall(mandate.request)}
    designated = _named(mandate.designated) | _forms(mandate.person)
    for _, value in _scalars(list(mandate.authorization_details)):
        designated |= _forms(value)
        if isinstance(value, str):
            designated |= _named(extract_designated(value))
    return _Terms(mandate.request.casefold(), frozenset(in_request), frozenset(designated))


def _named(values: Iterable[DesignatedValue]) -> set[str]:
    """Named values' comparison forms: normalized, and as written (an identifier such as
    ``INV-2041`` is matched whatever its case)."""
    return {f for v in values for f in (v.normalized, v.value.strip().casefold())}


def _literally_in(value: Scalar, request: str) -> bool:
    """``value`` is written in the request as a whole word or phrase (3 characters or more)."""
    needle = str(value).strip().casefold()
    if len(needle) < 3:
        return False
    start = request.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = request[start - 1] if start else " "
        after = request[end] if end < len(request) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = request.find(needle, start + 1)
    return False
