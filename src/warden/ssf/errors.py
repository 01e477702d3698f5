"""Shared Signals transmitter errors::

SsfError
├── InvalidEvent          a CAEP event is missing a required field or has a bad value (names it)
├── InvalidStreamConfig   a stream configuration or status request is malformed (names the field)
├── StreamNotFound        no stream with that ``stream_id``
└── StreamDisabled        the stream is disabled: nothing is queued on it
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class SsfError(WardenError):
    code = "ssf_error"


class InvalidEvent(FieldError, SsfError):
    code = "invalid_event"


class InvalidStreamConfig(FieldError, SsfError):
    code = "invalid_request"


class StreamNotFound(SsfError):
    code = "not_found"


class StreamDisabled(SsfError):
    code = "stream_disabled"
