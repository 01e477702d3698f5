"""What an egress request *is*, as Warden judges it: the route it matches and its arguments.

Fail closed on ambiguity, so that what is decided is exactly what is forwarded:

- The path is split into segments on the raw (still percent-encoded) path and each segment is
  decoded once. A segment that decodes to ``.``/``..`` or holds an encoded ``/`` or ``\\`` is
  refused: an upstream that normalises it would reach a route other than the one decided. The
  forwarded path is rebuilt from the decoded segments, and the query from the parsed pairs.
- A route template is ``/literal/{id}/...``: ``{name}`` is one non-empty segment,
  ``{name:path}`` (last only) the rest. Method ``*`` is any. The first route that matches wins;
  a request matching none is never forwarded.
- Arguments are the path parameters, the query (one value → string, repeated → list) and the
  body's fields. The body is inspected when it parses as a JSON object (whatever its
  ``Content-Type`` says: an upstream may parse it anyway) or is form-encoded; a JSON array or
  scalar is the argument ``body``. Other bodies (binary, multipart, text) are forwarded but not
  inspected. A name given in more than one place with different values is refused rather than
  guessed (an upstream might read either), so ``amount`` is always the one the upstream sees,
  at the top level where mandate argument rules and budgets read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from warden.gateway.connections.models import Route
from warden.gateway.egress.errors import InvalidEgressRequest

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Matched:
    """A request matched to a route: the tool it is, and its path parameters."""

    route: Route
    parameters: dict[str, str]


def segments(raw_path: str) -> tuple[str, ...]:
    """The decoded segments of ``raw_path`` (the part after ``/egress/<name>``, still encoded);
    raises :class:`InvalidEgressRequest` for a segment an upstream could read as another path."""
    decoded: list[str] = []
    for raw in raw_path.lstrip("/").split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise InvalidEgressRequest("the path is not valid percent-encoded UTF-8") from None
        if segment in (".", "..") or "/" in segment or "\\" in segment or "\x00" in segment:
            raise InvalidEgressRequest(f"the path segment `{raw}` is not forwarded")
        decoded.append(segment)
    return tuple(decoded)


def upstream_path(parts: Sequence[str]) -> str:
    """The path to forward: the decoded segments, each encoded once."""
    return "/" + "/".join(quote(p, safe=_SEGMENT_SAFE) for p in parts)


def match(routes: Sequence[Route], method: str, parts: Sequence[str]) -> Matched | None:
    """The first route of ``routes`` that ``method`` and the path ``parts`` match."""
    for route in routes:
        if route.method != "*" and route.method.upper() != method.upper():
            continue
        parameters = _match_template(route.template, parts)
        if parameters is not None:
            return Matched(route, parameters)
    return None


def _match_template(template: str, parts: Sequence[str]) -> dict[str, str] | None:
    pieces = template.lstrip("/").split("/")
    parameters: dict[str, str] = {}
    for index, piece in enumerate(pieces):
        param = _PARAM.fullmatch(piece)
        if param is not None and param.group(2):  # {name:path}: the rest, possibly empty
            parameters[param.group(1)] = "/".join(parts[index:])
            return parameters
        if index >= len(parts):
            return None
        if param is not None:
            if not parts[index]:
                return None
            parameters[param.group(1)] = parts[index]
        elif piece != parts[index]:
            return None
    return parameters if len(pieces) == len(parts) else None


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw_query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidEgressRequest("the query is not valid percent-encoded UTF-8") from None


def upstream_query(pairs: Sequence[tuple[str, str]]) -> str:
    """The query to forward, rebuilt from what was decided."""
    return urlencode(pairs, quote_via=quote)


def arguments(
    parameters: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body: bytes,
    content_type: str | None,
) -> dict[str, Any]:
    """The decision's arguments: path parameters, query and inspected body fields, merged."""
    merged: dict[str, Any] = {}
    for source in (dict(parameters), _grouped(query), body_fields(body, content_type)):
        for name, value in source.items():
            if name in merged and merged[name] != value:
                raise InvalidEgressRequest(
                    f"`{name}` is given twice with different values (path, query or body); "
                    "send it once"
                )
            merged[name] = value
    return merged


def _grouped(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    grouped: dict[str, Any] = {}
    for name, value in pairs:
        known = grouped.get(name)
        if known is None:
            grouped[name] = value
        elif isinstance(known, list):
            known.append(value)
        else:
            grouped[name] = [known, value]
    return grouped


def body_fields(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The inspected fields of a request body ({} when it is not inspected)."""
    if not body.strip():
        return {}
    media = (content_type or "").split(";")[0].strip().lower()
    if media == _FORM:
        try:
            return _grouped(query_pairs(body.decode("utf-8", errors="strict")))
        except UnicodeDecodeError:
            raise InvalidEgressRequest("the form body is not UTF-8") from None
    claims_json = media == "application/json" or media.endswith("+json")
    try:
        value = json.loads(body, object_pairs_hook=_unique)
    except InvalidEgressRequest:
        raise
    except ValueError:
        if claims_json:
            raise InvalidEgressRequest("the body is not valid JSON") from None
        return {}  # not JSON, not a form: forwarded, not inspected
    if isinstance(value, dict):
        return value
    return {"body": value}


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a duplicated key (parsers disagree on which one counts)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidEgressRequest(f"the JSON body gives `{key}` twice")
        result[key] = value
    return result
