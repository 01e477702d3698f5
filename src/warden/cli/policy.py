"""``warden policy``: validate, apply, show and test Cedar policy bundles."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from warden.cli.backend import JSON_HELP, URL_HELP, Backend, LocalBackend, connect
from warden.cli.output import console, fail, print_json
from warden.decisions.authzen import parse_evaluation
from warden.decisions.errors import DecisionError
from warden.decisions.models import Decision, DecisionRequest, Outcome
from warden.errors import WardenError
from warden.policy.bundle import load_bundles
from warden.policy.errors import PolicyValidationError
from warden.policy.models import Bundle, PolicyProblem, PolicyRevision
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec

policy_app = typer.Typer(
    help="Validate, apply, show and test policy bundles.", no_args_is_help=True
)

BUNDLE_HELP = "Bundle folder: *.cedar files, optional schema.cedarschema and entities.json."
BUNDLES_HELP = BUNDLE_HELP + " Several folders are applied together as one bundle."
OUTCOME_STYLE = {"allow": "bold green", "deny": "bold red", "step_up": "bold yellow"}


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")


# -- validate / apply / show ---------------------------------------------------------------------


@policy_app.command("validate")
def validate(
    folders: list[Path] = typer.Argument(..., metavar="DIR...", help=BUNDLES_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check a bundle against its schema without applying it; exit 1 on any problem."""
    bundle, folder = read_bundle(folders), _base(folders)
    with connect(url) as backend:
        problems = backend.validate_policies(bundle)
    if as_json:
        print_json({"valid": not problems, "problems": [p.to_dict() for p in problems]})
    elif not problems:
        verb = "is" if len(bundle.policies) == 1 else "are"
        console.print(
            f"[green]ok[/]: {_files(bundle)} in `{bundle.source}` {verb} valid", highlight=False
        )
    else:
        print_problems(folder, problems)
    if problems:
        raise typer.Exit(1)


