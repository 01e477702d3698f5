"""Reading a request body with a size limit, for every route that parses one by hand (the
AuthZEN API, the gateway API, egress): refused by its declared ``Content-Length`` before a byte
is read, or as soon as a body sent without one (chunked) goes past the limit."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is over ``limit`` bytes; each API answers it with its own error."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes; raises :class:`BodyTooLarge` past it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)
