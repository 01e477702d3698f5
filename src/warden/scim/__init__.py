"""SCIM 2.0 (RFC 7643/7644): Warden as the service provider an IdP provisions.

``/scim/v2`` serves Users and Groups (kept in Warden's database) and Agents (the registry,
with Warden's governance extension). Deactivating or deleting a User in the IdP orphans the
agents that person alone owned (:class:`ScimPeople` is the registry's people directory).
"""

from warden.scim.directory import Person, ScimPeople
from warden.scim.service import ScimResources

__all__ = ["Person", "ScimPeople", "ScimResources"]
