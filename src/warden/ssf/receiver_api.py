"""HTTP route of the Shared Signals receiver: the RFC 8935 push endpoint.

``POST /ssf/receiver`` with a ``application/secevent+jwt`` body (one SET): ``202`` once
accepted; ``400 {"err", "description"}`` (RFC 8935 §2.3) when refused for good; ``503`` when it
could not be processed now (the IdP's JWKS unreachable, acting on it failed), so the IdP sends
it again.

The pushing IdP is authenticated by the SET's signature against its trusted JWKS, not by an
admin token; an issuer configured with ``push_token`` must also send
``Authorization: Bearer <push_token>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from warden.ssf.receiver import (
    MAX_SET_BYTES,
    ReceiverUnavailable,
    SetRejected,
    SsfReceiver,
    SsfReceiverError,
)

SET_MEDIA_TYPE = "application/secevent+jwt"


def receiver_error_response(exc: SsfReceiverError) -> JSONResponse:
    """RFC 8935 §2.3: 400 with ``{"err", "description"}``; 503 for a transient failure."""
    if isinstance(exc, SetRejected):
        return JSONResponse(exc.to_dict(), status_code=400)
    status = 503 if isinstance(exc, ReceiverUnavailable) else 500
    return JSONResponse({"err": exc.code, "description": exc.message}, status_code=status)


def receiver_router(receiver: SsfReceiver) -> APIRouter:
    router = APIRouter(tags=["ssf"])

    @router.post(
        "/ssf/receiver",
        summary="Receive a Security Event Token pushed by a trusted IdP (RFC 8935)",
        status_code=202,
        response_class=Response,
    )
    async def push(request: Request) -> Response:
        try:
            token = await _set_body(request)
            await receiver.receive(token, authorization=request.headers.get("authorization"))
        except SsfReceiverError as exc:
            return receiver_error_response(exc)
        return Response(status_code=202)

    return router


async def _set_body(request: Request) -> str:
    """The body, if it is a SET by media type and size (RFC 8935 §2.1)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != SET_MEDIA_TYPE:
        raise SetRejected("invalid_request", f"the body must be `{SET_MEDIA_TYPE}`")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SET_BYTES:
            raise SetRejected("invalid_request", "the set is too large")
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise SetRejected("invalid_request", "the body is not a compact signed jwt") from None
