"""A :class:`~warden.gateway.core.Decider` in another process: Warden's gateway API over HTTP.

``warden mcp-proxy`` runs beside the agent, not in Warden, so it asks Warden's gateway API
(:mod:`warden.gateway.api`) with the agent's own access token. Whoever the token proves is the
caller; the :class:`Caller` in a :class:`Call` is ignored here (the server decides who it is).

Fail closed: an unreachable server, a timeout, a refused token, a 500, an answer that is not a
verdict — every one of them is a deny (``gateway.undecidable``), never an exception a caller
could mistake for a go-ahead. ``listable`` lists nothing then; ``observe`` reports nothing (the
call already ran). :meth:`RemoteGateway.check` is the exception: at start-up, a proxy wants to
know *why* it cannot work, so it raises :class:`GatewayUnavailable` with a one-line reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from warden.decisions.models import Outcome, Reason
from warden.errors import WardenError
from warden.gateway.api import DECISIONS_PATH, LISTABLE_PATH, OBSERVATIONS_PATH
from warden.gateway.core import DEFAULT_HOLD_SECONDS, INVOKE, Call, Caller, Verdict

log = logging.getLogger("warden.gateway.remote")

DECIDE_TIMEOUT = DEFAULT_HOLD_SECONDS + 30.0
"""Seconds to wait for a verdict: longer than the server's default step-up hold, so a held call
is answered by the server (approved or timed out), not cut off by the client."""
REQUEST_TIMEOUT = 30.0
"""Seconds to wait for a list or an observation."""


class GatewayUnavailable(WardenError):
    """Warden's gateway API cannot be used (unreachable, the token refused, a bad answer)."""

    code = "gateway.unavailable"


class RemoteGateway:
    """Decide, observe and list through the gateway API of the Warden at ``url``, as the agent
    whose access token (audience ``<url>/mcp/<server>``) is ``token``."""

    def __init__(
        self,
        url: str,
        server: str,
        token: str,
        *,
        decide_timeout: float = DECIDE_TIMEOUT,
        timeout: float = REQUEST_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.server = server
        self.decide_timeout = decide_timeout
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> RemoteGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check(self) -> Caller:
        """The agent the token proves, asking the server (an empty ``listable``); raises
        :class:`GatewayUnavailable` saying why the server cannot be used."""
        try:
            answer = await self._http.post(LISTABLE_PATH, json=self._body(tools=[]))
        except httpx.HTTPError as error:
            raise GatewayUnavailable(
                f"warden at {self.url} is unreachable ({_kind(error)})"
            ) from None
        if answer.status_code != 200:
            raise GatewayUnavailable(
                f"warden at {self.url} refused the agent's token for MCP server "
                f"`{self.server}`: {answer.status_code} {_error_of(answer)}"
            )
        agent = _json_object(answer).get("agent")
        if not isinstance(agent, str):
            raise GatewayUnavailable(f"warden at {self.url} did not name the token's agent")
        return Caller(agent=agent, token_id="")

    async def decide(self, call: Call) -> Verdict:
        """The server's verdict on ``call``; a deny ``gateway.undecidable`` when there is none."""
        body = self._body(
            tool=call.tool,
            action=call.action,
            arguments=dict(call.arguments),
            mandate=call.mandate,
            chain=call.chain,
        )
        try:
            answer = await self._http.post(DECISIONS_PATH, json=body, timeout=self.decide_timeout)
        except Exception as error:  # any failure on the way: not forwarded
            log.warning("no verdict on `%s` from %s: %s", call.tool, self.url, _kind(error))
            return undecidable(call.tool, f"Warden could not be reached ({_kind(error)})")
        if answer.status_code != 200:
            log.warning("no verdict on `%s`: %s", call.tool, answer.status_code)
            why = f"Warden answered {answer.status_code} {_error_of(answer)}"
            return undecidable(call.tool, why)
        try:
            return _verdict(_json_object(answer), call.tool)
        except Exception:
            log.warning("not a verdict on `%s` from %s", call.tool, self.url)
            return undecidable(call.tool, "Warden's answer was not a verdict")

    async def observe(self, call: Call, result: Any) -> dict[str, Any] | None:
        """Report ``result`` to the call's mandate; None without a mandate or on any failure
        (the call already ran: nothing to refuse any more)."""
        if call.mandate is None:
            return None
        body = self._body(tool=call.tool, mandate=call.mandate, chain=call.chain, result=result)
        try:
            answer = await self._http.post(OBSERVATIONS_PATH, json=body)
            if answer.status_code == 200:
                observation = _json_object(answer).get("observation")
                return observation if isinstance(observation, dict) else None
            log.warning("observation of `%s` refused: %s", call.tool, answer.status_code)
        except Exception as error:
            log.warning("observation of `%s` not reported: %s", call.tool, _kind(error))
        return None

    async def report(self, call: Call, result: Any) -> None:
        """:meth:`observe`, awaited: the proxy's next call is decided after it."""
        await self.observe(call, result)

    async def listable(
        self, caller: Caller, tools: Sequence[str], *, action: str = INVOKE
    ) -> set[str]:
        """The tools the token's agent may be shown; none on any failure."""
        try:
            answer = await self._http.post(
                LISTABLE_PATH, json=self._body(tools=list(tools), action=action)
            )
            if answer.status_code == 200:
                shown = _json_object(answer).get("tools")
                if isinstance(shown, list):
                    return {t for t in shown if isinstance(t, str)} & set(tools)
            log.warning("tools not listable: %s", answer.status_code)
        except Exception as error:
            log.warning("tools not listable: %s", _kind(error))
        return set()

    def _body(self, **fields: Any) -> dict[str, Any]:
        return {"server": self.server, **{k: v for k, v in fields.items() if v is not None}}


def undecidable(tool: str, why: str) -> Verdict:
    """The deny for a call no verdict was had for."""
    message = f"{why}, so the call was not forwarded"
    reason = Reason("gateway.undecidable", message, "gateway", Outcome.DENY)
    return Verdict(Outcome.DENY, (reason,), None, tool)


def _verdict(body: dict[str, Any], tool: str) -> Verdict:
    reasons = tuple(
        Reason(str(r["code"]), str(r["message"]), str(r["source"]), Outcome(r["outcome"]))
        for r in body["reasons"]
    )
    approval = body.get("approval")
    decision_id = body.get("decision_id")
    return Verdict(
        outcome=Outcome(body["outcome"]),
        reasons=reasons,
        decision_id=str(decision_id) if decision_id else None,
        tool=tool,
        approval=str(approval) if approval else None,
    )


def _json_object(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def _error_of(answer: httpx.Response) -> str:
    """The server's error code and description, never echoing what was sent."""
    try:
        body = _json_object(answer)
    except Exception:
        return "(no JSON body)"
    code = body.get("error", "")
    text = body.get("error_description") or body.get("message") or ""
    return f"{code}: {text}" if text else str(code)


def _kind(error: BaseException) -> str:
    """What went wrong, without the request (which holds the token in its headers)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
