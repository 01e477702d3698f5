"""Warden in-process: the same pipeline, policies and ledger the HTTP API uses.

    from warden import Warden

    with Warden.open("sqlite:///./.warden/warden.db") as warden:
        decision = warden.decide(
            {"type": "agent", "id": "spiffe://acme.example/agent/ap-clerk"},
            "invoke",
            {"type": "tool", "id": "payments.transfer"},
            {"amount": 120},
        )

``Warden.open`` runs Warden's event loop on a private thread so synchronous code can call
``decide``; async code uses ``await Warden.open_async(...)`` and ``await warden.adecide(...)``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from warden.decisions.errors import InvalidRequest
from warden.decisions.models import Action, Decision, DecisionRequest, Entity
from warden.mandates.service import IssuedMandate
from warden.mandates.specs import MandateSpec
from warden.runtime import Runtime

T = TypeVar("T")
EntityLike = Entity | Mapping[str, Any]
ActionLike = Action | Mapping[str, Any] | str


class Warden:
    """A handle on an embedded Warden. Close it (or use ``with``) to flush the ledger."""

    def __init__(
        self, runtime: Runtime, loop: asyncio.AbstractEventLoop, thread: threading.Thread | None
    ) -> None:
        self.runtime = runtime
        self._loop = loop
        self._thread = thread

    @classmethod
    def open(cls, database_url: str | None = None, *, bundle: Path | str | None = None) -> Warden:
        """Open Warden for synchronous use (its event loop runs on a daemon thread)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="warden-loop", daemon=True)
        thread.start()
        try:
            runtime = asyncio.run_coroutine_threadsafe(
                Runtime.open(database_url, bundle=bundle), loop
            ).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            raise
        return cls(runtime, loop, thread)

    @classmethod
    async def open_async(
        cls, database_url: str | None = None, *, bundle: Path | str | None = None
    ) -> Warden:
        """Open Warden on the running event loop, for ``await adecide(...)``."""
        runtime = await Runtime.open(database_url, bundle=bundle)
        return cls(runtime, asyncio.get_running_loop(), None)

    def decide(
        self,
        subject: EntityLike,
        action: ActionLike,
        resource: EntityLike,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Should ``subject`` do ``action`` on ``resource`` in ``context``? (synchronous)"""
        return self._call(self.runtime.decide(request_of(subject, action, resource, context)))

    async def adecide(
        self,
        subject: EntityLike,
        action: ActionLike,
        resource: EntityLike,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Should ``subject`` do ``action`` on ``resource`` in ``context``? (async)"""
        request = request_of(subject, action, resource, context)
        if self._thread is None:
            return await self.runtime.decide(request)
        return await asyncio.wrap_future(self._submit(self.runtime.decide(request)))

    def issue_mandate(
        self,
        person: str,
        request: str,
        *,
        profile: str | None = None,
        authorization_details: list[dict[str, Any]] | None = None,
        expires_in: int = 3600,
        caller: str = "sdk",
        agent: str | None = None,
    ) -> IssuedMandate:
        """Record and sign what ``person`` asked for; pass ``issued.token`` as
        ``context["mandate"]`` with every action taken for it (synchronous). With ``agent``
        (a SPIFFE ID) only that agent may act on it or delegate under it."""
        return self._call(
            self._issue(person, request, profile, authorization_details, expires_in, caller, agent)
        )

    async def aissue_mandate(
        self,
        person: str,
        request: str,
        *,
        profile: str | None = None,
        authorization_details: list[dict[str, Any]] | None = None,
        expires_in: int = 3600,
        caller: str = "sdk",
        agent: str | None = None,
    ) -> IssuedMandate:
        """:meth:`issue_mandate`, async."""
        work = self._issue(
            person, request, profile, authorization_details, expires_in, caller, agent
        )
        if self._thread is None:
            return await work
        return await asyncio.wrap_future(self._submit(work))

    async def _issue(
        self,
        person: str,
        request: str,
        profile: str | None,
        details: list[dict[str, Any]] | None,
        expires_in: int,
        caller: str,
        agent: str | None = None,
    ) -> IssuedMandate:
        spec = MandateSpec(
            person=person,
            request=request,
            profile=profile,
            authorization_details=details or [],
            expires_in=expires_in,
            agent=agent,
        )
        return await self.runtime.mandates.issue(spec, caller=caller, now=datetime.now(UTC))

    def close(self) -> None:
        if self._thread is None:
            raise RuntimeError("opened with open_async: use `await warden.aclose()`")
        self._call(self.runtime.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def aclose(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self.close)
        else:
            await self.runtime.close()

    def __enter__(self) -> Warden:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._thread is None:
            coro.close()
            raise RuntimeError("opened with open_async: use the async methods")
        return self._submit(coro).result()


def request_of(
    subject: EntityLike, action: ActionLike, resource: EntityLike, context: Mapping[str, Any] | None
) -> DecisionRequest:
    """A DecisionRequest from entities/actions given as models or plain mappings."""
    return DecisionRequest(
        subject=_entity(subject, "subject"),
        action=_action(action),
        resource=_entity(resource, "resource"),
        context=dict(context or {}),
    )


def _entity(value: EntityLike, role: str) -> Entity:
    if isinstance(value, Entity):
        return value
    try:
        return Entity(str(value["type"]), str(value["id"]), dict(value.get("properties") or {}))
    except (KeyError, TypeError) as exc:
        raise InvalidRequest(f"{role} needs `type` and `id`", field=role) from exc


def _action(value: ActionLike) -> Action:
    if isinstance(value, Action):
        return value
    if isinstance(value, str):
        return Action(value)
    try:
        return Action(str(value["name"]), dict(value.get("properties") or {}))
    except (KeyError, TypeError) as exc:
        raise InvalidRequest("action needs `name`", field="action") from exc
