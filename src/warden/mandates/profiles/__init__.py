"""Purpose profiles: admin-authored, versioned YAML saying what a mandate for a purpose may do.

- :mod:`.profile` — :class:`PurposeProfile` (prepared rules) and its ``judge``
- :mod:`.loader`  — YAML → validated profile, with ``file:line:column`` problems
- :mod:`.store`, :mod:`.service` — the versioned store and :class:`ProfileService`
- :mod:`.api`     — ``/v1/profiles``
"""

from warden.mandates.profiles.errors import (
    ProfileError,
    ProfileInvalid,
    ProfileNotFound,
    ProfileProblem,
)
from warden.mandates.profiles.loader import load_file, packaged, parse, profile_schema
from warden.mandates.profiles.profile import Judgement, PurposeProfile

__all__ = [
    "Judgement",
    "ProfileError",
    "ProfileInvalid",
    "ProfileNotFound",
    "ProfileProblem",
    "PurposeProfile",
    "load_file",
    "packaged",
    "parse",
    "profile_schema",
]
