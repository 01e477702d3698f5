"""Where in a file an error is: line and column for Cedar errors that carry no position.

cedarpy's parse errors say what is wrong (``unexpected token `}```) but not where. A file is
split into policy statements (string literals and ``//`` comments respected); for a statement
that fails to parse, the offending token is found by bisecting over prefixes that end on token
boundaries: a prefix cut short fails with "unexpected end of input", a prefix that reaches the
bad token fails with another message. Errors found after parsing (unknown names, schema
validation) are placed where the name they quote appears.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>//[^\n]*)
    | (?P<string>"(?:[^"\\]|\\.)*"?)
    | (?P<word>[0-9]+|[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>::|==|!=|<=|>=|&&|\|\|)
    | (?P<char>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_EOF = "unexpected end of input"
_DOTTED = re.compile(r"\w+(?:\.\w+)*")
_SYNTAX = re.compile(r"^(error parsing schema: )?(unexpected|invalid) token")
_QUOTED = re.compile(r"`([^`]+)`")
_COMMENT_OR_STRING = re.compile(r'(//[^\n]*)|"(?:[^"\\]|\\.)*"?')


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One policy statement: ``text[start:end]`` of its file, ``end`` just past its ``;``."""

    start: int
    end: int
    tokens: tuple[Token, ...]


def tokens(text: str) -> list[Token]:
    """The tokens of Cedar text, without whitespace and comments."""
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "char"
        if kind not in ("space", "comment"):
            found.append(Token(match.start(), match.end(), kind, match.group()))
    return found


def statements(text: str) -> list[Statement]:
    """The policy statements of a file, split at each ``;`` outside strings and comments."""
    found: list[Statement] = []
    current: list[Token] = []
    for token in tokens(text):
        current.append(token)
        if token.text == ";":
            found.append(Statement(current[0].start, token.end, tuple(current)))
            current = []
    if current:
        found.append(Statement(current[0].start, current[-1].end, tuple(current)))
    return found


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def parse_error_offset(
    text: str, span: tuple[Token, ...], message: str, reached: Callable[[str], bool]
) -> int:
    """Offset in ``text`` of the token that ``message`` complains about.

    ``span`` are the tokens of the failing text; ``reached(prefix)`` says whether parsing
    ``prefix`` (cut after a token) fails within it rather than for being short. An error
    found after parsing (an unknown name) is placed where the name it quotes appears.
    """
    if not span:
        return 0
    if message.endswith(_EOF):
        return span[-1].end
    if not _SYNTAX.match(message):
        offset = named_offset(text, span[0].start, span[-1].end, message)
        return span[0].start if offset is None else offset
    low, high = -1, len(span) - 1  # span[high] is reached, span[low] is not
    while high - low > 1:
        middle = (low + high) // 2
        if reached(text[span[0].start : span[middle].end]):
            high = middle
        else:
            low = middle
    # Cedar may report a later token than the first it rejected: point at the one it names.
    names = named_tokens(message)
    later = (t for t in span[high:] if t.text in names)
    return next(later, span[high]).start


def named_offset(text: str, start: int, end: int, message: str) -> int | None:
    """Where, between ``start`` and ``end``, the first name ``message`` quotes appears."""
    code = _blank(text[start:end], strings=False)
    words = _blank(text[start:end], strings=True)
    for name in named(message):
        pattern, region = re.escape(name), code
        dotted = _DOTTED.fullmatch(name)
        if dotted:  # a name, not inside a string; point at its last part
            pattern, region = rf"(?<!\w){pattern}(?!\w)", words
        match = re.search(pattern, region)
        if match:
            return start + match.start() + (name.rfind(".") + 1 if dotted else 0)
    return None


def named(message: str) -> list[str]:
    """The names a Cedar message quotes: `backticked` ones, else those after the last ``: ``."""
    quoted = _QUOTED.findall(message)
    if quoted:
        return quoted
    if ": " in message:
        return [n.strip() for n in message.rsplit(": ", 1)[1].split(",") if n.strip()]
    return []


def named_tokens(message: str) -> list[str]:
    """The token a syntax error names (``unexpected token `}```), if any."""
    return _QUOTED.findall(message)[:1]


def _blank(text: str, *, strings: bool) -> str:
    """``text`` with comments (and ``strings`` if asked) blanked out; offsets stay the same."""

    def blank(match: re.Match[str]) -> str:
        keep = match.group(1) is None and not strings
        return match.group() if keep else " " * len(match.group())

    return _COMMENT_OR_STRING.sub(blank, text)
