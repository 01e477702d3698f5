"""The approvals page: served without data (everything comes from the API with the person's
own token), under a strict Content-Security-Policy, and never writing server text as HTML."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from warden.runtime import Runtime
from warden.server.app import create_app


@pytest.fixture
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = await Runtime.open(sqlite_url)
    app = create_app(runtime, admin_token="dashboard-admin-token-0123456789")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://warden.test"
        ) as client:
            yield client
    finally:
        await runtime.close()


async def test_the_page_its_script_and_style_are_served_under_a_strict_policy(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/dashboard/approvals")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    for control in ('id="token"', 'value="approve"', 'value="deny"', 'id="comment"'):
        assert control in page.text
    script = await http.get("/dashboard/approvals.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/v1/approvals" in script.text
    # Server text (arguments, reasons, comments) is only ever set as text, never as markup.
    assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text
    style = await http.get("/dashboard/approvals.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_the_page_holds_no_data_and_the_api_still_needs_a_token(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/dashboard/approvals")
    assert "apr_" not in page.text
    assert (await http.get("/v1/approvals")).status_code == 401
