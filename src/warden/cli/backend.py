"""Where a CLI command does its work: a running Warden server, or the store itself.

    Backend
    ├── HttpBackend   ``--url`` / ``WARDEN_URL``, with the admin token (httpx)
    └── LocalBackend  the store at ``WARDEN_DATABASE_URL``, through a Runtime opened per command

Both answer with the same domain values (``Agent``, ``Tool``, ``PolicyRevision``,
``LedgerEntry``, ``VerifyReport``), so a command renders them one way whatever the backend.
A failure the user can act on is a :class:`BackendError` with a one-line message.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from warden.audit.models import LedgerEntry, VerifyReport, parse_event_type
from warden.cli.output import fail
from warden.decisions.models import Decision, DecisionRequest
from warden.errors import WardenError
from warden.policy.errors import PolicyValidationError
from warden.policy.models import Bundle, PolicyProblem, PolicyRevision
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations
from warden.registry.query import AgentPage, AgentQuery
from warden.registry.specs import AgentSpec, AgentUpdate, StatusChange, ToolSpec
from warden.server.auth import read_admin_token

if TYPE_CHECKING:
    from warden.runtime import Runtime

T = TypeVar("T")

CLI_AUTHOR = "warden cli"
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class BackendError(WardenError):
    """The server or the store could not do what a command asked."""

    code = "cli_backend_error"


class Backend(Protocol):
    """What the CLI's commands need from Warden, wherever it runs."""

    where: str
    """Where the work happens, for messages: a server URL or a database URL."""

    def register_agent(self, spec: AgentSpec) -> Agent: ...
    def agents(self) -> list[Agent]: ...
    def agent(self, agent_id: str) -> Agent: ...
    def search_agents(self, query: AgentQuery) -> AgentPage: ...
    def set_status(self, agent_id: str, change: StatusChange) -> Agent: ...
    def update_agent(self, agent_id: str, update: AgentUpdate) -> Agent: ...
    def orphaned(self) -> list[Agent]: ...
    def register_tool(self, spec: ToolSpec) -> Tool: ...
    def tools(self) -> list[Tool]: ...
    def import_tools(self, document: Any) -> list[Tool]: ...
    def validate_policies(self, bundle: Bundle) -> list[PolicyProblem]: ...

    def apply_policies(self, bundle: Bundle) -> PolicyRevision:
        """Activate ``bundle``; if invalid raise :class:`PolicyValidationError`, change nothing."""
        ...

    def revision(self, number: int | None = None) -> PolicyRevision | None:
        """Revision ``number``, or the active one; ``None`` if there is none."""
        ...

    def entries(self, *, last: int = 20, after: int | None = None) -> list[LedgerEntry]:
        """The ``last`` ledger entries, or up to ``last`` entries after seq ``after``."""
        ...

    def ledger_size(self) -> int | None:
        """How many entries the ledger holds, when the backend can tell cheaply."""
        ...

    def verify_ledger(self, progress: Callable[[int], None] | None = None) -> VerifyReport: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


def open_backend(url: str | None = None, *, database_url: str | None = None) -> Backend:
    """The server at ``url`` (or ``WARDEN_URL``) if given, else the local store."""
    server = url or os.environ.get("WARDEN_URL")
    if server:
        return HttpBackend(server, client_token())
    return LocalBackend(database_url)


def client_token() -> str | None:
    """The admin token to present: ``WARDEN_TOKEN``, ``WARDEN_ADMIN_TOKEN``, or the token file."""
    return os.environ.get("WARDEN_TOKEN") or read_admin_token()


# -- HTTP ----------------------------------------------------------------------------------------


