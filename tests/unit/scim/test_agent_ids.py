"""An agent's SCIM ``id``: its SPIFFE ID in a form a resource URL can carry."""

from __future__ import annotations

import pytest

from warden.registry.errors import AgentNotFound
from warden.scim.agents import agent_id_of, scim_id

SPIFFE_IDS = [
    "spiffe://acme.example/agent/ap-clerk",
    "spiffe://acme.example/team/finance/agent/recon.v2",
    "spiffe://warden.local/agent/" + "a" * 300,
]


@pytest.mark.parametrize("agent_id", SPIFFE_IDS)
def test_the_id_is_url_safe_and_gives_back_the_spiffe_id(agent_id: str) -> None:
    resource_id = scim_id(agent_id)
    assert all(c.isalnum() or c in "-_" for c in resource_id)  # no `/`, `=`, `+`
    assert agent_id_of(resource_id) == agent_id


@pytest.mark.parametrize(
    "resource_id",
    [
        "not base64!",
        scim_id("https://acme.example/agent/x"),  # decodes, but to no SPIFFE ID
        scim_id("spiffe://acme.example/agent/x") + "=",  # not the canonical encoding
        "",
    ],
)
def test_an_id_that_names_no_agent_is_not_found(resource_id: str) -> None:
    with pytest.raises(AgentNotFound):
        agent_id_of(resource_id)
