"""One readable line per ledger entry, for ``warden audit tail``.

Only fields known to be safe are shown (outcome, subject, action, resource, the first reason
code, identifiers of registry and policy objects); the rest of a payload never reaches the
terminal. Every shown value is stripped of control characters and shortened, so a
hostile resource id cannot forge lines or move the cursor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warden.audit.models import DECISION_EVENTS, LedgerEntry

_MAX_VALUE = 80
_IDENTIFYING_KEYS = (
    "agent_id", "id", "tool", "name", "from", "to", "reason", "kid",
    "revision", "author", "actor",
)  # fmt: skip
# Objects nested in registry and sighting payloads, and the field that identifies each.
_NESTED_KEYS = {"agent": "id", "tool": "name", "subject": "id"}


def format_entry(entry: LedgerEntry) -> str:
    """``entry`` as one line: time, seq, event type and a summary of what happened.

    For a decision: ``outcome subject → action → resource [first reason code]``.
    """
    moment = entry.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    head = f"{moment}  #{entry.seq}  {_clean(str(entry.event_type))}"
    summary = (
        _decision_summary(entry.payload)
        if entry.event_type in DECISION_EVENTS
        else _identity_summary(entry.payload)
    )
    return f"{head}  {summary}" if summary else head


def _decision_summary(payload: Mapping[str, Any]) -> str:
    subject = _entity(payload.get("subject"))
    action = _clean(_field(payload.get("action"), "name"))
    resource = _entity(payload.get("resource"))
    line = f"{_clean(payload.get('outcome', '?'))}  {subject} → {action} → {resource}"
    reasons = payload.get("reasons")
    if isinstance(reasons, list) and reasons:
        line += f"  [{_clean(_field(reasons[0], 'code'))}]"
    return line


def _identity_summary(payload: Mapping[str, Any]) -> str:
    shown = [
        f"{key}={_clean(_field(payload[key], inner))}"
        for key, inner in _NESTED_KEYS.items()
        if isinstance(payload.get(key), Mapping)
    ]
    shown += [
        f"{key}={_clean(payload[key])}"
        for key in _IDENTIFYING_KEYS
        if key in payload and not isinstance(payload[key], Mapping)
    ]
    return "  ".join(shown)


def _entity(value: Any) -> str:
    return f"{_clean(_field(value, 'type'))}:{_clean(_field(value, 'id'))}"


def _field(value: Any, key: str) -> Any:
    return value.get(key, "?") if isinstance(value, Mapping) else "?"


def _clean(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return "?"
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in str(value))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"
