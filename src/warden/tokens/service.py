"""The token service: what every grant handler is given (see ``grants/``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warden.tokens.settings import TokenSettings


@dataclass(frozen=True, slots=True)
class TokenContext:
    """Per-request context handed to a grant handler; ``now`` is the request's clock."""

    settings: TokenSettings
    now: datetime
