"""Errors of connections and the credential broker (mapped to HTTP in ``api.py``)."""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class ConnectionError_(WardenError):
    code = "connection_error"


class ConnectionNotFound(ConnectionError_):
    code = "connection_not_found"


class ConnectionExists(ConnectionError_):
    code = "connection_exists"


class InvalidConnection(FieldError, ConnectionError_):
    """A connection that cannot work as given; ``field`` names the part at fault."""

    code = "invalid_connection"


class SecretsUnavailable(ConnectionError_):
    """No encryption key is configured (or none can decrypt a stored secret)."""

    code = "secrets_unavailable"


class UpstreamAuthFailed(ConnectionError_):
    """Warden could not obtain the upstream credential (token endpoint down or refusing)."""

    code = "upstream_auth_failed"
