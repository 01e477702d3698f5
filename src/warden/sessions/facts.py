"""What one action *is*, as the session and drift analysers see it, derived once per request.

Both ``context.session`` and ``context.drift`` need the same facts about the action being
decided — its tool and annotations, a digest of the exact call (for loops), the amount it
moves, its numeric arguments (for outliers), the external destinations it contacts and the
hour of the week — so :class:`FactsCache` extracts them once and hands the same object to
both (a one-entry memo keyed by the request object: the pipeline evaluates one request at a
time per runtime).

Extraction is proportional to the size of the arguments, never to the session's history.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from warden.decisions.analysers import is_agent, is_tool
from warden.decisions.models import DecisionRequest
from warden.registry.models import ToolAnnotations

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView

AMOUNT_ARGUMENTS = ("amount", "total", "value", "sum")
"""Argument names whose value is the money (or quantity) an action moves, in this order:
the first one present and numeric is the action's ``amount`` (summed over windows)."""

_MAX_NUMBERS = 32  # numeric arguments kept per action (for outliers)
_MAX_DESTINATIONS = 16
_MAX_DEPTH = 4
_EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
_URL = re.compile(
    r"^[a-z][a-z0-9+.-]*://(?:[^@/\s]+@)?([A-Za-z0-9.-]+\.[A-Za-z]{2,})(?::\d+)?", re.I
)

MandateOf = Callable[[object, datetime], str]
"""Given ``context.mandate`` (the token, as sent) and the clock: the verified mandate's id, or
``""`` when there is none or it does not verify (the mandate analyser denies that)."""


@dataclass(frozen=True, slots=True)
class ActionFacts:
    """One action by one agent, reduced to what session rules and drift detection read."""

    agent: str
    mandate: str  # the verified mandate's id; "" when the request carries none (or a bad one)
    tool: str
    at: datetime
    read_only: bool
    destructive: bool
    external: bool
    labels: frozenset[str]  # the tool's data labels (registry annotations)
    call: str  # digest of tool + canonical arguments: identical calls share it
    amount: float | None  # the first numeric AMOUNT_ARGUMENTS value, if any
    numbers: tuple[tuple[str, float], ...]  # (argument path, value) of numeric arguments
    recipients: tuple[str, ...]  # e-mail addresses in the arguments, lower-cased
    destinations: tuple[str, ...]  # domains of e-mails and URLs in the arguments, lower-cased
    chain_depth: int  # context.chain_depth (0 when absent)
    hour_of_week: int  # 0 = Monday 00:00-00:59 UTC ... 167

    @property
    def session_key(self) -> tuple[str, str]:
        """A session is one agent under one mandate."""
        return (self.agent, self.mandate)


def extract(
    request: DecisionRequest, view: DecisionView, now: datetime, mandate_of: MandateOf
) -> ActionFacts | None:
    """The facts of ``request``, or None when the subject is not an agent."""
    if not is_agent(request.subject):
        return None
    tool = request.resource.id if is_tool(request.resource) else request.resource.type
    known = view.registry.tools.get(tool)
    hints = known.annotations if known else ToolAnnotations()
    arguments = request.context.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        arguments = {"value": arguments}
    token = request.context.get("mandate")
    mandate = mandate_of(token, now) if token is not None else ""
    numbers: list[tuple[str, float]] = []
    recipients: list[str] = []
    destinations: list[str] = []
    for path, value in _scalars(arguments, "", 0):
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if math.isfinite(value) and len(numbers) < _MAX_NUMBERS:
                numbers.append((path, float(value)))
        elif isinstance(value, str) and len(destinations) < _MAX_DESTINATIONS:
            text = value.strip()
            if email := _EMAIL.match(text):
                recipients.append(text.lower())
                destinations.append(email.group(1).lower().rstrip("."))
            elif url := _URL.match(text):
                destinations.append(url.group(1).lower().rstrip("."))
    return ActionFacts(
        agent=request.subject.id,
        mandate=mandate,
        tool=tool,
        at=now,
        read_only=hints.read_only,
        destructive=hints.destructive,
        external=hints.external,
        labels=hints.labels,
        call=_call_digest(tool, arguments),
        amount=_amount(arguments),
        numbers=tuple(numbers),
        recipients=tuple(dict.fromkeys(recipients)),
        destinations=tuple(dict.fromkeys(destinations)),
        chain_depth=_depth(request.context.get("chain_depth")),
        hour_of_week=now.weekday() * 24 + now.hour,
    )


class FactsCache:
    """:func:`extract` with a one-entry memo, shared by the session and drift analysers."""

    def __init__(self, mandate_of: MandateOf) -> None:
        self.mandate_of = mandate_of
        self._request: DecisionRequest | None = None
        self._now: datetime | None = None
        self._facts: ActionFacts | None = None

    def of(self, request: DecisionRequest, view: DecisionView, now: datetime) -> ActionFacts | None:
        if request is self._request and now == self._now:
            return self._facts
        facts = extract(request, view, now, self.mandate_of)
        self._request, self._now, self._facts = request, now, facts
        return facts


def _scalars(value: Any, path: str, depth: int) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH:
            return
        for key, item in value.items():
            yield from _scalars(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list | tuple):
        if depth >= _MAX_DEPTH:
            return
        for item in value[:64]:
            yield from _scalars(item, f"{path}[]", depth + 1)
    else:
        yield path, value


def _amount(arguments: Mapping[str, Any]) -> float | None:
    for name in AMOUNT_ARGUMENTS:
        value = arguments.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.replace(",", ""))
            except ValueError:
                continue
            if math.isfinite(number):
                return number
    return None


def _call_digest(tool: str, arguments: Mapping[str, Any]) -> str:
    try:
        canonical = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # keys that are not strings: fall back to their repr, still stable
        canonical = repr(sorted(arguments.items(), key=repr)).encode()
    return hashlib.blake2b(tool.encode() + b"\0" + canonical, digest_size=12).hexdigest()


def _depth(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
