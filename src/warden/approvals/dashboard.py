"""The approvals page of the dashboard: ``GET /dashboard/approvals``.

A static page (HTML, CSS, JavaScript; no build step) that lists held actions, shows one — the
action as the agent sent it, why it was held, the votes — and approves or denies it with a
comment, all through ``/v1/approvals`` with the person's own token (kept for the tab only). The
page itself holds no data and needs no authentication; every call it makes is authenticated
and authorised by the API. A strict Content-Security-Policy allows only its own script and
style, and no framing.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

_FILES = {
    "approvals": ("approvals.html", "text/html; charset=utf-8"),
    "approvals.js": ("approvals.js", "text/javascript; charset=utf-8"),
    "approvals.css": ("approvals.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def dashboard_router() -> APIRouter:
    router = APIRouter(prefix="/dashboard", tags=["dashboard"])
    folder = resources.files("warden.approvals").joinpath("dashboard")
    pages = {
        name: (folder.joinpath(file).read_bytes(), kind) for name, (file, kind) in _FILES.items()
    }

    def route(name: str) -> None:
        body, kind = pages[name]

        async def serve() -> Response:
            return Response(body, media_type=kind, headers=HEADERS)

        router.add_api_route(f"/{name}", serve, methods=["GET"], include_in_schema=False)

    for name in pages:
        route(name)
    return router
