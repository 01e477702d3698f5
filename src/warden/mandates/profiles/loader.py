"""Reading purpose profiles: YAML → validated, prepared :class:`PurposeProfile`.

A profile is checked against the published JSON Schema (``warden/mandates/profile.schema.json``)
and then against the rules a schema cannot state (argument schemas must be valid JSON Schemas,
``min`` ≤ ``max``, budget names unique...). Every problem is reported with ``file:line:column``,
read from the YAML node tree, as provisioning templates do (:mod:`warden.entitlements.templates`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from warden.mandates.models import Source
from warden.mandates.profiles.errors import ProfileInvalid, ProfileNotFound, ProfileProblem
from warden.mandates.profiles.profile import (
    ArgumentRule,
    Budget,
    FlowRule,
    PurposeProfile,
    StepUpRule,
    ToolPatterns,
    ToolRule,
)

RESERVED_NAMES = frozenset({"schema", "validate"})
"""Names that are paths of the API (``/v1/profiles/schema``)."""
DocPath = tuple[str | int, ...]
_Mark = tuple[int, int]  # 1-based line, column


@cache
def profile_schema() -> dict[str, Any]:
    """The published JSON Schema of a purpose profile."""
    text = (resources.files("warden.mandates") / "profile.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(profile_schema())


def packaged() -> list[PurposeProfile]:
    """The profiles Warden ships (``warden/mandates/library``), by name."""
    return sorted((parse(text, name) for name, text in packaged_texts()), key=lambda p: p.name)


def packaged_texts() -> list[tuple[str, str]]:
    """(``library/<file>``, YAML text) of every packaged profile."""
    folder = resources.files("warden.mandates") / "library"
    return sorted(
        (f"library/{entry.name}", entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_file(path: Path) -> PurposeProfile:
    """A profile file, validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileNotFound(f"cannot read profile `{path}`: {exc.strerror or exc}") from exc
    return parse(text, str(path))


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(text: str, source: str = "profile", *, version: int = 0) -> PurposeProfile:
    """Parse, validate and prepare a profile; :class:`ProfileInvalid` lists every problem."""
    marks, keys, problems = _marks(text, source)
    if problems:
        raise ProfileInvalid(problems)
    data = yaml.safe_load(text)
    reader = _Reader(source, marks, keys)
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        reader.schema_problem(error)
    if reader.problems:
        raise ProfileInvalid(reader.sorted())
    profile = reader.build(data, version, digest_of(text))
    if reader.problems:
        raise ProfileInvalid(reader.sorted())
    return profile


# -- line numbers --------------------------------------------------------------------------


def _marks(text: str, source: str) -> tuple[dict[DocPath, _Mark], dict[DocPath, _Mark], list[Any]]:
    """Where each value (and each mapping key) starts, by its path in the document."""
    try:
        alias = _first_alias(text)
        if alias is not None:
            where = (alias[0] + 1, alias[1] + 1)
            message = "anchors and aliases (`*name`) are not supported in a profile"
            return {}, {}, [ProfileProblem(source, *where, message)]
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return {}, {}, [ProfileProblem(source, line, column, f"not valid YAML: {exc.problem}")]
    except yaml.YAMLError as exc:
        return {}, {}, [ProfileProblem(source, 0, 0, f"not valid YAML: {exc}")]
    if root is None:
        return {}, {}, [ProfileProblem(source, 1, 1, "the profile is empty")]
    marks: dict[DocPath, _Mark] = {}
    keys: dict[DocPath, _Mark] = {}
    problems: list[ProfileProblem] = []
    for path, node, key in _walk(root, ()):
        at = (node.start_mark.line + 1, node.start_mark.column + 1)
        if key is not None:
            spot = (key.start_mark.line + 1, key.start_mark.column + 1)
            if path in keys:
                problems.append(ProfileProblem(source, *spot, f"`{path[-1]}` is given twice"))
            keys[path] = spot
        marks[path] = at
    return marks, keys, problems


