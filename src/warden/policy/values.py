"""From AuthZEN JSON to Cedar JSON values and entities.

Cedar has no floats and no null: integral floats become ``Long``, other floats become
``decimal`` (at most four decimal places), ``null`` in a record drops the attribute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from warden.policy.errors import InvalidValue

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_DECIMAL_PLACES = 4
_WORD_SEPARATORS = re.compile(r"[_\-\s]+")


def cedar_entity_type(authzen_type: str) -> str:
    """The Cedar entity type for an AuthZEN type: ``user`` → ``User``, ``tool_call`` → ``ToolCall``.

    A type that already contains ``::`` or starts uppercase is kept as is.
    """
    if not authzen_type.strip():
        raise InvalidValue("type", "is empty")
    if "::" in authzen_type or authzen_type[0].isupper():
        return authzen_type
    return "".join(part[:1].upper() + part[1:] for part in _WORD_SEPARATORS.split(authzen_type))


def to_cedar_value(value: Any, path: str) -> Any:
    """``value`` as a Cedar JSON value; :class:`InvalidValue` names ``path`` if it has none."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return _long(value, path)
    if isinstance(value, float):
        return _number(value, path)
    if isinstance(value, Mapping):
        return _record(value, path)
    if isinstance(value, list | tuple | set | frozenset):
        return [_element(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if value is None:
        raise InvalidValue(path, "is null, which cedar cannot represent")
    raise InvalidValue(path, f"has type `{type(value).__name__}`, which cedar cannot represent")


def cedar_entity(
    entity_type: str,
    entity_id: str,
    properties: Mapping[str, Any],
    parents: Iterable[tuple[str, str]] = (),
    *,
    path: str = "properties",
) -> dict[str, Any]:
    """A Cedar JSON entity ``{"uid", "attrs", "parents"}``; ``parents`` are ``(type, id)`` pairs."""
    return {
        "uid": {"type": entity_type, "id": entity_id},
        "attrs": _record(properties, path),
        "parents": [{"type": t, "id": i} for t, i in parents],
    }


def _record(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    record = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidValue(f"{path}.{key}", "has a key that is not a string")
        if item is not None:
            record[key] = to_cedar_value(item, f"{path}.{key}")
    return record


def _element(item: Any, path: str) -> Any:
    if item is None:
        raise InvalidValue(path, "is null, which a cedar set cannot hold")
    return to_cedar_value(item, path)


def _long(value: int, path: str) -> int:
    if not _I64_MIN <= value <= _I64_MAX:
        raise InvalidValue(path, "is outside the 64-bit integer range cedar supports")
    return value


def _number(value: float, path: str) -> Any:
    if not math.isfinite(value):
        raise InvalidValue(path, f"is `{value}`, which cedar cannot represent")
    if value.is_integer():
        return _long(int(value), path)
    number = Decimal(repr(value))
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -_DECIMAL_PLACES:
        raise InvalidValue(path, f"has more than {_DECIMAL_PLACES} decimal places")
    if not _I64_MIN <= number.scaleb(_DECIMAL_PLACES) <= _I64_MAX:
        raise InvalidValue(path, "is outside the range of a cedar decimal")
    return {"__extn": {"fn": "decimal", "arg": format(number, "f")}}
