"""What of ``context`` a bundle's policies read, so the pipeline sends Cedar only that.

Converting the context to Cedar values is a large share of an evaluation's cost, and Warden's
blocks are wide (``context.session`` has four sliding windows; ``context.mandate`` seventeen
fields). A block no policy reads, or a field of a block no policy reads, cannot change any
policy's result, so :meth:`ContextReads.prune` leaves it out of the Cedar request. The
decision's features (and the ledger) keep every block whole.

Reads are found in the policies' EST: ``context.b``, ``context has b``, ``context.b.f`` and
``context.b has f``. A policy that uses ``context`` or a block as a whole value (``context ==
…``, ``context.b == …``) keeps all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_CONTEXT = {"Var": "context"}
_ACCESS = (".", "has")


@dataclass(frozen=True, slots=True)
class ContextReads:
    """Per context attribute, the fields the policies read (None: the whole attribute);
    ``everything`` when some policy uses ``context`` itself as a value."""

    attributes: Mapping[str, frozenset[str] | None]
    everything: bool = False

    @classmethod
    def of(cls, ests: Iterable[Mapping[str, Any]]) -> ContextReads:
        fields: dict[str, set[str] | None] = {}
        everything = False

        def block_of(node: Any) -> str | None:
            """``b`` when ``node`` is ``context.b``."""
            if isinstance(node, dict) and len(node) == 1 and "." in node:
                inner = node["."]
                if isinstance(inner, dict) and inner.get("left") == _CONTEXT:
                    return str(inner.get("attr"))
            return None

        def walk(node: Any) -> None:
            nonlocal everything
            if isinstance(node, list):
                for item in node:
                    walk(item)
                return
            if not isinstance(node, dict):
                return
            if len(node) == 1:
                [(key, value)] = node.items()
                if key in _ACCESS and isinstance(value, dict):
                    left = value.get("left")
                    if left == _CONTEXT:  # context.b / context has b
                        if key == "has":
                            fields.setdefault(str(value.get("attr")), set())
                        else:  # a block read whole, unless a field access wraps it (below)
                            fields[str(value.get("attr"))] = None
                        return
                    block = block_of(left)
                    if block is not None:  # context.b.f / context.b has f
                        known = fields.setdefault(block, set())
                        if known is not None:
                            known.add(str(value.get("attr")))
                        return
                if key == "Var" and value == "context":
                    everything = True
                    return
            for value in node.values():
                walk(value)

        for est in ests:
            walk(est.get("conditions", []))
        return cls({k: None if v is None else frozenset(v) for k, v in fields.items()}, everything)

    def including(self, attribute: str, fields: Iterable[str]) -> ContextReads:
        """These reads plus ``fields`` of ``attribute`` (for Warden's own code that reads the
        context after Cedar, e.g. the grant an entitlement permit names)."""
        known = self.attributes.get(attribute, frozenset())
        merged = None if known is None else known | frozenset(fields)
        return ContextReads({**self.attributes, attribute: merged}, self.everything)

    def prune(self, blocks: Mapping[str, Any]) -> dict[str, Any]:
        """``blocks`` as the policies need them: unread blocks and fields left out."""
        if self.everything:
            return dict(blocks)
        kept: dict[str, Any] = {}
        for name, block in blocks.items():
            if name not in self.attributes:
                continue
            wanted = self.attributes[name]
            if wanted is None or not isinstance(block, Mapping):
                kept[name] = block
            else:
                kept[name] = {f: block[f] for f in wanted if f in block}
        return kept
