"""The policy concept's values: bundles, revisions and validation problems."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import rfc8785

from warden.policy.errors import BundleError

_BUNDLE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a bundle. ``line`` and ``column`` are 1-based; 0 means unknown."""

    file: str
    line: int
    column: int
    policy_id: str | None
    message: str

    @property
    def where(self) -> str:
        """``file:line:column``, or just ``file`` when the position is unknown."""
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "policy_id": self.policy_id,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Bundle:
    """A set of Cedar policies with the schema and entities they are checked against.

    ``policies`` maps a relative file name to its Cedar text; ``schema`` is Cedar schema text;
    ``entities`` are Cedar JSON entities; ``source`` says where the bundle came from.
    """

    policies: Mapping[str, str]
    schema: str
    entities: Sequence[Mapping[str, Any]] = ()
    source: str = ""
    _digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", MappingProxyType(dict(sorted(self.policies.items()))))
        object.__setattr__(self, "entities", tuple(self.entities))
        canonical = rfc8785.dumps(
            {
                "policies": dict(self.policies),
                "schema": self.schema,
                "entities": [dict(e) for e in self.entities],
            }
        )
        object.__setattr__(self, "_digest", hashlib.sha256(canonical).hexdigest())

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON (RFC 8785) of policies, schema and entities."""
        return self._digest

    def to_json(self) -> str:
        """The bundle as JSON, for storage."""
        return json.dumps(
            {
                "format": _BUNDLE_FORMAT,
                "source": self.source,
                "policies": dict(self.policies),
                "schema": self.schema,
                "entities": list(self.entities),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Bundle:
        """Read a bundle written by :meth:`to_json`."""
        try:
            raw = json.loads(text)
            return cls(
                policies=dict(raw["policies"]),
                schema=str(raw["schema"]),
                entities=_entity_list(raw.get("entities", [])),
                source=str(raw.get("source", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"stored bundle is not valid: {exc}") from exc


def _entity_list(raw: Iterable[Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(dict(entity) for entity in raw)


@dataclass(frozen=True, slots=True)
class PolicyRevision:
    """A bundle as applied: revision numbers start at 1 and only grow."""

    revision: int
    created_at: datetime
    author: str
    digest: str
    bundle: Bundle
