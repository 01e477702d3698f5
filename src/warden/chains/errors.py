"""Chain errors. ``code`` says why, as a decision reason or a token endpoint refusal names it."""

from __future__ import annotations

from warden.errors import WardenError


class ChainError(WardenError):
    code = "chain_error"


class InvalidChain(ChainError):
    """A presented chain assertion cannot be used: ``chain.malformed``, ``chain.forged``,
    ``chain.expired``, ``chain.unknown``, ``chain.revoked``, ``chain.broken``."""

    code = "chain.invalid"


class DelegationRefused(ChainError):
    """A token exchange would widen, deepen, fan out or loop a chain, or launder intent:
    ``chain.widening``, ``chain.too_deep``, ``chain.fan_out``, ``chain.cycle``,
    ``chain.laundering``, ``chain.mandate_held``, ``chain.revoked``..."""

    code = "chain.refused"


class ChainNotFound(ChainError):
    code = "chain_not_found"
