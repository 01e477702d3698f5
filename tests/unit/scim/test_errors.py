"""Warden's errors become RFC 7644 §3.12 SCIM errors: the status and scimType a provisioning
client reads."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from scim2_models import SCIMException

from warden.errors import WardenError
from warden.registry.errors import AgentExists, AgentNotFound, InvalidTransition, NotPermitted
from warden.scim.api import scim_exception
from warden.scim.errors import AgentChanged, InvalidAgent


@pytest.mark.parametrize(
    ("error", "status", "scim_type"),
    [
        (AgentNotFound("no agent `x`"), 404, None),
        (AgentExists("agent `x` exists"), 409, "uniqueness"),
        (AgentChanged("agent `x` has changed"), 412, None),
        (InvalidAgent("`owner`: bad", attribute="owner"), 400, "invalidValue"),
        (InvalidTransition("cannot"), 409, None),
        (NotPermitted("not yours"), 403, None),
        (HTTPException(401, detail="no token"), 401, None),
        (HTTPException(403, detail="needs admin"), 403, None),
    ],
)
def test_status_and_scim_type(error: Exception, status: int, scim_type: str | None) -> None:
    mapped = scim_exception(error)
    assert isinstance(mapped, SCIMException)
    assert mapped.status == status and (mapped.scim_type or None) == scim_type
    expected = error.message if isinstance(error, WardenError) else error.detail
    assert mapped.detail == expected


def test_other_errors_are_left_alone() -> None:
    bug = RuntimeError("boom")
    assert scim_exception(bug) is bug  # answered 500 without its message
