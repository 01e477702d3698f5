"""Forwarding a decided request to its upstream, and relaying the answer.

One ``httpx.AsyncClient`` per process (pooled connections to each upstream), opened and closed
with the server (``app.state.on_start``). What crosses Warden, each way:

- Out: the agent's headers minus hop-by-hop ones (RFC 9110 §7.6.1, and any the ``Connection``
  header names), its credentials and Warden's own headers (``Authorization``, ``Cookie``,
  ``DPoP``, ``Txn-Token``, ``Warden-Chain``...), plus the connection's credential, which only
  Warden holds. ``Accept-Encoding: identity`` so that what Warden observes is what the agent
  reads.
- Back: the status and end-to-end headers (no hop-by-hop, no ``Set-Cookie``, never a header
  named like the injected credential), the body streamed as it arrives and cut at
  ``max_response_bytes`` (a declared ``Content-Length`` over it is refused before anything is
  sent; a longer stream is broken off, so the agent sees an incomplete answer, not a short one).
- The first :data:`TEE_BYTES` of the body are kept for the observation made once the stream ends.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from warden.decisions.api import CHAIN_HEADER, MANDATE_HEADER
from warden.gateway.connections.models import Limits
from warden.gateway.egress.errors import (
    ResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
)

TEE_BYTES = 256 << 10
"""Bytes of each response kept for the observation (the rest is relayed, not observed)."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""RFC 9110 §7.6.1 (and the legacy ``Proxy-Connection``)."""

AGENT_ONLY = frozenset(
    {
        "authorization",
        "cookie",
        "dpop",
        MANDATE_HEADER,
        CHAIN_HEADER,
        "host",
        "content-length",  # recomputed from the body forwarded
        "accept-encoding",  # replaced: identity
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    }
)
"""Request headers that are the agent's (or Warden's) and stop here."""

NOT_RELAYED = frozenset({"set-cookie", "set-cookie2", "date", "server"})
"""Upstream cookies are for the upstream's session, which is Warden's, not the agent's; the
``Date`` and ``Server`` of the answer are Warden's own (its HTTP server sets them), not a second
pair."""


def request_headers(
    received: Sequence[tuple[str, str]], credential: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The headers to send upstream: ``received`` filtered, then ``credential`` injected."""
    dropped = HOP_BY_HOP | AGENT_ONLY | _named_by_connection(received)
    dropped |= {name.lower() for name in credential}
    headers = [(k, v) for k, v in received if k.lower() not in dropped]
    headers.append(("accept-encoding", "identity"))
    headers.extend(credential.items())
    return headers


def response_headers(
    received: httpx.Headers, credential: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The upstream's end-to-end headers, minus cookies and anything named like the
    credential (an upstream echoing it back must not hand it to the agent)."""
    items = received.multi_items()
    dropped = HOP_BY_HOP | NOT_RELAYED | _named_by_connection(items)
    dropped |= {name.lower() for name in credential}
    return [(k, v) for k, v in items if k.lower() not in dropped]


def _named_by_connection(headers: Sequence[tuple[str, str]]) -> set[str]:
    """Headers a ``Connection`` header makes hop-by-hop (RFC 9110 §7.6.1)."""
    named: set[str] = set()
    for key, value in headers:
        if key.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return named


@dataclass
class Tee:
    """The start of a response body, for the observation."""

    limit: int = TEE_BYTES
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    complete: bool = False  # the whole body was kept (and the stream ended normally)

    def keep(self, chunk: bytes) -> None:
        room = self.limit - self.size
        if room > 0:
            self.chunks.append(chunk[:room])
        self.size += len(chunk)

    def body(self, content_encoding: str | None) -> bytes:
        data = b"".join(self.chunks)
        encoding = (content_encoding or "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):  # an upstream that ignored identity
            window = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
            try:
                return zlib.decompressobj(window).decompress(data, self.limit)
            except zlib.error:
                return b""
        return data if encoding == "identity" else b""


class Upstreams:
    """The shared client, and the one exchange with an upstream."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Open the pool for the server's lifetime (an ``app.state.on_start`` entry)."""
        self._client = _new_client()
        try:
            yield
        finally:
            client, self._client = self._client, None
            await client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # served without the lifespan (an in-process ASGI client)
            self._client = _new_client()
        return self._client

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        limits: Limits,
    ) -> httpx.Response:
        """Send the request; the response's body is still to be read (streamed)."""
        request = self.client.build_request(
            method, url, headers=list(headers), content=body, timeout=limits.timeout
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            message = f"the upstream did not answer within {limits.timeout:g} s"
            raise UpstreamTimeout(message) from None
        except httpx.HTTPError as error:
            message = f"the upstream could not be reached ({_kind(error)})"
            raise UpstreamUnreachable(message) from None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_response_bytes:
            await response.aclose()
            raise ResponseTooLarge(
                f"the upstream's answer ({declared} bytes) is over the connection's limit of "
                f"{limits.max_response_bytes} bytes"
            )
        return response


async def relay(
    response: httpx.Response, limits: Limits, tee: Tee, done: Callable[[Tee], None]
) -> AsyncIterator[bytes]:
    """The response body as it arrives, kept in ``tee``; ``done`` is called when it ends
    (completely or not). Raises (breaking the connection off) past ``max_response_bytes``
    or on an upstream error mid-stream."""
    sent = 0
    try:
        async for chunk in response.aiter_raw():
            sent += len(chunk)
            if sent > limits.max_response_bytes:
                raise ResponseTooLarge(
                    f"the upstream's answer went over the connection's limit of "
                    f"{limits.max_response_bytes} bytes; it was cut"
                )
            tee.keep(chunk)
            yield chunk
        tee.complete = tee.size <= tee.limit
    except httpx.TimeoutException:
        raise UpstreamTimeout("the upstream stopped sending within the timeout") from None
    except httpx.HTTPError as error:
        raise UpstreamUnreachable(f"the upstream broke off ({_kind(error)})") from None
    finally:
        await response.aclose()
        done(tee)


def _kind(error: httpx.HTTPError) -> str:
    """What went wrong, without the URL (it may carry a secret in its query)."""
    return type(error).__name__


def _new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,  # a redirect goes back to the agent, to be decided again
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