@policy_app.command("apply")
def apply(
    folders: list[Path] = typer.Argument(..., metavar="DIR...", help=BUNDLES_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Validate a bundle and make it the active revision (exit 1, nothing changed, if invalid)."""
    bundle, folder = read_bundle(folders), _base(folders)
    with connect(url) as backend:
        try:
            revision = backend.apply_policies(bundle)
        except PolicyValidationError as exc:
            _refused(folder, exc.problems, backend, as_json)
    if as_json:
        print_json(revision_json(revision))
        return
    console.print(
        f"applied [bold]revision {revision.revision}[/] from `{bundle.source}` "
        f"({_files(bundle)}, digest {revision.digest[:12]})",
        highlight=False,
    )


def _refused(
    folder: Path, problems: Sequence[PolicyProblem], backend: Backend, as_json: bool
) -> None:
    active = backend.revision()
    unchanged = f"revision {active.revision}" if active else "none"
    if as_json:
        print_json({"applied": False, "problems": [p.to_dict() for p in problems]})
    else:
        print_problems(folder, problems)
        console.print(
            f"[red]not applied[/]: {len(problems)} problem(s); "
            f"the active revision is unchanged ({unchanged})",
            highlight=False,
        )
    raise typer.Exit(1)


@policy_app.command("show")
def show(
    revision: int | None = typer.Argument(None, help="Revision number (default: the active one)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the revision with its files."),
) -> None:
    """Show a policy revision: number, author, digest and files."""
    with connect(url) as backend:
        found = backend.revision(revision)
    if found is None:
        fail("no policy revision is active" if revision is None else f"no revision `{revision}`")
    if as_json:
        print_json(revision_json(found, files=True))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("revision", str(found.revision))
    table.add_row("applied", found.created_at.isoformat(timespec="seconds"))
    table.add_row("author", found.author)
    table.add_row("digest", found.digest)
    table.add_row("source", found.bundle.source or "-")
    table.add_row("files", "\n".join(sorted(found.bundle.policies)) or "-")
    console.print(table)


def read_bundle(folders: Path | Sequence[Path]) -> Bundle:
    try:
        return load_bundles([folders] if isinstance(folders, Path) else folders)
    except WardenError as exc:
        fail(exc.message)


def _base(folders: Sequence[Path]) -> Path:
    """Where problem files are named from: the folder, or (several) the paths as given."""
    return folders[0] if len(folders) == 1 else Path()


def print_problems(folder: Path, problems: Iterable[PolicyProblem]) -> None:
    """Each problem as ``file:line:column: message``, the file given from ``folder``."""
    for problem in problems:
        where = (folder / problem.file).as_posix()
        if problem.line:
            where += f":{problem.line}:{problem.column}"
        console.print(f"[red]{where}[/]: {problem.message}", highlight=False, soft_wrap=True)


def revision_json(revision: PolicyRevision, *, files: bool = False) -> dict[str, Any]:
    from warden.policy.api import revision_dict

    return revision_dict(revision, files=files)


def _files(bundle: Bundle) -> str:
    count = len(bundle.policies)
    return f"{count} policy file{'s' if count != 1 else ''}"


# -- test ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One expectation: ``request`` (an AuthZEN evaluation request) is decided ``expected``."""

    name: str
    request: DecisionRequest
    expected: Outcome


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.decision.outcome is self.case.expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.case.name,
            "expected": self.case.expected.value,
            "outcome": self.decision.outcome.value,
            "passed": self.passed,
            "reasons": [r.to_dict() for r in self.decision.reasons],
        }


class CaseError(WardenError):
    code = "invalid_case"


@policy_app.command("test")
def test(
    cases_dir: Path = typer.Argument(..., metavar="CASES_DIR", help="Folder of *.json cases."),
    bundle_dir: Path = typer.Option(..., "--bundle", metavar="BUNDLE_DIR", help=BUNDLE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Decide each case against a bundle on a throwaway store; exit 1 if any case fails.

    A case file holds {"name"?, "request": <AuthZEN evaluation request>, "expected":
    "allow" | "deny" | "step_up"} or a list of them. Agents and tools in the bundle's
    entities.json are registered first, so the identity step knows them.
    """
    bundle = read_bundle(bundle_dir)
    try:
        cases = load_cases(cases_dir)
        results = run_cases(bundle, cases)
    except PolicyValidationError as exc:
        print_problems(bundle_dir, exc.problems)
        fail(f"bundle `{bundle_dir}` is invalid: {len(exc.problems)} problem(s)")
    except WardenError as exc:
        fail(exc.message)
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        _print_results(results)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


def load_cases(folder: Path) -> list[Case]:
    """Every case in the ``*.json`` files of ``folder``, in file name order."""
    if not folder.is_dir():
        raise CaseError(f"cases folder `{folder}` does not exist")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CaseError(f"cases folder `{folder}` has no `*.json` files")
    return [case for file in files for case in _cases_in(file)]


def _cases_in(file: Path) -> list[Case]:
    try:
        raw = json.loads(file.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        where = f"{file}:{exc.lineno}:{exc.colno}"
        raise CaseError(f"{where}: not valid JSON: {exc.msg.lower()}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"cannot read `{file}`: {exc}") from exc
    items = raw if isinstance(raw, list) else [raw]
    single = not isinstance(raw, list)
    return [_case(item, file, i, single) for i, item in enumerate(items)]


def _case(item: Any, file: Path, index: int, single: bool) -> Case:
    where = file.name if single else f"{file.name}[{index}]"
    if not isinstance(item, dict):
        raise CaseError(f"{where}: a case must be an object with `request` and `expected`")
    if not isinstance(item.get("request"), dict):
        raise CaseError(f"{where}: `request` must be an AuthZEN evaluation request object")
    try:
        expected = Outcome(str(item.get("expected")))
    except ValueError:
        raise CaseError(
            f"{where}: `expected` is `{item.get('expected')}`; use `allow`, `deny` or `step_up`"
        ) from None
    name = str(item.get("name") or where)
    try:
        return Case(name, parse_evaluation(item["request"]), expected)
    except DecisionError as exc:
        raise CaseError(
            f"{where}: `request` is not a valid evaluation request: {exc.message}"
        ) from None


def run_cases(bundle: Bundle, cases: Sequence[Case]) -> list[CaseResult]:
    """Decide ``cases`` against ``bundle`` on a store in a temporary folder."""
    specs = registry_specs(bundle)
    with (
        tempfile.TemporaryDirectory(prefix="warden-policy-test-") as tmp,
        LocalBackend(f"sqlite:///{Path(tmp) / 'warden.db'}") as backend,
    ):
        for spec in specs:
            _register(backend, spec)
        backend.apply_policies(bundle)
        return [CaseResult(case, backend.decide(case.request)) for case in cases]


def _register(backend: LocalBackend, spec: AgentSpec | ToolSpec) -> None:
    if isinstance(spec, AgentSpec):
        backend.register_agent(spec)
    else:
        backend.register_tool(spec)


def registry_specs(bundle: Bundle) -> list[AgentSpec | ToolSpec]:
    """The bundle's ``Agent`` and ``Tool`` entities as registry specs."""
    specs: list[AgentSpec | ToolSpec] = []
    for entity in bundle.entities:
        uid, attrs = entity.get("uid") or {}, entity.get("attrs") or {}
        try:
            if uid.get("type") == "Agent":
                specs.append(_agent_spec(uid["id"], attrs, entity.get("parents") or []))
            elif uid.get("type") == "Tool":
                specs.append(_tool_spec(uid["id"], attrs))
        except (ValueError, KeyError, TypeError) as exc:
            name = f'{uid.get("type")}::"{uid.get("id")}"'
            raise CaseError(f"entities.json: entity `{name}` cannot be registered: {exc}") from exc
    return specs


def _agent_spec(agent_id: str, attrs: Mapping[str, Any], parents: list[Any]) -> AgentSpec:
    teams = [p["id"] for p in parents if p.get("type") == "Team"]
    return AgentSpec(
        id=agent_id,
        display_name=attrs.get("display_name") or agent_id,
        owner=_ref(attrs.get("owner")) or "owner@unknown.example",
        team=_ref(attrs.get("team")) or (teams[0] if teams else "unassigned"),
        status=attrs.get("status", "active"),
        risk_tier=attrs.get("risk_tier", "medium"),
    )


def _tool_spec(name: str, attrs: Mapping[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=attrs.get("description", ""),
        annotations=AnnotationsSpec(
            read_only=attrs.get("read_only", False),
            destructive=attrs.get("destructive", True),
            external=attrs.get("external", True),
            labels=attrs.get("labels", []),
        ),
    )


def _ref(value: Any) -> str | None:
    """The id of a Cedar entity reference (``{"__entity": {...}}`` or ``{type, id}``)."""
    if isinstance(value, dict):
        target = value.get("__entity", value)
        return str(target["id"]) if isinstance(target, dict) and "id" in target else None
    return str(value) if isinstance(value, str) else None


def _print_results(results: Sequence[CaseResult]) -> None:
    table = Table("#", "case", "expected", "got", "result", "why (failures)")
    for number, result in enumerate(results, 1):
        got = result.decision.outcome.value
        mark = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
        table.add_row(
            str(number),
            result.case.name,
            result.case.expected.value,
            f"[{OUTCOME_STYLE[got]}]{got}[/]",
            mark,
            "" if result.passed else reasons_text(result.decision),
        )
    console.print(table)
    failed = sum(not r.passed for r in results)
    summary = f"{len(results) - failed} passed, {failed} failed"
    console.print(f"[red]{summary}[/]" if failed else f"[green]{summary}[/]", highlight=False)


def reasons_text(decision: Decision) -> str:
    """Each reason as ``code: message``, one per line."""
    return "\n".join(f"{r.code}: {r.message}" for r in decision.reasons) or "-"
