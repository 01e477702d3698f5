"""Provisioning templates: what an agent with a given purpose needs, and nothing more.

A template is a YAML file::

    name: ap-reconciliation
    purpose: Match supplier invoices to payments and flag mismatches for a person
    grants:
      - tool: erp.invoice.read                      # invoke on Tool::"erp.invoice.read"
        justification: reads open invoices to match them against payments
      - action: read                                # any action on any entity type
        resource_type: Document
        resource: "*"                               # every Document
        justification: ...

Every grant needs a justification. Warden ships templates in ``templates/``; custom files are
validated the same way, every problem reported with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from warden.entitlements.errors import (
    InvalidEntitlement,
    TemplateInvalid,
    TemplateNotFound,
    TemplateProblem,
)
from warden.entitlements.specs import DEFAULT_ACTION, DEFAULT_RESOURCE_TYPE, GrantSpec, grant_spec

PACKAGED = "packaged"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_TOP = ("name", "purpose", "grants")
_GRANT_KEYS = ("tool", "action", "resource_type", "resource", "justification")


@dataclass(frozen=True, slots=True)
class Template:
    """A named set of grants for one purpose. ``source`` is ``packaged`` or where it was read."""

    name: str
    purpose: str
    grants: tuple[GrantSpec, ...]
    source: str = PACKAGED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "source": self.source,
            "grants": [
                {
                    "action": g.action,
                    "resource_type": g.resource_type,
                    "resource_id": g.resource_id,
                    "justification": g.justification,
                }
                for g in self.grants
            ],
        }


def packaged() -> list[Template]:
    """The templates Warden ships, by name."""
    folder = resources.files("warden.entitlements") / "templates"
    found = [
        replace(
            parse(entry.read_text(encoding="utf-8"), f"templates/{entry.name}"), source=PACKAGED
        )
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    ]
    return sorted(found, key=lambda t: t.name)


def packaged_template(name: str) -> Template:
    for template in packaged():
        if template.name == name:
            return template
    known = ", ".join(t.name for t in packaged())
    raise TemplateNotFound(f"no template `{name}` (known: {known})")


def load_file(path: Path) -> Template:
    """A custom template file, validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateNotFound(f"cannot read template `{path}`: {exc.strerror or exc}") from exc
    return parse(text, str(path))


def parse(text: str, source: str) -> Template:
    """Parse and validate a template; :class:`TemplateInvalid` lists every problem by line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = TemplateProblem(source, line, f"not valid YAML: {exc.problem}")
        raise TemplateInvalid([problem]) from exc
    except yaml.YAMLError as exc:
        raise TemplateInvalid([TemplateProblem(source, 0, f"not valid YAML: {exc}")]) from exc
    return _Reader(source).template(root)


class _Reader:
    """Walks the YAML node tree (which keeps line numbers), collecting every problem."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[TemplateProblem] = []

    def template(self, root: yaml.Node | None) -> Template:
        fields = self.mapping(root, "a template", _TOP, line=1)
        if not isinstance(root, yaml.MappingNode):
            raise TemplateInvalid(self.problems)
        name = self.text(fields.get("name"), "`name`", root)
        if name and not _NAME.fullmatch(name):
            self.problem(fields["name"], f"`name` `{name}` must be lowercase letters, digits, `-`")
        purpose = self.text(fields.get("purpose"), "`purpose`", root)
        grants = self.grants(fields.get("grants"), root)
        if self.problems:
            raise TemplateInvalid(sorted(self.problems, key=lambda p: p.line))
        return Template(name, purpose, grants, self.source)

    def grants(self, node: yaml.Node | None, parent: yaml.Node | None) -> tuple[GrantSpec, ...]:
        if node is None:
            self.problem(parent, "`grants` is required: a list of grants")
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(node, "`grants` must be a non-empty list")
            return ()
        found: list[GrantSpec] = []
        for number, item in enumerate(node.value, 1):
            spec = self.grant(item, number)
            if spec is None:
                continue
            if any(_same(spec, other) for other in found):
                self.problem(item, f"grant {number} repeats an earlier grant")
                continue
            found.append(spec)
        return tuple(found)

    def grant(self, node: yaml.Node, number: int) -> GrantSpec | None:
        where = f"grant {number}"
        fields = self.mapping(node, where, _GRANT_KEYS, line=_line(node))
        if not fields:
            return None
        texts = {k: self.text(v, f"{where}: `{k}`", node) for k, v in fields.items()}
        if not all(texts.values()):
            return None  # already reported
        if "tool" in texts and ({"resource", "resource_type"} & texts.keys()):
            self.problem(node, f"{where}: give `tool` or `resource`, not both")
            return None
        if "tool" not in texts and "resource" not in texts:
            self.problem(node, f"{where}: `tool` (or `resource`) is required")
            return None
        if "justification" not in texts:
            self.problem(node, f"{where}: `justification` is required: say why the agent needs it")
            return None
        try:
            return grant_spec(
                texts.get("action", DEFAULT_ACTION),
                texts.get("resource_type", DEFAULT_RESOURCE_TYPE),
                texts.get("tool") or texts.get("resource", ""),
                texts["justification"],
            )
        except InvalidEntitlement as exc:
            keys = ("tool", "resource") if exc.field == "resource_id" else (exc.field,)
            at = next((fields[k] for k in keys if k in fields), node)
            self.problem(at, f"{where}: {exc.message}")
            return None

    def mapping(
        self, node: yaml.Node | None, what: str, allowed: tuple[str, ...], *, line: int
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.problems.append(TemplateProblem(self.source, line, f"{what} must be a mapping"))
            return {}
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in allowed:
                keys = ", ".join(f"`{k}`" for k in allowed)
                self.problem(key, f"{what}: unknown key `{name}` (expected {keys})")
            elif name in fields:
                self.problem(key, f"{what}: `{name}` is given twice")
            else:
                fields[name] = value
        return fields

    def text(self, node: yaml.Node | None, what: str, parent: yaml.Node | None) -> str:
        if node is None:
            self.problem(parent, f"{what} is required")
            return ""
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.problem(node, f"{what} must be a non-empty text")
            return ""
        return str(node.value).strip()

    def problem(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(TemplateProblem(self.source, _line(node), message))


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _same(a: GrantSpec, b: GrantSpec) -> bool:
    return (a.action, a.resource_type, a.resource_id) == (b.action, b.resource_type, b.resource_id)
