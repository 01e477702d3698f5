"""SPIFFE ID syntax (SPIFFE-ID specification, spiffe/spiffe standards/SPIFFE-ID.md §2).

``spiffe://<trust-domain>/<path>``: the trust domain is lowercase ``[a-z0-9.-_]`` with no
port or userinfo; path segments are ``[a-zA-Z0-9.-_]``, never empty, ``.`` or ``..``; no
trailing slash, percent-encoding, query or fragment; at most 2048 bytes.
"""

from __future__ import annotations

import re

MAX_LENGTH = 2048
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[a-zA-Z0-9._-]+")


def spiffe_id_problem(value: str) -> str | None:
    """Why ``value`` is not a SPIFFE ID with a non-empty path, or ``None`` when it is one."""
    if len(value.encode()) > MAX_LENGTH:
        return f"a spiffe id is at most {MAX_LENGTH} bytes"
    if not value.startswith("spiffe://"):
        return "a spiffe id starts with `spiffe://`"
    domain, _, path = value[len("spiffe://") :].partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain):
        return f"trust domain `{domain}` must be lowercase letters, digits, `.`, `-` or `_`"
    if not path:
        return "an agent's spiffe id needs a path, e.g. `spiffe://acme.example/agent/ap-clerk`"
    for segment in path.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            return f"path segment `{segment}` is not allowed in a spiffe id"
    return None
