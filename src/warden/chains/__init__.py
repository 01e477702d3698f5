"""Delegation chains: hops signed by Warden, attenuation, judging against the root mandate,
and accountability back to the person (see docs/chains.md)."""
