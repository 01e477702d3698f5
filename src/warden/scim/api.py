"""``/scim/v2``: Warden as a SCIM 2.0 service provider (RFC 7644), on scim2-server's ASGI app.

Mounted at ``/scim`` in Warden's FastAPI app. Authentication is Warden's own
(:class:`warden.server.auth.AdminAuth`): a bearer token — the admin token, or a person's
``wdn_…`` token from ``warden access grant``. Reading needs the role ``admin`` or
``auditor``; writing needs ``admin``. ``/ServiceProviderConfig`` is public (RFC 7644 §4).
A missing or bad token is 401 with ``WWW-Authenticate``; a role that does not fit is 403.

This module is where Warden's errors become SCIM errors (RFC 7644 §3.12): the status,
``scimType`` and detail of the ``urn:ietf:params:scim:api:messages:2.0:Error`` body.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import HTTPException
from scim2_models import (
    ConflictException,
    ForbiddenException,
    InvalidValueException,
    NotFoundException,
    PreconditionFailedException,
    ResourceType,
    SCIMException,
    UnauthorizedException,
    UniquenessException,
)
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.handler import AsyncScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService
from starlette.requests import Request
from starlette.types import Receive, Scope

from warden.access.models import Principal, Role
from warden.errors import WardenError
from warden.registry.errors import (
    AgentExists,
    AgentNotFound,
    InvalidRegistryInput,
    InvalidTransition,
    NotPermitted,
)
from warden.scim.errors import AgentChanged, InvalidAgent
from warden.scim.service import ScimResources
from warden.server.auth import AdminAuth

MISSING_TOKEN = (
    "scim needs `Authorization: Bearer <token>`: a token from `warden access grant` "
    "(role `admin`, or `auditor` to read), or the admin token"
)
READS = frozenset({Operation.query, Operation.search, Operation.search_with_body})
READERS = (Role.ADMIN, Role.AUDITOR)
WRITERS = (Role.ADMIN,)


class WardenScimService(ScimService):
    """The SCIM protocol, with Warden's roles: ``admin`` writes, ``auditor`` reads too."""

    def authorize(self, request: ScimRequest, target: Target, resource_type: ResourceType) -> None:
        principal = request.subject
        roles = READERS if target.operation in READS else WRITERS
        if not isinstance(principal, Principal) or not principal.has(*roles):
            wanted = " or ".join(f"`{r.value}`" for r in roles)
            raise ForbiddenException(detail=f"this needs the role {wanted}")


class ScimApplication(ASGIApplication):
    """scim2-server's ASGI application, authenticating with Warden's bearer tokens; each
    request works on a storage that audits its writes under the caller's name."""

    def __init__(self, resources: ScimResources, admin: AdminAuth) -> None:
        provider = resources.provider
        super().__init__(resources.acting_as("anonymous"), provider, WardenScimService(provider))
        self._resources = resources
        self._admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(cast(Any, scope), cast(Any, receive), send)
            return
        request = await self.read_request(cast(Any, scope), cast(Any, receive))
        await self.send_response(await self._serve(request, Request(scope)), send)

    async def _serve(self, request: ScimRequest, http: Request) -> ScimResponse:
        try:
            principal = await self._admin(http) if self.needs_auth(request) else None
            request.subject = principal
            actor = principal.name if principal is not None else "anonymous"
            handler = AsyncScimHandler(self.service, self._resources.acting_as(actor))
            response = await handler.handle(request)
        except Exception as exc:
            response = self.handle_exception(request, exc)
        return self.finalize_response(request, response)

    def handle_exception(self, request: ScimRequest, exception: Exception) -> ScimResponse:
        response = super().handle_exception(request, scim_exception(exception))
        if isinstance(exception, HTTPException) and exception.headers:
            response.headers.update(exception.headers)  # the bearer challenge, RFC 6750 §3
        return response


def scim_exception(exc: Exception) -> Exception:
    """The SCIM error (RFC 7644 §3.12) a Warden error stands for; other errors unchanged."""
    if isinstance(exc, HTTPException):
        detail = str(exc.detail)
        if exc.status_code == 401:
            missing = detail.startswith("the admin api needs")
            return UnauthorizedException(detail=MISSING_TOKEN if missing else detail)
        return ForbiddenException(detail=detail)
    if not isinstance(exc, WardenError) or isinstance(exc, SCIMException):
        return exc
    mapped: dict[type[WardenError], type[SCIMException]] = {
        AgentNotFound: NotFoundException,
        AgentExists: UniquenessException,
        AgentChanged: PreconditionFailedException,
        InvalidAgent: InvalidValueException,
        InvalidRegistryInput: InvalidValueException,
        InvalidTransition: ConflictException,
        NotPermitted: ForbiddenException,
    }
    kind: Any = next((s for e, s in mapped.items() if isinstance(exc, e)), None)
    return kind(detail=exc.message) if kind is not None else exc


def scim_app(resources: ScimResources, admin: AdminAuth) -> ScimApplication:
    """The ASGI app to mount at ``/scim`` (it serves ``/scim/v2/...``)."""
    return ScimApplication(resources, admin)
