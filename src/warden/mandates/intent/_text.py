"""Words for the lexical matcher: tokenisation, stop-words, light stemming and a few
business synonyms. Pure Python; shared by matching and relevance so both see the same terms."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+[A-Za-z]+")
_SPLIT_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")
_VALUES = re.compile(r"\S+@\S+|https?://\S+|\S*\d\S*")

STOP_WORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
        "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
        "but", "by", "can", "could", "did", "do", "does", "doing", "done", "down", "during", "each",
        "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here",
        "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it",
        "its", "itself", "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not",
        "now", "of", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over",
        "own", "please", "same", "she", "should", "so", "some", "such", "than", "thank", "thanks",
        "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "to", "too", "under", "until", "up", "us", "very", "via",
        "want", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
        "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "need",
        "needs", "get", "got", "make", "sure", "kindly", "hi", "hello", "hey", "go", "going", "s",
        "t", "d", "ll", "re", "ve", "m", "o", "y", "like", "today", "yesterday", "tomorrow",
        "tonight", "next", "last", "every", "much", "many", "ready", "small", "big", "everything",
        "something", "anything", "one", "two", "three", "monday", "tuesday", "wednesday",
        "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may",
        "june", "july", "august", "september", "october", "november", "december", "pls", "plz",
        "thx", "per", "vs", "etc", "stuff", "thing", "things", "eur", "usd", "gbp", "chf",
    }
)  # fmt: skip

# Suffixes stripped longest first, keeping a stem of at least three letters. Deliberately
# lighter than Porter: "payments"/"paying"/"paid" must meet, "invoice"/"invoicing" too, but
# stems stay readable in explanations.
_SUFFIXES = (
    "ational", "ization", "ations", "ation", "ments", "ment", "ings", "ing", "ies",
    "ied", "ers", "er", "ed", "es", "ly", "s", "e",
)  # fmt: skip

# A few irregular forms and close business synonyms, folded onto one term before stemming.
_FOLD = {
    "paid": "pay",
    "payment": "pay",
    "payments": "pay",
    "remit": "pay",
    "remittance": "pay",
    "wire": "transfer",
    "hire": "onboard",
    "hired": "onboard",
    "hires": "onboard",
    "hiring": "onboard",
    "starter": "onboard",
    "starters": "onboard",
    "joiner": "onboard",
    "joiners": "onboard",
    "newcomer": "onboard",
    "bill": "invoice",
    "bills": "invoice",
    "outage": "incident",
    "outages": "incident",
    "sev1": "incident",
    "sev2": "incident",
    "pager": "alert",
    "page": "alert",
    "paged": "alert",
    "alarm": "alert",
    "supplier": "vendor",
    "suppliers": "vendor",
    "customer": "account",
    "customers": "account",
    "client": "account",
    "clients": "account",
    "deal": "opportunity",
    "deals": "opportunity",
    "leave": "absence",
    "vacation": "absence",
    "holiday": "absence",
    "holidays": "absence",
    "pto": "absence",
    "quotation": "quote",
    "estimate": "quote",
    "ledger": "ledger",
    "reconciliation": "reconcile",
    "recon": "reconcile",
    "statements": "statement",
    "db": "database",
    "databases": "database",
    "colleague": "employee",
    "colleagues": "employee",
    "staff": "employee",
    "laptop": "equipment",
    "permission": "access",
    "permissions": "access",
    "right": "access",
    "rights": "access",
    "fix": "update",
    "change": "update",
    "correct": "update",
    "edit": "update",
    "amend": "update",
    "modify": "update",
    "join": "onboard",
    "joining": "onboard",
    "joins": "onboard",
    "reimburse": "expense",
    "reimbursement": "expense",
    "failing": "error",
    "failure": "error",
    "failures": "error",
    "broken": "error",
}


def stem(word: str) -> str:
    """The light stem of one lower-case word."""
    word = _FOLD.get(word, word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            if suffix in ("ies", "ied"):
                return word[:-3] + "y"
            return word[: -len(suffix)]
    return word


def names_a_value(text: str) -> bool:
    """Whether ``text`` holds an e-mail address, a URL or something with a digit in it."""
    return _VALUES.search(text) is not None


def without_values(text: str) -> str:
    """``text`` without e-mail addresses, URLs and anything holding a digit (amounts, IBANs,
    dates, ticket ids): they say which thing, not what to do with it."""
    return " ".join(_VALUES.sub(" ", text).split())


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[str, ...]:
    """The lower-case, stop-word-free words of prose, in order, before stemming.

    Values are not intents and are left out: e-mail addresses, URLs, anything holding a digit
    (amounts, IBANs, dates, ``REQ-2291``), and capitalised words inside a sentence, which are
    proper names (Acme, Maria, Paris). Acronyms (CRM, AP) stay."""
    cleaned = _VALUES.sub(lambda value: " " * len(value.group()), text).replace("'s", "  ")
    found = []
    for word in _WORD.finditer(cleaned):
        token = word.group()
        if token[0].isupper() and token[1:].islower() and not _sentence_start(text, word.start()):
            continue
        found.append(token.lower())
    return tuple(word for word in found if word not in STOP_WORDS and len(word) > 1)


def terms(text: str) -> tuple[str, ...]:
    """The stemmed terms of prose (see :func:`words`)."""
    return tuple(stem(word) for word in words(text))


@lru_cache(maxsize=8192)
def tool_words(name: str) -> tuple[str, ...]:
    """The words of a tool name, split on dots, underscores, dashes and camelCase."""
    found = _WORD.findall(_SPLIT_CAMEL.sub(" ", name).lower())
    return tuple(word for word in found if word not in STOP_WORDS and len(word) > 1)


@lru_cache(maxsize=8192)
def tool_terms(name: str) -> tuple[str, ...]:
    """The stemmed terms of a tool name: ``erp.invoice.read`` → ``erp invoic read``."""
    return tuple(stem(word) for word in tool_words(name))


def _sentence_start(text: str, position: int) -> bool:
    return position == 0 or bool(_SENTENCE_END.search(text[:position]))


def typo_distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment), stopping early once
    every path exceeds ``limit`` (then ``limit + 1`` is returned)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            cost = 0 if char == other else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
