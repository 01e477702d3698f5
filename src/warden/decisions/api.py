"""HTTP routes of the OpenID AuthZEN Authorization API 1.0 (openid/authzen@e287920).

Only this module maps decision errors to status codes (§10.1.2):

- 200: a decision, allow or deny alike (a deny is ``{"decision": false}``, never an error);
- 400 ``invalid_request``: malformed JSON, a body that is not an object, a missing or mistyped
  field (the body names it in ``field``);
- 413 ``request_too_large``, 415 ``unsupported_media_type``: transport faults of the client;
- 500 ``internal_error``: only for Warden's own faults, and still ``"decision": false``.

Bodies are read and written with orjson rather than pydantic models: the hot path parses once
and validates by hand (:mod:`warden.decisions.authzen`). The OpenAPI document still describes
them, through ``openapi_extra``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from warden.decisions.authzen import Decide, evaluate, evaluations_response
from warden.decisions.errors import (
    DecisionError,
    InvalidRequest,
    RequestTooLarge,
    UnsupportedMediaType,
)
from warden.server.bodies import BodyTooLarge, read_limited

__all__ = [
    "ACCESS_EVALUATIONS_PATH",
    "ACCESS_EVALUATION_PATH",
    "CHAIN_HEADER",
    "CONFIGURATION_PATH",
    "MANDATE_HEADER",
    "MAX_BODY_BYTES",
    "authzen_router",
    "header_context",
]

logger = logging.getLogger(__name__)

CONFIGURATION_PATH = "/.well-known/authzen-configuration"
ACCESS_EVALUATION_PATH = "/access/v1/evaluation"
ACCESS_EVALUATIONS_PATH = "/access/v1/evaluations"
MAX_BODY_BYTES = 1 << 20
"""Largest request body accepted (§11.7 asks for protection against payload size)."""

_REQUEST_ID = "X-Request-ID"
_STATUS: dict[type[DecisionError], int] = {
    InvalidRequest: 400,
    RequestTooLarge: 413,
    UnsupportedMediaType: 415,
}

Handler = Callable[[Any], Awaitable[dict[str, Any]]]


def authzen_router(
    decide: Decide,
    *,
    pdp_url: Callable[[Request], str],
    max_body_bytes: int = MAX_BODY_BYTES,
) -> APIRouter:
    """The AuthZEN routes, answering with ``decide``.

    ``pdp_url`` gives the PDP identifier (its base URL) as the caller sees it, e.g. from the
    configured public URL or the request's ``Host``; mount the router at that URL's root.
    """
    router = APIRouter(tags=["authzen"])

    @router.get(
        CONFIGURATION_PATH,
        summary="AuthZEN policy decision point metadata",
        responses={200: {"content": {"application/json": {"schema": _CONFIGURATION_SCHEMA}}}},
    )
    async def authzen_configuration(request: Request) -> Response:
        base = pdp_url(request).rstrip("/")
        document = {
            "policy_decision_point": base,
            "access_evaluation_endpoint": base + ACCESS_EVALUATION_PATH,
            "access_evaluations_endpoint": base + ACCESS_EVALUATIONS_PATH,
        }
        return _json(200, document, request)

    @router.post(
        ACCESS_EVALUATION_PATH,
        summary="Decide one access evaluation",
        openapi_extra=_openapi(_EVALUATION_SCHEMA, _DECISION_SCHEMA),
    )
    async def access_evaluation(request: Request) -> Response:
        return await _answer(request, lambda body: evaluate(body, decide), max_body_bytes)

    @router.post(
        ACCESS_EVALUATIONS_PATH,
        summary="Decide several access evaluations in one round trip",
        openapi_extra=_openapi(_EVALUATIONS_SCHEMA, _EVALUATIONS_RESPONSE_SCHEMA),
    )
    async def access_evaluations(request: Request) -> Response:
        return await _answer(
            request, lambda body: evaluations_response(body, decide), max_body_bytes
        )

    return router


async def _answer(request: Request, handle: Handler, max_body_bytes: int) -> Response:
    """Read, decide, answer. Nothing a client sends yields a 500; a fault never allows."""
    try:
        body = _with_mandate_header(await _read_json(request, max_body_bytes), request)
        return _json(200, await handle(body), request)
    except (InvalidRequest, RequestTooLarge, UnsupportedMediaType) as exc:
        return _json(_client_status(exc), exc.to_dict(), request)
    except Exception:
        logger.exception("authzen request failed")
        fault = {
            "decision": False,
            "error": "internal_error",
            "message": "the decision could not be made",
        }
        return _json(500, fault, request)


async def _read_json(request: Request, max_body_bytes: int) -> Any:
    _check_media_type(request.headers.get("content-type"))
    try:
        raw = await read_limited(request, max_body_bytes)
    except BodyTooLarge as error:
        raise RequestTooLarge(str(error)) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidRequest(f"the request body is not valid JSON ({where})") from None


MANDATE_HEADER = "txn-token"
"""The mandate (a Txn-Token) an enforcement point sends beside an action."""
CHAIN_HEADER = "warden-chain"
"""The delegation chain assertion an enforcement point sends beside an action."""
_HEADERS = ((MANDATE_HEADER, "mandate"), (CHAIN_HEADER, "chain"))


def header_context(headers: Mapping[str, str]) -> dict[str, str]:
    """``mandate`` and ``chain`` as carried in the ``Txn-Token`` and ``Warden-Chain`` headers
    (those present): every enforcement point reads them the same way."""
    return {key: headers[header] for header, key in _HEADERS if header in headers}


def _with_mandate_header(body: Any, request: Request) -> Any:
    """An enforcement point may carry the mandate in the ``Txn-Token`` header rather than in
    ``context.mandate``, and the chain assertion in ``Warden-Chain`` rather than in
    ``context.chain``; the body's own values win (they are the more specific)."""
    if not isinstance(body, dict):
        return body
    sent = header_context(request.headers)
    if not sent:
        return body
    context = body.get("context")
    if context is None:
        context = body["context"] = {}
    if isinstance(context, dict):
        for key, token in sent.items():
            context.setdefault(key, token)
    return body


