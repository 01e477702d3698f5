"""The HTTP egress gateway (being built: see issue 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from warden.runtime import Runtime
    from warden.server.auth import AdminAuth


def mount(app: FastAPI, runtime: Runtime, admin: AdminAuth) -> None:
    """Mount ``/egress/<connection>/<path>``, ``/v1/connections`` and their metadata."""
