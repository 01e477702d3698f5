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
from collections.abc import Sequence
from dataclasses import dataclass

from warden.mandates.intent._text import terms, tool_terms
from warden.mandates.intent.matcher import BoundedCache, ProfileText
from warden.mandates.models import Match

THRESHOLD = 0.3
"""Below this confidence the mandate is unmatched."""

HEAD_WEIGHT = 2.0
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
        self._matches = BoundedCache(4096)
        self._relevance = BoundedCache()

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency. A term no profile uses weighs as much as one
        a single profile uses: it may be what the request is about, or a filler word."""
        total = len(self._documents)
        seen = max(self._frequency.get(term, 0), 1)
        return math.log(1 + (total - seen + 0.5) / (seen + 0.5))

    def match(self, request: str) -> Match:
        cached = self._matches.get(request)
        if cached is not None:
            return cached
        return self._matches.put(request, self._match(request))

    def _match(self, request: str) -> Match:
        query = dict.fromkeys(terms(request))
        if not self._documents or not query:
            return Match(None, 0.0, tuple((d.name, 0.0) for d in self._documents))
        weights = {term: self.idf(term) for term in query}
        head = next(iter(query))  # requests are imperative: the first word is the action
        weights[head] *= HEAD_WEIGHT
        scored = sorted(
            ((self._bm25(doc, weights), doc) for doc in self._documents),
            key=lambda pair: -pair[0],
        )
        best_score, best = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0.0
        covered = sum(w for term, w in weights.items() if term in best.counts)
        coverage = covered / sum(weights.values())
        margin = 1 - runner_up / best_score if best_score > 0 else 0.0
        confidence = round(coverage * (0.5 + 0.5 * margin), 4)
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
        asked = set(terms(request))
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
