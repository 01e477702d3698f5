"""Warden's policy engine: Cedar bundles, validated once and evaluated per request.

Phases, as in DESIGN.md: :func:`load_bundle` reads a bundle folder; ``PreparedPolicies.prepare``
validates it (every problem with file, line and column) and parses it once;
``PreparedPolicies.evaluate`` answers allow, deny or step_up for one request; the
:class:`PolicyService` keeps the revision history in a :class:`PolicyStore`.
"""

from warden.policy.bundle import default_schema, load_bundle
from warden.policy.engine import NO_PERMIT, POLICY_ERROR, PolicyVerdict, PreparedPolicies
from warden.policy.errors import BundleError, InvalidValue, PolicyError, PolicyValidationError
from warden.policy.models import Bundle, PolicyProblem, PolicyRevision
from warden.policy.service import PolicyService
from warden.policy.store import PolicyStore
from warden.policy.values import cedar_entity, cedar_entity_type, to_cedar_value

__all__ = [
    "NO_PERMIT",
    "POLICY_ERROR",
    "Bundle",
    "BundleError",
    "InvalidValue",
    "PolicyError",
    "PolicyProblem",
    "PolicyRevision",
    "PolicyService",
    "PolicyStore",
    "PolicyValidationError",
    "PolicyVerdict",
    "PreparedPolicies",
    "cedar_entity",
    "cedar_entity_type",
    "default_schema",
    "load_bundle",
    "to_cedar_value",
]
