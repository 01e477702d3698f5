"""What Warden serves over SCIM 2.0: the resource types, their schemas, the capabilities.

Users and Groups are RFC 7643 §4 (with the enterprise extension of §4.3). ``Agent`` is
Warden's own resource type (RFC 7643 §6 lets a service provider define one): the agents
of the registry — their identity and the lifecycle state Warden holds them in (status,
why, expiry, last activity: read-only; ``active`` is the switch) — with Warden's
governance extension carrying what the registry needs to hold someone accountable
(owner, co-owners, team, purpose, risk tier).

The capabilities announced in ``/ServiceProviderConfig`` (RFC 7643 §5) are those the
storage implements and the tests exercise: PATCH, filtering, sorting, ETags, index
pagination. Bulk, password changes and cursors are not offered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Extension,
    External,
    Filter,
    Group,
    Mutability,
    Pagination,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
    User,
)

from warden.registry.models import AgentStatus, RiskTier

AGENT_SCHEMA = "urn:warden:params:scim:schemas:core:2.0:Agent"
GOVERNANCE_SCHEMA = "urn:warden:params:scim:schemas:extension:governance:2.0:Agent"

MAX_RESULTS = 1000
"""The most resources one search answers (``filter.maxResults``, ``maxPageSize``)."""

DEFAULT_PAGE_SIZE = 100


class AgentGovernance(Extension):
    """Warden's governance of an agent: who is accountable for it, which team it belongs
    to, what it is for and how risky it is."""

    __schema__ = URN(GOVERNANCE_SCHEMA)

    owner: Annotated[str | None, Required.true] = None
    """The accountable person's email (a SCIM User's userName or primary email)."""

    co_owners: list[str] | None = None
    """More accountable people (emails), so the agent is not orphaned when the owner leaves."""

    team: Annotated[str | None, Required.true, CaseExact.true] = None
    """The team the agent belongs to."""

    purpose: str | None = None
    """What the agent is for."""

    risk_tier: Annotated[RiskTier | None, Required.true] = None
    """How much harm the agent could do: low, medium, high or critical."""


class Agent(Resource[Any]):
    """A non-human actor registered with Warden, identified by its SPIFFE ID."""

    __schema__ = URN(AGENT_SCHEMA)

    name: Annotated[
        str | None, Required.true, Mutability.immutable, Uniqueness.server, CaseExact.true
    ] = None
    """The agent's name in Warden's trust domain (its SPIFFE ID is then
    ``spiffe://<trust domain>/agent/<name>``), or a whole SPIFFE ID."""

    spiffe_id: Annotated[str | None, Mutability.read_only, CaseExact.true] = None
    """The agent's SPIFFE ID, as the registry and its credentials know it."""

    display_name: Annotated[str | None, Required.true] = None
    """A human-readable name for the agent."""

    active: Annotated[bool | None, Required.true] = None
    """Whether the agent may act. True makes it active; false suspends an active agent
    (a provisioned agent stays provisioned)."""

    status: Annotated[AgentStatus | None, Mutability.read_only] = None
    """The lifecycle state: provisioned, active or suspended (set ``active`` to change it)."""

    status_reason: Annotated[str | None, Mutability.read_only] = None
    """Why the status last changed, e.g. ``orphaned`` or ``expired``."""

    expires_at: Annotated[datetime | None, Mutability.read_only] = None
    """When Warden suspends the agent automatically."""

    last_active_at: Annotated[datetime | None, Mutability.read_only] = None
    """When Warden last decided about one of the agent's actions."""


AgentResource = Agent[Annotated[AgentGovernance, Required.true]]  # type: ignore[type-arg]
"""The Agent resource with its governance extension, as ``/Agents`` serves it."""

RESOURCE_TYPES = (
    ResourceType.from_resource(User[EnterpriseUser]),
    ResourceType.from_resource(Group),
    ResourceType.from_resource(AgentResource),
)

BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="Warden bearer token",
    description="A person's access token from `warden access grant` (or the admin token), "
    "as `Authorization: Bearer <token>`",
    spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
    primary=True,
)

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    pagination=Pagination(
        index=True,
        cursor=False,
        default_pagination_method=Pagination.DefaultPaginationMethod.index,
        default_page_size=DEFAULT_PAGE_SIZE,
        max_page_size=MAX_RESULTS,
    ),
    authentication_schemes=[BEARER],
)

# Microsoft Entra removes group members with a `value` instead of a path filter, and
# replaces `emails[type eq "work"].value` on users that have no work email yet.
POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def scim_provider() -> ScimProvider:
    """Warden as a SCIM service provider: its schemas, resource types and capabilities."""
    return ScimProvider(
        models=[User, EnterpriseUser, Group, Agent, AgentGovernance],
        resource_types=RESOURCE_TYPES,
        config=CONFIG,
        policy=POLICY,
    )
