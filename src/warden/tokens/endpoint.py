"""The token endpoint (OAuth 2.1 §3.2, RFC 6749 §3.2 and §5), free of HTTP.

The body is ``application/x-www-form-urlencoded`` and parsed strictly here: a parameter sent
twice is ``invalid_request`` (OAuth 2.1 §3.2.2) except ``resource`` (RFC 8707 §2) and
``audience`` (RFC 8693 §2.1), which may repeat; a parameter without a value counts as absent
(RFC 6749 §3.1). Then: ``grant_type`` (missing → ``invalid_request``, unknown →
``unsupported_grant_type``), client authentication (``clients.py``), the client's right to the
grant (``unauthorized_client``), a DPoP proof when sent or required (RFC 9449 §5 and §5.2,
``htm`` POST, ``htu`` the token endpoint URL), and the grant handler.

A request refused because its client is not a registered, active agent (an unknown client
id; a client whose agent is unknown, inactive or blocked) is reported to the ``on_refused``
hook as a :class:`Refusal` before the error is raised: that is how shadow agents are seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl

from warden.tokens.clients import (
    ClientAuthenticator,
    PresentedCredentials,
    presented_credentials,
)
from warden.tokens.errors import (
    InvalidClient,
    InvalidDpopProof,
    InvalidRequest,
    UnauthorizedClient,
    UnknownClient,
    UnsupportedGrantType,
)
from warden.tokens.grants import GrantHandler
from warden.tokens.models import Client, TokenRequest, TokenResponse

if TYPE_CHECKING:
    from warden.tokens.service import TokenContext

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 64
REPEATABLE = frozenset({"resource", "audience"})
CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


@dataclass(frozen=True, slots=True)
class Form:
    """A parsed form: single-valued parameters and the repeatable ones."""

    params: Mapping[str, str]
    repeated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse_form(body: bytes, content_type: str | None) -> Form:
    """RFC 6749 Appendix B decoding with OAuth's rules on repetition and empty values."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != FORM_TYPE:
        raise InvalidRequest(f"the request body must be `{FORM_TYPE}`")
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest(f"the request body is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the request body is not a valid form") from exc
    return _collect(pairs)


def _collect(pairs: Sequence[tuple[str, str]]) -> Form:
    params: dict[str, str] = {}
    repeated: dict[str, tuple[str, ...]] = {}
    for name, value in pairs:
        if not value:
            continue  # RFC 6749 §3.1: sent without a value = omitted
        if name in REPEATABLE:
            repeated[name] = (*repeated.get(name, ()), value)
        elif name in params:
            raise InvalidRequest(f"parameter `{name[:64]}` is repeated")
        else:
            params[name] = value
    return Form(params, repeated)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A token request refused because its client is not a registered, active agent."""

    client_id: str  # as presented: not authenticated when ``known_client`` is false
    known_client: bool
    agent_id: str | None  # the agent a registered client acts as
    agent_status: str | None  # that agent's status (``suspended``, ``blocked``...); None: unknown
    assertion: bool  # the client authenticated (or tried to) with a signed jwt / jwt-svid
    scope: tuple[str, ...]
    resources: tuple[str, ...]


RefusalHook = Callable[[Refusal], None]
"""Called on the request path: must not block (shadow agents record it in memory)."""


class DpopCheck(Protocol):
    """The DPoP verifier (``rfc9449.DpopVerifier.verify``) as the token endpoint uses it."""

    async def verify(
        self,
        dpop_headers: Sequence[str],
        *,
        method: str,
        url: str,
        now: int,
        require_nonce: bool = False,
    ) -> _Proof: ...


class _Proof(Protocol):
    @property
    def jkt(self) -> str: ...


class TokenEndpoint:
    """Authenticates the client and dispatches to the grant handler for ``grant_type``."""

    def __init__(
        self,
        *,
        url: str,
        clients: ClientAuthenticator,
        dpop: DpopCheck,
        grants: Mapping[str, GrantHandler],
        require_nonce: bool = False,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self.url = url
        self._clients = clients
        self._dpop = dpop
        self._grants = grants
        self._require_nonce = require_nonce
        self._on_refused = on_refused

    @property
    def grant_types(self) -> tuple[str, ...]:
        return tuple(self._grants)

    async def handle(
        self,
        form: Form,
        *,
        authorization: str | None,
        dpop_headers: Sequence[str],
        ctx: TokenContext,
    ) -> TokenResponse:
        grant_type = form.params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("`grant_type` is required")
        handler = self._grants.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(f"grant type `{grant_type[:100]}` is not supported")
        presented = presented_credentials(authorization, form.params)
        try:
            client = await self._clients.authenticate(presented, ctx.now)
        except UnknownClient:
            self._refused(form, presented, None, None)
            raise
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the `{grant_type}` grant")
        if client.agent_id is not None:
            status = ctx.agents.agent_status(client.agent_id)
            if status != "active":
                self._refused(form, presented, client, status)
            _check_agent_active(client.agent_id, status)
        jkt = await self._dpop_jkt(dpop_headers, client, ctx)
        return await handler.exchange(_request(grant_type, form, jkt), client, ctx)

    def _refused(
        self,
        form: Form,
        presented: PresentedCredentials,
        client: Client | None,
        status: str | None,
    ) -> None:
        if self._on_refused is None:
            return
        scope = form.params.get("scope", "")
        self._on_refused(
            Refusal(
                client_id=presented.client_id,
                known_client=client is not None,
                agent_id=None if client is None else client.agent_id,
                agent_status=status,
                assertion=presented.assertion is not None,
                scope=tuple(s for s in scope.split(" ") if s),
                resources=form.repeated.get("resource", ()),
            )
        )

    async def _dpop_jkt(
        self, dpop_headers: Sequence[str], client: Client, ctx: TokenContext
    ) -> str | None:
        if not dpop_headers:
            if client.dpop_bound:  # RFC 9449 §5.2 dpop_bound_access_tokens
                raise InvalidDpopProof("this client must send a `DPoP` proof")
            return None
        proof = await self._dpop.verify(
            dpop_headers,
            method="POST",
            url=self.url,
            now=int(ctx.now.timestamp()),
            require_nonce=self._require_nonce,
        )
        return proof.jkt


def _check_agent_active(agent_id: str, status: str | None) -> None:
    """A client that acts as an agent gets no token of any grant (refresh and code included)
    unless the agent is active: suspending an agent stops it everywhere at once."""
    if status is None:
        raise InvalidClient(f"agent `{agent_id}` is not registered")
    if status != "active":
        raise UnauthorizedClient(f"agent `{agent_id}` is {status}, not active")


def _request(grant_type: str, form: Form, jkt: str | None) -> TokenRequest:
    params = {k: v for k, v in form.params.items() if k not in CLIENT_AUTH_PARAMS}
    return TokenRequest(
        grant_type=grant_type,
        params=params,
        resources=form.repeated.get("resource", ()),
        audiences=form.repeated.get("audience", ()),
        dpop_jkt=jkt,
    )
