"""Designated values: the amounts, accounts, addresses, files, dates and people a person
named in their request. Precision over recall: a value is taken only when its form is
unambiguous (an IBAN must pass its ISO 13616 mod-97 check, an amount needs a currency or a
``k``/``m`` suffix, a person needs a full name after a word such as "to" or "for", a date
needs its year unless ``now`` is given).

:func:`normalize` is the comparison form provenance uses on both sides: the value a person
designated and the argument an agent later passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from warden.mandates.models import DesignatedValue, ValueKind

Found = tuple[int, int, DesignatedValue]

_CURRENCY_SYMBOLS = "€$£¥₹₣"
_CURRENCY_CODES = (
    "(?i:EUR|USD|GBP|CHF|JPY|CAD|AUD|SEK|NOK|DKK|PLN|CZK|INR|CNY|SGD|HKD|NZD|ZAR|MXN|BRL)"
)
_NUMBER = r"\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SCALE = r"(?:\s?(?:k|K|m|M|bn)\b)"
_AMOUNT = re.compile(
    rf"(?:(?:[{_CURRENCY_SYMBOLS}]|\b(?:{_CURRENCY_CODES})\b)\s?(?P<a>{_NUMBER}){_SCALE}?)"
    rf"|(?:\b(?P<b>{_NUMBER})(?P<bs>{_SCALE})?\s?(?:[{_CURRENCY_SYMBOLS}]|(?:{_CURRENCY_CODES})\b|euros?\b|dollars?\b|pounds?\b))"
    rf"|(?:(?<![\w.,])(?P<c>\d+(?:\.\d+)?)(?:k|K)\b)"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){2,8}\b")
_ACCOUNT = re.compile(
    r"\b(?:account|acct|a/c)(?:\s+(?:number|no\.?|#))?[:\s#]*(?P<n>\d[\d -]{4,20}\d)\b", re.I
)
_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.I)
_FILE_EXTENSIONS = (
    "pdf|csv|xlsx|xls|docx|doc|txt|json|xml|zip|tar\\.gz|tgz|gz|png|jpe?g|pptx|md|ya?ml|sql"
    "|parquet|eml|msg|ods|odt|tsv|log"
)
_FILE = re.compile(rf"(?<![\w@/.-])(?:[\w-]+/)*[\w.-]*\w\.(?:{_FILE_EXTENSIONS})\b", re.I)
_TLDS = (
    "com|org|net|io|co|ai|dev|app|gov|edu|info|biz|eu|us|uk|de|fr|nl|es|it|ch|at|be|se|no|dk"
    "|fi|pl|pt|ie|jp|cn|in|au|ca|br|mx|cloud|tech|xyz|int|mil|ac|co\\.uk|com\\.au"
)
_DOMAIN = re.compile(
    rf"(?<![\w@/.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?![.\w/-])", re.I
)
_IDENTIFIER = re.compile(r"\b[A-Z]{2,6}-\d{2,10}\b")

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{_MONTH})\.?(?:,?\s+(?P<y>\d{{4}}))?\b",
    re.I,
)
_MONTH_DAY = re.compile(
    rf"\b(?P<m>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?\b", re.I
)
_RELATIVE = re.compile(r"\b(?:today|yesterday|tomorrow|last month|this month)\b", re.I)

_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_PERSON = re.compile(
    rf"\b(?:to|for|pay|paying|onboard|onboarding|hire|hiring|welcome|employee|colleague|"
    rf"manager|cc|from),?\s+(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{1,2}})(?:'s)?\b"
)
_NOT_PERSON = frozenset(
    {
        "inc", "ltd", "llc", "gmbh", "corp", "corporation", "company", "co", "sa", "ag", "plc",
        "group", "bank", "industries", "systems", "solutions", "technologies", "partners",
        "holdings", "labs", "services", "capital", "ventures", "international", "monday",
        "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "finance", "sales",
        "marketing", "hr", "it", "engineering", "operations", "team", "department", "the",
        "accounts", "payable", "receivable", "cleaning", "catering", "logistics", "freight",
        "print", "printing", "paper", "foods", "food", "retail", "health", "consulting",
        "software", "media", "energy", "motors", "pharma", "design", "studio", "studios",
        "supplies", "supply", "trading", "transport", "construction", "electric", "insurance",
        "properties", "hotels", "airlines", "express", "digital", "networks", "data", "cloud",
        "security", "office", "legal", "logistik", "bv", "nv", "srl", "spa", "oy", "ab",
    }
) | frozenset(_MONTHS)  # fmt: skip


def extract_designated(text: str, *, now: datetime | None = None) -> tuple[DesignatedValue, ...]:
    """The values named in ``text``, in order of appearance, each once. Relative dates
    ("yesterday", "last month") are resolved only against ``now``; "last month" becomes
    the month, ISO ``YYYY-MM``."""
    claimed: list[tuple[int, int]] = []
    found: list[Found] = []
    for extractor in _EXTRACTORS:
        for start, end, value in extractor(text, now):
            if not any(start < e and s < end for s, e in claimed):
                claimed.append((start, end))
                found.append((start, end, value))
    seen: set[tuple[ValueKind, str]] = set()
    ordered = []
    for _, _, value in sorted(found, key=lambda item: item[0]):
        if (value.kind, value.normalized) not in seen:
            seen.add((value.kind, value.normalized))
            ordered.append(value)
    return tuple(ordered)


def normalize(kind: ValueKind | str, value: object) -> str:
    """The comparison form of ``value`` as a ``kind``: lower-case emails, domains, URLs
    (without a trailing slash) and file names; IBANs and account numbers without spaces or
    dashes, upper-case; amounts as a plain decimal ("9,000.50" → "9000.5", "9k" → "9000");
    dates ISO ``YYYY-MM-DD``; names lower-case with single spaces. A value that does not
    parse as its kind is returned stripped and lower-cased."""
    text = str(value).strip()
    normalizer = _NORMALIZERS.get(ValueKind(kind))
    result = normalizer(text) if normalizer is not None else None
    return result if result is not None else text.lower()


def _amount(text: str) -> str | None:
    cleaned = re.sub(rf"[{_CURRENCY_SYMBOLS}\s]|\b(?:{_CURRENCY_CODES})\b", "", text, flags=re.I)
    cleaned = re.sub(r"(?i)(euros?|dollars?|pounds?)$", "", cleaned)
    scale = Decimal(1)
    suffix = re.search(r"(?i)(k|m|bn)$", cleaned)
    if suffix:
        scale = Decimal({"k": 1_000, "m": 1_000_000, "bn": 1_000_000_000}[suffix.group(1).lower()])
        cleaned = cleaned[: suffix.start()]
    number = _plain_number(cleaned.replace("'", ""))
    if number is None:
        return None
    try:
        amount = Decimal(number) * scale
    except InvalidOperation:
        return None
    plain = format(amount.normalize(), "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def _plain_number(text: str) -> str | None:
    """``9,000.50`` / ``9.000,50`` / ``9000,5`` → ``9000.50`` / ``9000.50`` / ``9000.5``."""
    if not re.fullmatch(r"[\d.,]+", text or "x"):
        return None
    last = max(text.rfind(","), text.rfind("."))
    if last == -1:
        return text
    decimals = text[last + 1 :]
    if len(decimals) == 3 and len(text) > 4:
        return re.sub(r"[.,]", "", text)  # 9,000 or 1.250.000: thousands separators only
    return re.sub(r"[.,]", "", text[:last]) + "." + decimals


def _date(text: str) -> str | None:
    for pattern in (_ISO_DATE, _DAY_MONTH, _MONTH_DAY):
        match = pattern.fullmatch(text.strip())
        if match and match.group("y"):
            return _iso(match.group("y"), match.group("m"), match.group("d"))
    return None


def _iso(year: str | int, month: str | int, day: str | int) -> str | None:
    number = _MONTHS.get(str(month).lower().rstrip(".")) or int(month)
    try:
        return date(int(year), number, int(day)).isoformat()
    except ValueError:
        return None


_NORMALIZERS: dict[ValueKind, Callable[[str], str | None]] = {
    ValueKind.AMOUNT: _amount,
    ValueKind.IBAN: lambda v: re.sub(r"\s", "", v).upper(),
    ValueKind.ACCOUNT: lambda v: re.sub(r"[\s-]", "", v).upper(),
    ValueKind.EMAIL: lambda v: v.lower().removeprefix("mailto:"),
    ValueKind.URL: lambda v: v.lower().rstrip("/"),
    ValueKind.DOMAIN: lambda v: v.lower().rstrip("."),
    ValueKind.FILE: lambda v: v.lower(),
    ValueKind.DATE: _date,
    ValueKind.PERSON: lambda v: " ".join(v.lower().split()),
    ValueKind.IDENTIFIER: lambda v: v.upper(),
}


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers (A=10),
    and the number modulo 97 must be 1."""
    iban = re.sub(r"\s", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    digits = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _value(kind: ValueKind, text: str, normalized: str | None = None) -> DesignatedValue:
    return DesignatedValue(kind, text, normalized or normalize(kind, text))


def _urls(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?)]}")
        yield match.start(), match.start() + len(url), _value(ValueKind.URL, url)


