"""HTTP routes of the Shared Signals transmitter.

- ``GET /.well-known/ssf-configuration`` — transmitter metadata (SSF 1.0 §7), public.
- ``/ssf/streams`` — stream configuration (§8.1.1): POST creates (201), GET reads one
  (``?stream_id=``) or lists all, PATCH updates, PUT replaces, DELETE (``?stream_id=``) 204.
- ``/ssf/status`` — GET (``?stream_id=``) and POST ``{stream_id, status, reason}`` (§8.1.2).
- ``POST /ssf/verify`` — ``{stream_id, state}`` → 204, a verification SET is queued (§8.1.4).
- ``POST /ssf/poll/{stream_id}`` — RFC 8936 poll: ``{ack, setErrs, maxEvents,
  returnImmediately}`` → ``{sets, moreAvailable}``.

Receivers authenticate like any admin client (``authorization_schemes``: OAuth, RFC 6749):
the admin token or an access token with scope ``warden:admin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response, status
from fastapi.responses import JSONResponse

from warden.server.auth import AdminAuth
from warden.ssf.delivery import PollRequest
from warden.ssf.errors import (
    InvalidEvent,
    InvalidStreamConfig,
    SsfError,
    StreamDisabled,
    StreamNotFound,
)
from warden.ssf.transmitter import SsfTransmitter

STATUS: dict[type[SsfError], int] = {
    InvalidEvent: 400,
    InvalidStreamConfig: 400,
    StreamNotFound: 404,
    StreamDisabled: 409,
}
NO_STORE = {"Cache-Control": "no-store"}


def ssf_error_response(exc: SsfError) -> JSONResponse:
    """An SSF error as JSON with its HTTP status (400, 404 or 409)."""
    code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code, headers=NO_STORE)


def ssf_router(transmitter: SsfTransmitter, admin: AdminAuth) -> APIRouter:
    router = APIRouter(tags=["shared signals"])
    streams = transmitter.streams
    actor_of = admin.actor()

    def config(stream: Any) -> JSONResponse:
        return JSONResponse(stream.configuration(transmitter.issuer), headers=NO_STORE)

    @router.get("/.well-known/ssf-configuration", summary="Transmitter configuration (SSF §7)")
    async def configuration() -> dict[str, Any]:
        return transmitter.configuration()

    @router.post("/ssf/streams", status_code=201, summary="Create a stream")
    async def create(
        body: dict[str, Any] = Body(default_factory=dict), actor: str = Depends(actor_of)
    ) -> JSONResponse:
        stream = await streams.create(body, actor=actor)
        response = config(stream)
        response.status_code = status.HTTP_201_CREATED
        return response

    @router.get("/ssf/streams", summary="Read one stream, or list them")
    async def read(
        stream_id: str | None = Query(None, max_length=64), _: str = Depends(actor_of)
    ) -> JSONResponse:
        if stream_id is not None:
            return config(await streams.get(stream_id))
        listed = [s.configuration(transmitter.issuer) for s in await streams.all()]
        return JSONResponse(listed, headers=NO_STORE)

    @router.patch("/ssf/streams", summary="Update a stream's configuration")
    async def update(body: dict[str, Any] = Body(...), actor: str = Depends(actor_of)) -> Any:
        return config(await streams.update(body, actor=actor))

    @router.put("/ssf/streams", summary="Replace a stream's configuration")
    async def replace(body: dict[str, Any] = Body(...), actor: str = Depends(actor_of)) -> Any:
        return config(await streams.replace(body, actor=actor))

    @router.delete("/ssf/streams", status_code=204, summary="Delete a stream")
    async def delete(
        stream_id: str = Query(..., max_length=64), actor: str = Depends(actor_of)
    ) -> Response:
        await streams.delete(stream_id, actor=actor)
        return Response(status_code=204, headers=NO_STORE)

    @router.get("/ssf/status", summary="Read a stream's status")
    async def read_status(
        stream_id: str = Query(..., max_length=64), _: str = Depends(actor_of)
    ) -> JSONResponse:
        return JSONResponse((await streams.get(stream_id)).status_dict(), headers=NO_STORE)

    @router.post("/ssf/status", summary="Enable, pause or disable a stream")
    async def update_status(
        body: dict[str, Any] = Body(...), actor: str = Depends(actor_of)
    ) -> JSONResponse:
        stream = await streams.set_status(
            _required(body, "stream_id"), body.get("status"), body.get("reason"), actor=actor
        )
        return JSONResponse(stream.status_dict(), headers=NO_STORE)

    @router.post("/ssf/verify", status_code=204, summary="Ask for a verification event")
    async def verify(body: dict[str, Any] = Body(...), _: str = Depends(actor_of)) -> Response:
        await streams.verify(_required(body, "stream_id"), body.get("state"))
        return Response(status_code=204, headers=NO_STORE)

    @router.post("/ssf/poll/{stream_id}", summary="Poll for SETs (RFC 8936)")
    async def poll(
        stream_id: str,
        body: dict[str, Any] = Body(default_factory=dict),
        _: str = Depends(actor_of),
    ) -> JSONResponse:
        result = await transmitter.poll(stream_id, _poll_request(body))
        return JSONResponse(result, headers=NO_STORE)

    return router


def _required(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidStreamConfig(f"`{name}` is required", field=name)
    return value


def _poll_request(body: Mapping[str, Any]) -> PollRequest:
    """RFC 8936 §2.4.1 members, checked."""
    ack = body.get("ack", [])
    if not isinstance(ack, list) or not all(isinstance(j, str) for j in ack):
        raise InvalidStreamConfig("`ack` must be an array of jti strings", field="ack")
    errs = body.get("setErrs", {})
    if not isinstance(errs, dict) or not all(isinstance(e, dict) for e in errs.values()):
        raise InvalidStreamConfig("`setErrs` maps a jti to {err, description}", field="setErrs")
    max_events = body.get("maxEvents")
    if max_events is not None and (
        not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 0
    ):
        raise InvalidStreamConfig("`maxEvents` must be a non-negative integer", field="maxEvents")
    immediately = body.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise InvalidStreamConfig(
            "`returnImmediately` must be a boolean", field="returnImmediately"
        )
    return PollRequest(tuple(ack), errs, max_events, immediately)
