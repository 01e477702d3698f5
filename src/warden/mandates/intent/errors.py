"""Intent-matching errors::

WardenError
└── IntentError
    ├── UnknownMatcher        no matcher by that name
    └── MatcherUnavailable    the semantic extra is not installed (or its model is missing)
"""

from __future__ import annotations

from warden.errors import WardenError


class IntentError(WardenError):
    code = "intent_error"


class UnknownMatcher(IntentError):
    code = "unknown_matcher"


class MatcherUnavailable(IntentError):
    code = "matcher_unavailable"
