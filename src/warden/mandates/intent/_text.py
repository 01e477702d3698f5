"""Words for the lexical matcher: tokenisation, stop-words, light stemming and a few
business synonyms. Pure Python; shared by matching and relevance so both see the same terms."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+[A-Za-z]+")
_SPLIT_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")

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
        "june", "july", "august", "september", "october", "november", "december",
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


@lru_cache(maxsize=8192)
def terms(text: str) -> tuple[str, ...]:
    """The stemmed, stop-word-free terms of prose, in order. Capitalised words inside a
    sentence are proper names (Acme, Maria, Paris): they name values, not intents, and are
    left out; acronyms (CRM, AP) stay."""
    found = []
    for word in _WORD.finditer(text.replace("'s", " ")):
        token = word.group()
        if token[0].isupper() and token[1:].islower() and not _sentence_start(text, word.start()):
            continue
        found.append(token.lower())
    return _keep(found)


@lru_cache(maxsize=8192)
def tool_terms(name: str) -> tuple[str, ...]:
    """The terms of a tool name, split on dots, underscores, dashes and camelCase:
    ``erp.invoice.read`` → ``erp invoic read``."""
    return _keep(_WORD.findall(_SPLIT_CAMEL.sub(" ", name).lower()))


def _sentence_start(text: str, position: int) -> bool:
    return position == 0 or bool(_SENTENCE_END.search(text[:position]))


def _keep(words: list[str]) -> tuple[str, ...]:
    return tuple(stem(word) for word in words if word not in STOP_WORDS and len(word) > 1)
