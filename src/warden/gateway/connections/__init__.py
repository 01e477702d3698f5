"""Connections: the upstreams Warden's gateways reach (MCP servers, HTTP APIs) and the
credentials Warden holds for them, encrypted at rest, so agents never do."""
