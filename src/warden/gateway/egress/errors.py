"""Errors of the HTTP egress gateway (mapped to HTTP in ``api.py``)::

WardenError
└── EgressError
    ├── NoRoute              the connection lists no route for the method and path (403)
    ├── InvalidEgressRequest a path, query or body Warden will not judge (400)
    ├── RequestTooLarge      the body is over the connection's ``max_request_bytes`` (413)
    ├── UpstreamUnreachable  connecting or talking to the upstream failed (502)
    ├── ResponseTooLarge     the upstream's answer is over ``max_response_bytes`` (502)
    └── UpstreamTimeout      the upstream did not answer within ``timeout`` (504)
"""

from __future__ import annotations

from warden.errors import WardenError


class EgressError(WardenError):
    code = "egress.error"


class NoRoute(EgressError):
    code = "egress.no_route"


class InvalidEgressRequest(EgressError):
    code = "egress.invalid_request"


class RequestTooLarge(EgressError):
    code = "egress.request_too_large"


class UpstreamUnreachable(EgressError):
    code = "egress.upstream_unreachable"


class ResponseTooLarge(EgressError):
    code = "egress.response_too_large"


class UpstreamTimeout(EgressError):
    code = "egress.upstream_timeout"
