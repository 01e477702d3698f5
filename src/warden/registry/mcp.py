"""Import tools from an MCP ``tools/list`` result (MCP 2025-06-18, ``Tool`` and
``ToolAnnotations``).

MCP's hints map onto Warden's annotations with MCP's own defaults: ``readOnlyHint``
(default false) → ``read_only``; ``destructiveHint`` (default true, meaningful only when
not read-only) → ``destructive``; ``openWorldHint`` (default true) → ``external``. MCP has
no data labels; a server may declare them in ``_meta["warden/labels"]``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from warden.registry.errors import InvalidRegistryInput
from warden.registry.specs import AnnotationsSpec, ToolSpec

LABELS_META_KEY = "warden/labels"


def tools_from_mcp(document: Any) -> list[ToolSpec]:
    """Tool specs from a ``tools/list`` result, bare or inside its JSON-RPC envelope."""
    tools = _tool_list(document)
    return [_tool_spec(item, f"tools[{i}]") for i, item in enumerate(tools)]


def _tool_list(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document = document["result"]
    if not isinstance(document, dict) or not isinstance(document.get("tools"), list):
        raise InvalidRegistryInput(
            "expected an MCP `tools/list` result: an object with a `tools` array",
            field="tools",
        )
    return list(document["tools"])


def _tool_spec(item: Any, path: str) -> ToolSpec:
    if not isinstance(item, dict):
        raise InvalidRegistryInput(f"`{path}` must be an object", field=path)
    hints = item.get("annotations") or {}
    meta = item.get("_meta") or {}
    if not isinstance(hints, dict) or not isinstance(meta, dict):
        raise InvalidRegistryInput(f"`{path}.annotations` must be an object", field=path)
    read_only = hints.get("readOnlyHint") is True
    try:
        annotations = AnnotationsSpec(
            read_only=read_only,
            destructive=not read_only and hints.get("destructiveHint", True) is not False,
            external=hints.get("openWorldHint", True) is not False,
            labels=meta.get(LABELS_META_KEY, []),
        )
    except ValidationError as exc:
        raise _invalid(exc, f"{path}._meta.{LABELS_META_KEY}", nested=False) from exc
    try:
        return ToolSpec(
            name=item.get("name", ""),
            description=item.get("description") or hints.get("title") or "",
            input_schema=item.get("inputSchema"),
            annotations=annotations,
        )
    except ValidationError as exc:
        raise _invalid(exc, path) from exc


def _invalid(exc: ValidationError, path: str, *, nested: bool = True) -> InvalidRegistryInput:
    err = exc.errors()[0]
    where = f"{path}." + ".".join(str(p) for p in err["loc"]) if nested else path
    message = str(err["msg"]).removeprefix("Value error, ")
    return InvalidRegistryInput(f"`{where}`: {message}", field=where)