def _client_status(exc: DecisionError) -> int:
    return next(status for cls, status in _STATUS.items() if isinstance(exc, cls))


def _check_media_type(content_type: str | None) -> None:
    """JSON is required (§10.1); a missing header is tolerated, another type is not."""
    if not content_type:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        f"unsupported content type `{media_type}`, expected `application/json`"
    )


def _json(status: int, payload: dict[str, Any], request: Request) -> Response:
    headers = {"Cache-Control": "no-store"}
    request_id = request.headers.get(_REQUEST_ID)
    if request_id is not None:  # §10.1.3: echo the PEP's identifier
        headers[_REQUEST_ID] = request_id
    return Response(
        content=orjson.dumps(payload),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


# -- OpenAPI description of the hand-parsed bodies ----------------------------------------------

_PROPERTIES = {"type": "object", "additionalProperties": True}
_ENTITY_SCHEMA = {
    "type": "object",
    "required": ["type", "id"],
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 2048},
        "id": {"type": "string", "minLength": 1, "maxLength": 2048},
        "properties": _PROPERTIES,
    },
}
_ACTION_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 2048},
        "properties": _PROPERTIES,
    },
}
_EVALUATION_PARTS = {
    "subject": _ENTITY_SCHEMA,
    "action": _ACTION_SCHEMA,
    "resource": _ENTITY_SCHEMA,
    "context": _PROPERTIES,
}
_EVALUATION_SCHEMA = {
    "title": "AccessEvaluationRequest",
    "type": "object",
    "required": ["subject", "action", "resource"],
    "properties": _EVALUATION_PARTS,
}
_EVALUATIONS_SCHEMA = {
    "title": "AccessEvaluationsRequest",
    "description": (
        "Top-level subject, action, resource and context are defaults for each item. "
        "Without a non-empty `evaluations` array the body is a single evaluation."
    ),
    "type": "object",
    "properties": {
        **_EVALUATION_PARTS,
        "evaluations": {
            "type": "array",
            "maxItems": 1000,
            "items": {"type": "object", "properties": _EVALUATION_PARTS},
        },
        "options": {
            "type": "object",
            "properties": {
                "evaluations_semantic": {
                    "type": "string",
                    "enum": ["execute_all", "deny_on_first_deny", "permit_on_first_permit"],
                    "default": "execute_all",
                }
            },
        },
    },
}
_DECISION_SCHEMA = {
    "title": "Decision",
    "type": "object",
    "required": ["decision"],
    "properties": {
        "decision": {"type": "boolean"},
        "context": {
            "type": "object",
            "description": (
                "Warden's outcome (`allow`, `deny` or `step_up`), decision id (the audit "
                "ledger id), reasons and policy revision; or `error` for a failed batch item."
            ),
            "properties": {
                "outcome": {"type": "string", "enum": ["allow", "deny", "step_up"]},
                "decision_id": {"type": "string"},
                "reasons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "source": {"type": "string"},
                            "outcome": {"type": "string"},
                        },
                    },
                },
                "policy_revision": {"type": "integer"},
                "error": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
}
_EVALUATIONS_RESPONSE_SCHEMA = {
    "title": "AccessEvaluationsResponse",
    "description": "`evaluations` for a batch, in request order; a single Decision otherwise.",
    "oneOf": [
        {
            "type": "object",
            "required": ["evaluations"],
            "properties": {"evaluations": {"type": "array", "items": _DECISION_SCHEMA}},
        },
        _DECISION_SCHEMA,
    ],
}
_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "JSON path of the offending field"},
        "decision": {"type": "boolean", "description": "always false, on a server fault"},
    },
}
_CONFIGURATION_SCHEMA = {
    "title": "AuthZENConfiguration",
    "type": "object",
    "required": ["policy_decision_point", "access_evaluation_endpoint"],
    "properties": {
        "policy_decision_point": {"type": "string", "format": "uri"},
        "access_evaluation_endpoint": {"type": "string", "format": "uri"},
        "access_evaluations_endpoint": {"type": "string", "format": "uri"},
    },
}


def _openapi(request_schema: dict[str, Any], response_schema: dict[str, Any]) -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }

    request_id = {
        "name": _REQUEST_ID,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "echoed in the response",
    }
    return {
        "parameters": [request_id],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request_schema}},
        },
        "responses": {
            "200": {
                "description": "the decision (a deny is a 200 with `decision: false`)",
                "content": {"application/json": {"schema": response_schema}},
            },
            "400": error("malformed request; `field` names the offending field"),
            "413": error("request body too large"),
            "415": error("the body is not JSON"),
            "500": error("Warden could not decide; `decision` is false"),
        },
    }
