"""The intent matcher interface: which purpose profile a person's request maps to, and how
related one action is to that request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from warden.mandates.models import Match


@dataclass(frozen=True, slots=True)
class ProfileText:
    """What a matcher reads of a purpose profile: its words, not its rules."""

    name: str
    description: str
    examples: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()  # tool names or patterns (``erp.invoice.*``)


class IntentMatcher(Protocol):
    """Maps a free-text request to a profile. ``fit`` is called once whenever the profile
    set changes; ``match`` once per mandate; ``relevance`` once per action (cached)."""

    name: str
    threshold: float

    def fit(self, profiles: Sequence[ProfileText]) -> None: ...

    def match(self, request: str) -> Match:
        """The best profile with a confidence in [0, 1], every profile ranked; ``profile``
        is None when the confidence is below ``threshold`` (the mandate is unmatched)."""

    def relevance(self, request: str, tool: str, description: str = "") -> float:
        """How related calling ``tool`` is to what the person asked, in [0, 1]."""

    def warm(self, tools: Iterable[tuple[str, str]]) -> None:
        """Prepare ``(tool, description)`` pairs ahead of decisions (the semantic matcher
        embeds them in one batch); optional to call."""


K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A dict that forgets everything once it holds ``size`` entries: cheap, and the hot
    set (one mandate's tools) refills at once."""

    def __init__(self, size: int = 65_536) -> None:
        self._size = size
        self._entries: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = value
        return value
