"""Shadow agents: identifiers that reach Warden without being registered, active agents.

Every surface records a *sighting* (:meth:`ShadowService.record`, memory only); sightings are
stored in batches, listed, and an administrator promotes one to a ``provisioned`` agent or
blocks it (denied everywhere with ``agent.blocked`` until unblocked). Shadow activity is
denied by default: an unknown or inactive agent gets no allow and no token.
"""

from warden.shadow.models import Sighting, SightingKind, SightingStatus, Surface
from warden.shadow.service import ShadowService

__all__ = ["ShadowService", "Sighting", "SightingKind", "SightingStatus", "Surface"]