def _first_alias(text: str) -> tuple[int, int] | None:
    """Where the first alias is (0-based): aliases could make a small file expand enormously."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            return (mark.line, mark.column) if mark is not None else (0, 0)
    return None


def _walk(
    node: yaml.Node, path: DocPath, key: yaml.Node | None = None
) -> Iterator[tuple[DocPath, yaml.Node, yaml.Node | None]]:
    yield path, node, key
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _walk(v, (*path, str(k.value)), k)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path) or "the profile"


class _Reader:
    """Turns validated data into prepared rules, collecting problems with their positions."""

    def __init__(
        self, source: str, marks: dict[DocPath, _Mark], keys: dict[DocPath, _Mark]
    ) -> None:
        self.source = source
        self.marks = marks
        self.keys = keys
        self.problems: list[ProfileProblem] = []

    def sorted(self) -> list[ProfileProblem]:
        return sorted(self.problems, key=lambda p: (p.line, p.column))

    def problem(self, path: DocPath, message: str, *, key: bool = False) -> None:
        spot = (self.keys.get(path) if key else None) or self._nearest(path)
        self.problems.append(ProfileProblem(self.source, *spot, message))

    def _nearest(self, path: DocPath) -> _Mark:
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path, (1, 1))

    # -- JSON Schema problems --------------------------------------------------------------

    def schema_problem(self, error: ValidationError) -> None:
        error = _deepest(error)
        path: DocPath = tuple(error.absolute_path)
        where = f"`{_dotted(path)}`"
        if error.validator == "additionalProperties":
            schema: Any = error.schema
            allowed = sorted(schema.get("properties", {}))
            expected = ", ".join(f"`{k}`" for k in allowed)
            instance: Any = error.instance
            for extra in sorted(set(instance) - set(allowed)):
                message = f"{where}: unknown key `{extra}` (expected {expected})"
                if not path:
                    message = f"unknown key `{extra}` (expected {expected})"
                self.problem((*path, extra), message, key=True)
            return
        if error.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            name = missing[0] if missing else "a key"
            self.problem(path, f"`{name}` is required" + ("" if not path else f" in {where}"))
            return
        self.problem(path, f"{where}: {_describe(error)}")

    # -- building the prepared profile -----------------------------------------------------

    def build(self, data: Mapping[str, Any], version: int, digest: str) -> PurposeProfile:
        if data["name"] in RESERVED_NAMES:
            self.problem(("name",), f"`name` `{data['name']}` is reserved: choose another")
        tools = tuple(self.tool(i, entry) for i, entry in enumerate(data["tools"]))
        self.unique([r.pattern for r in tools], ("tools",), "tool pattern")
        budgets = tuple(self.budget(i, b) for i, b in enumerate(data.get("budgets", ())))
        self.unique([b.name for b in budgets], ("budgets",), "budget name")
        return PurposeProfile(
            name=data["name"],
            version=version,
            description=data["description"].strip(),
            examples=tuple(e.strip() for e in data["examples"]),
            tools=tools,
            budgets=budgets,
            flows=tuple(
                FlowRule(frozenset(f["labels"]), frozenset(f["may_reach"]))
                for f in data.get("flows", ())
            ),
            max_chain_depth=data.get("max_chain_depth"),
            max_fan_out=data.get("max_fan_out"),
            approvals_required=data.get("approvals", {}).get("required", 1),
            separation_of_duties=data.get("approvals", {}).get("separation_of_duties", False),
            step_up_rules=tuple(self.step_up(s) for s in data.get("step_up", ())),
            digest=digest,
            document={k: v for k, v in data.items() if k != "version"},
        )

    def unique(self, names: list[str], path: DocPath, what: str) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                self.problem((*path, index), f"{what} `{name}` is given twice")
            seen.add(name)

    def tool(self, index: int, entry: str | Mapping[str, Any]) -> ToolRule:
        if isinstance(entry, str):
            return ToolRule(patterns(entry))
        arguments = tuple(
            self.argument(("tools", index, "arguments", name), name, spec)
            for name, spec in (entry.get("arguments") or {}).items()
        )
        return ToolRule(
            patterns(entry["tool"]), entry.get("read_only"), entry.get("sink"), arguments
        )

    def argument(self, path: DocPath, name: str, spec: Mapping[str, Any]) -> ArgumentRule:
        schema = None
        if "schema" in spec:
            try:
                Draft202012Validator.check_schema(spec["schema"])
                schema = Draft202012Validator(spec["schema"])
            except SchemaError as exc:
                self.problem(
                    (*path, "schema", *exc.path),
                    f"`{name}`: not a valid JSON Schema: {exc.message}",
                )
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None and low > high:
            self.problem((*path, "min"), f"`{name}`: `min` {low} is above `max` {high}")
        recipients = spec.get("allowed_recipients")
        return ArgumentRule(
            argument=name,
            path=tuple(name.split(".")),
            schema=schema,
            maximum=high,
            minimum=low,
            allowed_domains=tuple(
                d.strip().lower().lstrip("@.") for d in spec.get("allowed_domains", ())
            ),
            allowed_recipients=patterns(*(r.strip().lower() for r in recipients))
            if recipients
            else None,
            sources=frozenset(Source(s) for s in spec["from"]) if "from" in spec else None,
        )

    def budget(self, index: int, spec: Mapping[str, Any]) -> Budget:
        return Budget(
            name=spec["name"],
            tools=patterns(*spec["tools"]),
            argument=spec["argument"],
            path=tuple(spec["argument"].split(".")),
            limit=float(spec["limit"]),
            currency=spec.get("currency"),
        )

    def step_up(self, spec: Mapping[str, Any]) -> StepUpRule:
        when = spec.get("when") or {}
        tools = patterns(*spec["tools"]) if "tools" in spec else None
        if "argument" in when:
            argument = when["argument"]
            return StepUpRule(tools, argument, tuple(argument.split(".")), float(when["over"]))
        if "source_not_in" in when:
            return StepUpRule(
                tools, source_not_in=frozenset(Source(s) for s in when["source_not_in"])
            )
        return StepUpRule(tools, injected=bool(when.get("injected", False)))


def _deepest(error: ValidationError) -> ValidationError:
    """For ``oneOf``/``anyOf``: the failure of the branch the author meant (one whose type
    fits the value), not "is not valid under any of the given schemas"."""
    while error.context:
        wrong_type = {
            e.schema_path[0] for e in error.context if e.validator == "type" and not e.relative_path
        }
        meant = [e for e in error.context if e.schema_path[0] not in wrong_type]
        if not meant:
            return error
        error = best_match(meant) or error
    return error


def patterns(*items: str) -> ToolPatterns:
    """fnmatch patterns (case-sensitive) compiled once into one regular expression."""
    joined = "|".join(f"(?:{fnmatch.translate(p)})" for p in items)
    return ToolPatterns(tuple(items), re.compile(joined))


def _describe(error: ValidationError) -> str:
    """A JSON Schema failure in the profile author's words."""
    setting: Any = error.validator_value
    match error.validator:
        case "type":
            kinds = setting if isinstance(setting, list) else [setting]
            return "must be " + " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
        case "enum":
            return "must be one of " + ", ".join(f"`{v}`" for v in setting)
        case "oneOf" | "anyOf":
            return "is not a form this field accepts"
        case "const":
            return f"must be `{setting}`"
        case "pattern":
            return f"`{error.instance}` does not have the expected form ({setting})"
        case "minItems":
            return "must not be empty" if setting == 1 else f"needs at least {setting} items"
        case "minLength":
            return "must not be empty"
        case "maxLength":
            return f"is longer than {setting} characters"
        case "minimum" | "exclusiveMinimum":
            word = "at least" if error.validator == "minimum" else "more than"
            return f"must be {word} {setting}"
    return error.message


_TYPE_WORDS = {
    "string": "a text",
    "object": "a mapping",
    "array": "a list",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}
