"""Errors of the decision API.

::

    WardenError
    └── DecisionError
        ├── InvalidRequest         (``invalid_request``; ``field`` names the JSON path)
        ├── UnsupportedMediaType   (``unsupported_media_type``: the body is not JSON)
        └── RequestTooLarge        (``request_too_large``)

A refusal is not an error: a deny is a :class:`~warden.decisions.models.Decision`.
These errors are for requests Warden cannot even ask the question about.
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class DecisionError(WardenError):
    """A decision could not be asked for or made."""

    code = "decision_error"


class InvalidRequest(FieldError, DecisionError):
    """A decision request is malformed: a required field is missing or of the wrong type.

    ``field`` is the JSON path of the offending field as the client wrote it, e.g.
    ``subject.id`` or ``evaluations[2].resource.type``; empty for the body as a whole.
    """

    code = "invalid_request"


class UnsupportedMediaType(DecisionError):
    """The request body is declared as something other than JSON."""

    code = "unsupported_media_type"


class RequestTooLarge(DecisionError):
    """The request body is larger than the decision API accepts."""

    code = "request_too_large"
