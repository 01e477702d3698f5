"""The entity graph Cedar evaluates against, built once per registry or policy change.

Cedar's ``Entities`` handle is parsed once (parsing 10,000 entities costs ~250 ms; adding
even one entity to a big handle clones it, ~14 ms). So requests whose subject and resource
need no per-request data use the prepared handle as is. A request that brings properties
for an entity Warden does not know gets a small handle instead: the request's entities
plus the closure (ancestors and referenced entities) of the known ones it names — about
10 µs per entity, and cached.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

import cedarpy
import orjson

Uid = tuple[str, str]
_CLOSURE_LIMIT = 512
_CACHE_SIZE = 1024


class EntityGraph:
    """Known entities, as one prepared Cedar handle plus an index for closures."""

    def __init__(self, entities: Iterable[Mapping[str, Any]]) -> None:
        self._by_uid: dict[Uid, Mapping[str, Any]] = {}
        for entity in entities:
            uid = entity["uid"]
            self._by_uid[(uid["type"], uid["id"])] = entity
        text = orjson.dumps(list(self._by_uid.values())).decode()
        self.handle = cedarpy.Entities.from_json_str(text, release_gil=True)
        self._cache: OrderedDict[bytes, cedarpy.Entities] = OrderedDict()

    def __contains__(self, uid: Uid) -> bool:
        return uid in self._by_uid

    def __len__(self) -> int:
        return len(self._by_uid)

    def with_request_entities(self, extra: list[dict[str, Any]], known: list[Uid]) -> Any:
        """A handle holding ``extra`` (entities from the request) and the closure of ``known``."""
        entities = self._closure(known) + extra
        key = orjson.dumps(entities)
        handle = self._cache.get(key)
        if handle is None:
            handle = cedarpy.Entities.from_json_str(key.decode())
            self._cache[key] = handle
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return handle

    def _closure(self, roots: list[Uid]) -> list[Mapping[str, Any]]:
        seen: dict[Uid, Mapping[str, Any]] = {}
        queue = deque(roots)
        while queue and len(seen) < _CLOSURE_LIMIT:
            uid = queue.popleft()
            entity = self._by_uid.get(uid)
            if entity is None or uid in seen:
                continue
            seen[uid] = entity
            queue.extend((p["type"], p["id"]) for p in entity.get("parents", ()))
            queue.extend(_referenced(entity.get("attrs", {})))
        return list(seen.values())


def _referenced(value: Any) -> Iterable[Uid]:
    """Entity references inside an attribute value (``{"__entity": {...}}``)."""
    if isinstance(value, dict):
        ref = value.get("__entity")
        if isinstance(ref, dict):
            yield (ref["type"], ref["id"])
            return
        for item in value.values():
            yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)