def _emails(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _EMAIL.finditer(text):
        yield match.start(), match.end(), _value(ValueKind.EMAIL, match.group())


def _ibans(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _IBAN.finditer(text):
        candidate = match.group()
        while candidate and not iban_valid(candidate):  # a following group may not belong
            head, _, _ = candidate.rpartition(" ")
            candidate = head if len(re.sub(r"\s", "", head)) >= 15 else ""
        if candidate:
            yield match.start(), match.start() + len(candidate), _value(ValueKind.IBAN, candidate)


def _accounts(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _ACCOUNT.finditer(text):
        yield match.start("n"), match.end("n"), _value(ValueKind.ACCOUNT, match.group("n"))


def _files(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _FILE.finditer(text):
        yield match.start(), match.end(), _value(ValueKind.FILE, match.group())


def _domains(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _DOMAIN.finditer(text):
        yield match.start(), match.end(), _value(ValueKind.DOMAIN, match.group())


def _dates(text: str, now: datetime | None) -> Iterator[Found]:
    for pattern in (_ISO_DATE, _DAY_MONTH, _MONTH_DAY):
        for match in pattern.finditer(text):
            year = match.group("y") or (now.year if now is not None else None)
            iso = _iso(year, match.group("m"), match.group("d")) if year else None
            if iso is not None:
                yield match.start(), match.end(), _value(ValueKind.DATE, match.group(), iso)
    if now is not None:
        for match in _RELATIVE.finditer(text):
            yield (
                match.start(),
                match.end(),
                _value(ValueKind.DATE, match.group(), _relative(match.group().lower(), now.date())),
            )


def _relative(phrase: str, today: date) -> str:
    if phrase == "last month":
        first = today.replace(day=1) - timedelta(days=1)
        return f"{first.year:04d}-{first.month:02d}"
    if phrase == "this month":
        return f"{today.year:04d}-{today.month:02d}"
    offset = {"today": 0, "yesterday": -1, "tomorrow": 1}[phrase]
    return (today + timedelta(days=offset)).isoformat()


def _amounts(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _AMOUNT.finditer(text):
        normalized = _amount(match.group())
        if normalized is not None:
            yield match.start(), match.end(), _value(ValueKind.AMOUNT, match.group(), normalized)


def _identifiers(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _IDENTIFIER.finditer(text):
        yield match.start(), match.end(), _value(ValueKind.IDENTIFIER, match.group())


def _people(text: str, now: datetime | None) -> Iterator[Found]:
    for match in _PERSON.finditer(text):
        name = match.group("name")
        if not any(word.lower() in _NOT_PERSON for word in name.split()):
            yield match.start("name"), match.end("name"), _value(ValueKind.PERSON, name)


# Most specific first: a span taken by one is not read again by the next.
_EXTRACTORS: tuple[Callable[[str, datetime | None], Iterator[Found]], ...] = (
    _urls,
    _emails,
    _ibans,
    _accounts,
    _files,
    _domains,
    _dates,
    _identifiers,
    _amounts,
    _people,
)
