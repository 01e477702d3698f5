"""Mapping MCP ``tools/list`` annotations onto Warden's (MCP 2025-06-18 ToolAnnotations)."""

from __future__ import annotations

import pytest

from warden.registry.errors import InvalidRegistryInput
from warden.registry.mcp import tools_from_mcp

TOOLS_LIST = {
    "jsonrpc": "2.0",
    "id": 1,
    "result": {
        "tools": [
            {
                "name": "ledger.read",
                "description": "Read",
                "inputSchema": {"type": "object"},
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
                "_meta": {"warden/labels": ["finance"]},
            },
            {
                "name": "payments.transfer",
                "inputSchema": {"type": "object"},
                "annotations": {"title": "Transfer money"},
            },
            {
                "name": "notes.append",
                "inputSchema": {"type": "object"},
                "annotations": {"destructiveHint": False, "openWorldHint": False},
            },
            {"name": "plain", "inputSchema": {"type": "object"}},
            {
                "name": "ro.but.destructive",
                "annotations": {"readOnlyHint": True, "destructiveHint": True},
            },
        ]
    },
}


def test_hints_map_with_mcp_defaults() -> None:
    specs = {s.name: s.annotations.to_annotations() for s in tools_from_mcp(TOOLS_LIST)}
    assert specs["ledger.read"].read_only and not specs["ledger.read"].destructive
    assert not specs["ledger.read"].external
    assert specs["ledger.read"].labels == {"finance"}
    # No hints: MCP says assume not read-only, destructive, open world.
    assert specs["plain"].destructive and specs["plain"].external and not specs["plain"].read_only
    assert specs["payments.transfer"].destructive and specs["payments.transfer"].external
    assert not specs["notes.append"].destructive and not specs["notes.append"].external
    # destructiveHint is meaningful only when the tool is not read-only.
    assert not specs["ro.but.destructive"].destructive


def test_title_is_used_when_description_is_missing() -> None:
    [spec] = [s for s in tools_from_mcp(TOOLS_LIST) if s.name == "payments.transfer"]
    assert spec.description == "Transfer money"


def test_bare_result_is_accepted() -> None:
    assert len(tools_from_mcp(TOOLS_LIST["result"])) == 5


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"tools": "nope"}, "tools"),
        ([1, 2], "tools"),
        ({"tools": [42]}, "tools[0]"),
        ({"tools": [{"name": ""}]}, "tools[0].name"),
        ({"tools": [{"name": "ok"}, {"name": "bad name!"}]}, "tools[1].name"),
        (
            {"tools": [{"name": "x", "_meta": {"warden/labels": "pii"}}]},
            "tools[0]._meta.warden/labels",
        ),
    ],
)
def test_bad_documents_name_the_field(document: object, field: str) -> None:
    with pytest.raises(InvalidRegistryInput) as caught:
        tools_from_mcp(document)
    assert caught.value.field == field
