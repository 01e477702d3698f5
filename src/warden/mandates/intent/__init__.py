"""Intent matching: which purpose profile a person's request maps to, how related each
action is to it, and the values the person named (*designated* values).

Two matchers behind :class:`IntentMatcher`: :class:`LexicalMatcher` (pure Python, the
default) and :class:`SemanticMatcher` (sentence embeddings, ``pip install warden[semantic]``;
torch is imported only when one is constructed)."""

from __future__ import annotations

from warden.mandates.intent.designated import extract_designated, normalize
from warden.mandates.intent.errors import IntentError, MatcherUnavailable, UnknownMatcher
from warden.mandates.intent.lexical import LexicalMatcher
from warden.mandates.intent.matcher import IntentMatcher, ProfileText
from warden.mandates.intent.semantic import SemanticMatcher

MATCHERS = ("lexical", "semantic")


def make_matcher(name: str = "lexical") -> IntentMatcher:
    """A matcher by name. ``semantic`` raises :class:`MatcherUnavailable` when the extra is
    not installed."""
    if name == "lexical":
        return LexicalMatcher()
    if name == "semantic":
        return SemanticMatcher()
    raise UnknownMatcher(f"unknown intent matcher `{name}`; choose one of {', '.join(MATCHERS)}")


__all__ = [
    "MATCHERS",
    "IntentError",
    "IntentMatcher",
    "LexicalMatcher",
    "MatcherUnavailable",
    "ProfileText",
    "SemanticMatcher",
    "UnknownMatcher",
    "extract_designated",
    "make_matcher",
    "normalize",
]
