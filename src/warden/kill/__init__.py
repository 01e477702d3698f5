"""The kill switch: stop an agent, a session, a delegation chain, a mandate or everything a
person set in motion — on the very next action, everywhere (see docs/kill-switch.md)."""
