"""Entitlements: least-privilege grants of tools/resources/actions to agents."""
