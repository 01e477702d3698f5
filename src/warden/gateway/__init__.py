"""Enforcement at the point of operation: the MCP gateway, the HTTP egress gateway and the
credential broker, thin adapters around one decision call (:mod:`warden.gateway.core`)."""
