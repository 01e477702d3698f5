"""Loading a policy bundle from a folder.

A bundle folder holds ``*.cedar`` policy files (found recursively), an optional
``schema.cedarschema`` (else Warden's default schema) and an optional ``entities.json``
(a Cedar JSON entities list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from warden.policy.errors import BundleError
from warden.policy.models import Bundle

SCHEMA_FILE = "schema.cedarschema"
ENTITIES_FILE = "entities.json"


@cache
def default_schema() -> str:
    """Warden's default Cedar schema text (``warden.cedarschema``)."""
    return resources.files("warden.policy").joinpath("warden.cedarschema").read_text("utf-8")


def load_bundle(path: str | Path) -> Bundle:
    """Read the bundle in folder ``path``; raise :class:`BundleError` if it cannot be read."""
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"policy bundle folder `{folder}` does not exist")
    policies = {
        file.relative_to(folder).as_posix(): _read(file) for file in sorted(folder.rglob("*.cedar"))
    }
    if not policies:
        raise BundleError(f"policy bundle folder `{folder}` has no `*.cedar` files")
    schema_file = folder / SCHEMA_FILE
    schema = _read(schema_file) if schema_file.is_file() else default_schema()
    entities_file = folder / ENTITIES_FILE
    entities = _read_entities(entities_file) if entities_file.is_file() else ()
    return Bundle(policies=policies, schema=schema, entities=entities, source=str(folder))


def load_bundles(paths: Sequence[str | Path]) -> Bundle:
    """One bundle from several folders (``warden policy apply examples/mandates
    examples/sessions``): each policy file keyed by its path (``examples/sessions/x.cedar``),
    entities concatenated; the folders must share one schema (their own or the default)."""
    bundles = [load_bundle(p) for p in paths]
    if len(bundles) == 1:
        return bundles[0]
    first = bundles[0]
    for other in bundles[1:]:
        if other.schema != first.schema:
            raise BundleError(
                f"`{first.source}` and `{other.source}` have different schemas; "
                "folders applied together must share one"
            )
    policies = {
        f"{Path(b.source).as_posix()}/{name}": text
        for b in bundles
        for name, text in b.policies.items()
    }
    entities = tuple(e for b in bundles for e in b.entities)
    source = " + ".join(b.source for b in bundles)
    return Bundle(policies=policies, schema=first.schema, entities=entities, source=source)


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read `{file}`: {exc}") from exc


def _read_entities(file: Path) -> tuple[Mapping[str, Any], ...]:
    try:
        raw = json.loads(_read(file))
    except json.JSONDecodeError as exc:
        where = f"{ENTITIES_FILE}:{exc.lineno}:{exc.colno}"
        raise BundleError(f"{where}: not valid JSON: {exc.msg.lower()}") from exc
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise BundleError(f"{ENTITIES_FILE}: expected a JSON list of Cedar entities")
    return tuple(raw)
