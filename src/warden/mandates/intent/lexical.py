"""The default intent matcher: BM25 over each profile's words, pure Python.

A profile's document is its description, its example requests and the words of its tool
names. A request's terms are weighted by their BM25 inverse document frequency; a term no
profile uses weighs the most (it is what the request is about, and no profile covers it).

Confidence combines two things a reader can check by hand:

- *coverage*: the share of the request's term weight the best profile contains;
- *margin*: how far ahead of the runner-up the best profile is (``1 - s2 / s1``).

``confidence = coverage ** 0.5 * (0.5 + 0.5 * margin)`` — coverage says "this is about
something a profile describes", margin says "and about this one rather than another". The
default threshold (``THRESHOLD``) was chosen on the labelled set in
``tests/unit/mandates/test_intent_matching.py``; ``docs/intent-matching.md`` shows the figures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from warden.mandates.intent._text import (
    names_a_value,
    stem,
    terms,
    tool_terms,
    tool_words,
    typo_distance,
    words,
)
from warden.mandates.intent.matcher import BoundedCache, ProfileText
from warden.mandates.models import Match

THRESHOLD = 0.25
"""Below this confidence the mandate is unmatched."""

HEAD_WEIGHT = 2.0
UNKNOWN_SEEN = 3
SINGLE_TERM = 0.24
"""A request only one of whose terms a profile shares, and that names no value, is weak
evidence ("what's going on with our numbers?" shares "number" with the CRM profile): its
confidence is scaled by this, which keeps it below ``THRESHOLD``. A vague request stays
unmatched, the safe failure; "triage INC-8634" names what to act on and is not vague."""
K1 = 1.2
B = 0.75

# Verbs every tool has: they say nothing about *which* data the tool touches.
_GENERIC_TOOL_WORDS = frozenset(tool_terms("read get list create update write search query fetch"))


@dataclass(frozen=True, slots=True)
class _Document:
    name: str
    counts: Counter[str]
    length: int


class LexicalMatcher:
    """BM25 intent matching and term-overlap relevance; no dependencies."""

    name = "lexical"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._documents: tuple[_Document, ...] = ()
        self._frequency: Counter[str] = Counter()
        self._average_length = 1.0
        self._matches: BoundedCache[str, Match] = BoundedCache(4096)
        self._relevance: BoundedCache[tuple[str, str, str], float] = BoundedCache()
        self._vocabulary: dict[str, tuple[str, ...]] = {}  # profile words by first letter
        self._corrections: BoundedCache[str, str] = BoundedCache()

    def fit(self, profiles: Sequence[ProfileText]) -> None:
        documents = []
        for profile in profiles:
            words = [*terms(profile.description), *tool_terms(profile.name)]
            for example in profile.examples:
                words.extend(terms(example))
            for tool in profile.tools:
                words.extend(tool_terms(tool))
            documents.append(_Document(profile.name, Counter(words), len(words)))
        self._documents = tuple(documents)
        self._frequency = Counter(term for doc in documents for term in doc.counts)
        self._average_length = sum(d.length for d in documents) / max(len(documents), 1)
        self._vocabulary = _by_initial(profiles)
        self._matches = BoundedCache(4096)
        self._relevance = BoundedCache()
        self._corrections = BoundedCache()

    def query(self, request: str) -> tuple[str, ...]:
        """The request's terms, each unknown word of five letters or more corrected to the
        profile word one typo away (two for eight letters or more): "recncile" → reconcil."""
        return tuple(dict.fromkeys(self._correct(word) for word in words(request)))

    def _correct(self, word: str) -> str:
        term = stem(word)
        if term in self._frequency or len(word) < 5:
            return term
        cached = self._corrections.get(word)
        if cached is not None:
            return cached
        limit = 1 if len(word) < 8 else 2
        best, distance = term, limit + 1
        for candidate in self._vocabulary.get(word[0], ()):
            found = typo_distance(word, candidate, limit)
            if found < distance:
                best, distance = stem(candidate), found
        return self._corrections.put(word, best)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency. A term no profile uses weighs as much as one
        a single profile uses: it may be what the request is about, or a filler word."""
        total = len(self._documents)
        seen = self._frequency.get(term, 0) or UNKNOWN_SEEN
        return math.log(1 + max(total - seen + 0.5, 0.5) / (seen + 0.5))

    def match(self, request: str) -> Match:
        cached = self._matches.get(request)
        if cached is not None:
            return cached
        return self._matches.put(request, self._match(request))

    def _match(self, request: str) -> Match:
        query = self.query(request)
        if not self._documents or not query:
            return Match(None, 0.0, tuple((d.name, 0.0) for d in self._documents))
        weights = {term: self.idf(term) for term in query}
        if query[0] in self._frequency:  # requests are imperative: the first word is the action
            weights[query[0]] *= HEAD_WEIGHT
        scored = sorted(
            ((self._bm25(doc, weights), doc) for doc in self._documents),
            key=lambda pair: -pair[0],
        )
        best_score, best = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0.0
        shared = [term for term in weights if term in best.counts]
        coverage = sum(weights[term] for term in shared) / sum(weights.values())
        margin = 1 - runner_up / best_score if best_score > 0 else 0.0
        evidence = 1.0 if len(shared) > 1 or names_a_value(request) else SINGLE_TERM
        confidence = round(coverage * (0.5 + 0.5 * margin) * evidence, 4)
        top = max(best_score, 1e-9)
        ranked = tuple((doc.name, round(confidence * score / top, 4)) for score, doc in scored)
        profile = best.name if confidence >= self.threshold and best_score > 0 else None
        return Match(profile, confidence, ranked)

    def _bm25(self, doc: _Document, weights: dict[str, float]) -> float:
        norm = K1 * (1 - B + B * doc.length / self._average_length)
        score = 0.0
        for term, weight in weights.items():
            tf = doc.counts.get(term, 0)
            if tf:
                score += weight * tf * (K1 + 1) / (tf + norm)
        return score

    def warm(self, tools: Iterable[tuple[str, str]]) -> None:
        """Nothing to prepare: lexical relevance costs microseconds."""

    def relevance(self, request: str, tool: str, description: str = "") -> float:
        key = (request, tool, description)
        cached = self._relevance.get(key)
        if cached is not None:
            return cached
        return self._relevance.put(key, self._relate(request, tool, description))

    def _relate(self, request: str, tool: str, description: str) -> float:
        """The square root of the share of the tool's own words (less generic verbs) the
        request uses, its description's words counting half, idf-weighted. A word the
        request does not use but the profile it matches does counts at the match's
        confidence: "reconcile the invoices" relates to ``bank.statement.read`` through
        the reconciliation profile."""
        asked = set(self.query(request))
        found_in = self.match(request)
        context = self._profile_terms(found_in.profile)
        named = [t for t in dict.fromkeys(tool_terms(tool)) if t not in _GENERIC_TOOL_WORDS]
        described = [t for t in dict.fromkeys(terms(description)) if t not in named]
        total = found = 0.0
        for term_list, factor in ((named, 1.0), (described, 0.5)):
            for term in term_list:
                weight = factor * self.idf(term)
                total += weight
                if term in asked:
                    found += weight
                elif term in context:
                    found += weight * found_in.confidence
        # The square root is lenient on purpose: a tool sharing one of its two distinctive
        # words with the request (``erp.invoice.read`` for "reconcile the invoices") is related.
        return round(math.sqrt(found / total), 4) if total else 0.0

    def _profile_terms(self, name: str | None) -> Counter[str]:
        for doc in self._documents:
            if doc.name == name:
                return doc.counts
        return Counter()


def _by_initial(profiles: Sequence[ProfileText]) -> dict[str, tuple[str, ...]]:
    """Every word of the profiles (five letters or more), grouped by first letter: typos
    rarely hit the first letter, and the grouping keeps correction cheap."""
    found: set[str] = set()
    for profile in profiles:
        for text in (profile.description, *profile.examples):
            found.update(words(text))
        for tool in (profile.name, *profile.tools):
            found.update(tool_words(tool))
    grouped: dict[str, list[str]] = {}
    for word in sorted(found):
        if len(word) >= 4:
            grouped.setdefault(word[0], []).append(word)
    return {initial: tuple(group) for initial, group in grouped.items()}
