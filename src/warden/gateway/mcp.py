"""The MCP gateway (being built: see issue 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from warden.runtime import Runtime


def mount(app: FastAPI, runtime: Runtime) -> None:
    """Mount ``/mcp/<server>`` and its protected-resource metadata on ``app``."""
