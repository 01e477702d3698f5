"""Warden's own access control: who may use the admin API, SCIM and the CLI, and as what.

Roles: ``admin`` (everything), ``auditor`` (read-only, ledger included), ``approver`` (decides
step-up requests), ``owner`` (manages only the agents they own). People present a bearer
token Warden issued them (:class:`AccessService`); the static admin token is ``admin``.
"""

from warden.access.models import AccessToken, Principal, Role

__all__ = ["AccessToken", "Principal", "Role"]
