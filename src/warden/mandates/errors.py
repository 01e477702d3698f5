"""Mandate errors."""

from __future__ import annotations

from warden.errors import WardenError


class MandateError(WardenError):
    code = "mandate_error"


class InvalidMandate(MandateError):
    """A presented mandate cannot be used; ``code`` says why (``mandate.expired``...)."""

    code = "mandate.invalid"


class UnknownProfile(MandateError):
    code = "unknown_profile"


class MandateForbidden(MandateError):
    """The caller may not act for that person."""

    code = "forbidden"


class ProvenanceUnavailable(MandateError):
    code = "provenance_unavailable"


class MandateNotFound(MandateError):
    code = "mandate_not_found"
