"""The HTTP egress gateway: agents call ``/egress/<connection>/<path>``; Warden decides the call
(route, query, JSON body, mandate, chain), injects the connection's credential — which the agent
never holds — forwards, streams the answer back and observes it.

- :mod:`.routes`: what a request is as Warden judges it (route match, arguments).
- :mod:`.upstream`: the pooled client, header filtering, size limits, streaming.
- :mod:`.api`: the routes and the order of the steps.
"""

from warden.gateway.egress.api import EgressGateway, mount

__all__ = ["EgressGateway", "mount"]