class HttpBackend:
    """A running Warden server's admin API (``/v1``)."""

    def __init__(
        self, url: str, token: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.where = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=self.where, headers=headers, timeout=_TIMEOUT, transport=transport
        )

    def register_agent(self, spec: AgentSpec) -> Agent:
        return agent_from_dict(self._call("POST", "/v1/agents", json=spec.model_dump(mode="json")))

    def agents(self) -> list[Agent]:
        return [agent_from_dict(a) for a in self._call("GET", "/v1/agents")["agents"]]

    def agent(self, agent_id: str) -> Agent:
        return agent_from_dict(self._call("GET", _agent_path(agent_id)))

    def search_agents(self, query: AgentQuery) -> AgentPage:
        params = {
            "owner": query.owner,
            "team": query.team,
            "status": query.status.value if query.status else None,
            "risk_tier": query.risk_tier.value if query.risk_tier else None,
            "q": query.search,
            "active_since": query.active_since.isoformat() if query.active_since else None,
            "inactive_since": query.inactive_since.isoformat() if query.inactive_since else None,
            "sort": query.sort.value,
            "desc": query.descending,
            "limit": query.limit,
            "offset": query.offset,
        }
        body = self._call(
            "GET", "/v1/agents", params={k: v for k, v in params.items() if v is not None}
        )
        return AgentPage([agent_from_dict(a) for a in body["agents"]], body["total"], query)

    def set_status(self, agent_id: str, change: StatusChange) -> Agent:
        body = self._call(
            "POST", _agent_path(agent_id) + "/status", json=change.model_dump(mode="json")
        )
        return agent_from_dict(body)

    def update_agent(self, agent_id: str, update: AgentUpdate) -> Agent:
        changes = update.model_dump(mode="json", exclude_defaults=True)
        return agent_from_dict(self._call("PATCH", _agent_path(agent_id), json=changes))

    def orphaned(self) -> list[Agent]:
        return [agent_from_dict(a) for a in self._call("GET", "/v1/agents/orphaned")["agents"]]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any admin API call: the decoded JSON body, or a :class:`BackendError` naming
        the server's message (for commands without a typed method here)."""
        return self._call(method, path, **kwargs)

    def register_tool(self, spec: ToolSpec) -> Tool:
        return tool_from_dict(self._call("POST", "/v1/tools", json=spec.model_dump(mode="json")))

    def tools(self) -> list[Tool]:
        return [tool_from_dict(t) for t in self._call("GET", "/v1/tools")["tools"]]

    def import_tools(self, document: Any) -> list[Tool]:
        body = self._call("POST", "/v1/tools/import", json=document)
        return [tool_from_dict(t) for t in body["tools"]]

    def validate_policies(self, bundle: Bundle) -> list[PolicyProblem]:
        body = self._call("POST", "/v1/policies/validate", json=_bundle_body(bundle))
        return [problem_from_dict(p) for p in body["problems"]]

    def apply_policies(self, bundle: Bundle) -> PolicyRevision:
        body = self._call("POST", "/v1/policies", json=_bundle_body(bundle))
        return revision_from_dict(body, bundle)

    def revision(self, number: int | None = None) -> PolicyRevision | None:
        path = "/v1/policies/active" if number is None else f"/v1/policies/{number}"
        response = self._send("GET", path)
        if response.status_code == 404:
            return None
        body = self._body(response)
        return revision_from_dict(body, bundle_from_dict(body))

    def entries(self, *, last: int = 20, after: int | None = None) -> list[LedgerEntry]:
        params = {"limit": last} if after is None else {"limit": last, "after": after}
        body = self._call("GET", "/v1/audit/entries", params=params)
        return [entry_from_dict(e) for e in body["entries"]]

    def ledger_size(self) -> int | None:
        return None

    def verify_ledger(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        body = self._call("GET", "/v1/audit/verify")
        return VerifyReport(
            ok=bool(body["ok"]),
            entries_checked=int(body["entries_checked"]),
            first_bad_seq=body.get("first_bad_seq"),
            problem=body.get("problem"),
            detail=str(body.get("detail", "")),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._body(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise BackendError(f"warden at `{self.where}` did not answer in time") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise BackendError(f"cannot reach warden at `{self.where}`: {reason}") from None

    def _body(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and body is not None:
            return body
        raise _http_error(self.where, response, body)


def _http_error(where: str, response: httpx.Response, body: Any) -> WardenError:
    status = response.status_code
    if not isinstance(body, dict):
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        return BackendError(f"`{where}` answered {status}: {text}")
    message = str(body.get("message") or body.get("detail") or body.get("error") or status)
    if body.get("problems"):
        return PolicyValidationError(tuple(problem_from_dict(p) for p in body["problems"]))
    if status == 401:
        hint = "; set WARDEN_TOKEN to the server's admin token"
        return BackendError(f"warden at `{where}` refused the request (401): {message}{hint}")
    return BackendError(f"warden at `{where}` answered {status}: {message}", code=body.get("error"))


def _bundle_body(bundle: Bundle) -> dict[str, Any]:
    return {
        "policies": dict(bundle.policies),
        "schema": bundle.schema,
        "entities": [dict(e) for e in bundle.entities],
        "source": bundle.source,
    }


# -- wire dicts back into domain values ----------------------------------------------------------


def _agent_path(agent_id: str) -> str:
    return f"/v1/agents/{quote(agent_id, safe='/:')}"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def agent_from_dict(raw: Mapping[str, Any]) -> Agent:
    owners = raw.get("owners") or [raw["owner"]]
    return Agent(
        id=raw["id"],
        display_name=raw["display_name"],
        owner=raw["owner"],
        team=raw["team"],
        status=AgentStatus(raw["status"]),
        risk_tier=RiskTier(raw["risk_tier"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        updated_at=datetime.fromisoformat(raw["updated_at"]),
        co_owners=tuple(o for o in owners if o != raw["owner"]),
        purpose=raw.get("purpose", ""),
        expires_at=_when(raw.get("expires_at")),
        status_reason=raw.get("status_reason", ""),
        last_active_at=_when(raw.get("last_active_at")),
    )


def tool_from_dict(raw: Mapping[str, Any]) -> Tool:
    hints = raw.get("annotations") or {}
    return Tool(
        name=raw["name"],
        description=raw.get("description", ""),
        annotations=ToolAnnotations(
            read_only=bool(hints.get("read_only", False)),
            destructive=bool(hints.get("destructive", True)),
            external=bool(hints.get("external", True)),
            labels=frozenset(hints.get("labels", ())),
        ),
        input_schema=raw.get("input_schema"),
        created_at=datetime.fromisoformat(raw["created_at"]),
        updated_at=datetime.fromisoformat(raw["updated_at"]),
    )


def problem_from_dict(raw: Mapping[str, Any]) -> PolicyProblem:
    return PolicyProblem(
        file=str(raw.get("file", "")),
        line=int(raw.get("line") or 0),
        column=int(raw.get("column") or 0),
        policy_id=raw.get("policy_id"),
        message=str(raw.get("message", "")),
    )


def bundle_from_dict(raw: Mapping[str, Any]) -> Bundle:
    return Bundle(
        policies=dict(raw.get("policies") or {}),
        schema=str(raw.get("schema") or ""),
        entities=tuple(raw.get("entities") or ()),
        source=str(raw.get("source", "")),
    )


def revision_from_dict(raw: Mapping[str, Any], bundle: Bundle) -> PolicyRevision:
    return PolicyRevision(
        revision=int(raw["revision"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        author=str(raw["author"]),
        digest=str(raw["digest"]),
        bundle=bundle,
    )


def entry_from_dict(raw: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        seq=int(raw["seq"]),
        entry_id=str(raw["entry_id"]),
        version=int(raw["version"]),
        event_type=parse_event_type(str(raw["event_type"])),
        recorded_at=datetime.fromisoformat(raw["recorded_at"]),
        payload=dict(raw.get("payload") or {}),
        prev_hash=str(raw["prev_hash"]),
        hash=str(raw["hash"]),
    )


# -- local store ---------------------------------------------------------------------------------


class LocalBackend:
    """The store itself, through a :class:`Runtime` opened on first use and closed at the end.

    One event loop (``asyncio.Runner``) lives as long as the backend, so the ledger's writer
    task survives between calls.
    """

    def __init__(self, database_url: str | None = None) -> None:
        from warden.store.db import parse_database_url

        try:
            self._url = parse_database_url(database_url)
        except OSError as exc:
            where = database_url or os.environ.get("WARDEN_DATABASE_URL") or "the default store"
            raise BackendError(f"cannot open the store `{where}`: {exc.strerror or exc}") from exc
        self.where = _display_url(self._url.raw)
        self._runner = asyncio.Runner()
        self._runtime: Runtime | None = None

    def run(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``work`` against the runtime (opened on first use) on the backend's loop."""
        return self._runner.run(self._with_runtime(work))

    def change(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Like :meth:`run`, for work that changes the store: refused while a server owns it
        (the server would not see the change, and it is the ledger's writer)."""
        from warden.store.lock import serving_url

        server = serving_url(self._url.database_path) if self._url.database_path else None
        if server is not None:
            raise BackendError(
                f"a warden server at {server} is using this store; "
                f"send the change to it with --url {server} (or WARDEN_URL)"
            )
        return self.run(work)

    async def _with_runtime(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        if self._runtime is None:
            from warden.runtime import Runtime

            try:
                self._runtime = await Runtime.open(self._url.raw)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise BackendError(f"cannot open the store `{self.where}`: {reason}") from exc
        return await work(self._runtime)

    def register_agent(self, spec: AgentSpec) -> Agent:
        return self.change(
            lambda rt: rt.registry.register_agent(spec, actor=CLI_AUTHOR, now=_now())
        )

    def agents(self) -> list[Agent]:
        return self.run(lambda rt: rt.registry.agents())

    def agent(self, agent_id: str) -> Agent:
        return self.run(lambda rt: rt.registry.agent(agent_id))

    def search_agents(self, query: AgentQuery) -> AgentPage:
        return self.run(lambda rt: rt.registry.search(query))

    def set_status(self, agent_id: str, change: StatusChange) -> Agent:
        return self.change(
            lambda rt: rt.registry.transition(
                agent_id, change.status, actor=CLI_AUTHOR, reason=change.reason, now=_now()
            )
        )

    def update_agent(self, agent_id: str, update: AgentUpdate) -> Agent:
        return self.change(
            lambda rt: rt.registry.update_agent(agent_id, update, actor=CLI_AUTHOR, now=_now())
        )

    def orphaned(self) -> list[Agent]:
        return self.run(lambda rt: rt.registry.orphaned())

    def register_tool(self, spec: ToolSpec) -> Tool:
        return self.change(lambda rt: rt.registry.register_tool(spec, actor=CLI_AUTHOR, now=_now()))

    def tools(self) -> list[Tool]:
        return self.run(lambda rt: rt.registry.tools())

    def import_tools(self, document: Any) -> list[Tool]:
        from warden.registry.mcp import tools_from_mcp

        specs = tools_from_mcp(document)
        return self.change(
            lambda rt: rt.registry.register_tools(specs, actor=CLI_AUTHOR, now=_now())
        )

    def validate_policies(self, bundle: Bundle) -> list[PolicyProblem]:
        from warden.policy.engine import validate_bundle

        return validate_bundle(bundle)  # pure: no need to open the store

    def apply_policies(self, bundle: Bundle) -> PolicyRevision:
        return self.change(lambda rt: rt.apply_policies(bundle, author=CLI_AUTHOR))

    def revision(self, number: int | None = None) -> PolicyRevision | None:
        if number is None:
            return self.run(lambda rt: rt.policies.active())
        return self.run(lambda rt: rt.policies.get(number))

    def entries(self, *, last: int = 20, after: int | None = None) -> list[LedgerEntry]:
        if after is None:
            return self.run(lambda rt: rt.ledger_store.tail(last))
        return self.run(lambda rt: rt.ledger_store.scan(after, last))

    def ledger_size(self) -> int | None:
        return self.run(lambda rt: rt.ledger_store.count())

    def verify_ledger(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        from warden.audit.verify import verify

        return self.run(lambda rt: verify(rt.ledger_store, progress=progress))

    def decide(self, request: DecisionRequest) -> Decision:
        """Decide ``request`` (and record it in the ledger), as an enforcement point would."""
        return self.run(lambda rt: rt.decide(request))

    def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        try:
            if runtime is not None:
                self._runner.run(runtime.close())
        finally:
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()


def _display_url(raw: str) -> str:
    """A database URL fit to print: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(raw).render_as_string(hide_password=True)


def _now() -> datetime:
    return datetime.now(UTC)


# -- what every command shares -------------------------------------------------------------------

URL_HELP = "Warden server to talk to (else WARDEN_URL; with neither, the local store)."
JSON_HELP = "Print JSON instead of a table."


@contextmanager
def connect(url: str | None) -> Iterator[Backend]:
    """The backend for a command; any :class:`WardenError` ends the command with one line."""
    try:
        with open_backend(url) as backend:
            yield backend
    except WardenError as exc:
        fail(exc.message.strip().splitlines()[0] if exc.message.strip() else exc.code)


Work = Callable[["Runtime"], Awaitable[Any]]
"""What a command does on the local store (the runtime's own services)."""


def call_or_run(
    url: str | None, method: str, path: str, work: Work, *, change: bool = False, **http: Any
) -> Any:
    """``method path`` on the server at ``url``, or ``work`` on the local store (``change``:
    a write, refused while a server owns the store); the same JSON back either way."""
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            return backend.call(method, path, **http)
        assert isinstance(backend, LocalBackend)
        return backend.change(work) if change else backend.run(work)


def spec_problem(exc: ValidationError, options: Mapping[str, str]) -> str:
    """The first problem of a rejected spec, naming the command-line option at fault."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    option = options.get(field, field)
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = f" `{value}`" if isinstance(value, str) else ""
    return f"invalid {option}{shown}: {message[:1].lower()}{message[1:]}"
