"""Entitlements: least-privilege grants of tools/resources/actions to agents.

:class:`EntitlementService` grants, revokes, prunes and restores them (each change audited and
in force on the very next decision); grants in force are compiled into Cedar permits merged
with the active bundle (:mod:`warden.entitlements.cedar`); provisioning templates grant what a
purpose needs (:mod:`warden.entitlements.templates`); right-sizing finds grants the ledger
shows unused (:meth:`EntitlementService.unused`).
"""

from warden.entitlements.models import Entitlement, GrantState
from warden.entitlements.service import EntitlementService, TemplateResult, UnusedReport
from warden.entitlements.templates import Template

__all__ = [
    "Entitlement",
    "EntitlementService",
    "GrantState",
    "Template",
    "TemplateResult",
    "UnusedReport",
]
