"""The in-memory tally: many sightings of one identifier become one, bounded in size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.shadow.models import MAX_TOOLS, Observation, SightingKind
from warden.shadow.tally import Tally

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GHOST = "spiffe://acme.example/agent/ghost"
SUBJECT, SPIFFE, CLIENT = SightingKind.SUBJECT, SightingKind.SPIFFE, SightingKind.OAUTH_CLIENT


def test_repeated_sightings_add_up() -> None:
    tally = Tally()
    later = T0 + timedelta(seconds=5)
    tally.add(Observation(SUBJECT, GHOST, "authzen", T0, tool="a", human="ann@x.io"))
    tally.add(Observation(SUBJECT, GHOST, "sdk", later, tool="b"))
    tally.add(Observation(SPIFFE, GHOST, "token_endpoint", T0, tool=["r", "scope:s"]))
    [subject, spiffe], dropped = tally.take()
    assert dropped == 0 and len(tally) == 0
    assert (subject.count, subject.first_seen, subject.last_seen) == (2, T0, later)
    assert list(subject.surfaces) == ["authzen", "sdk"]
    assert list(subject.tools) == ["a", "b"] and list(subject.humans) == ["ann@x.io"]
    assert spiffe.count == 1 and list(spiffe.tools) == ["r", "scope:s"]


def test_the_latest_registry_status_wins() -> None:
    tally = Tally()
    later = T0 + timedelta(minutes=1)
    tally.add(Observation(SUBJECT, GHOST, "authzen", later, registry_status="suspended"))
    tally.add(Observation(SUBJECT, GHOST, "authzen", T0, registry_status="provisioned"))
    [pending], _ = tally.take()
    assert pending.registry_status == "suspended" and pending.first_seen == T0


def test_a_flood_of_identifiers_is_bounded() -> None:
    tally = Tally(max_keys=3)
    for n in range(5):
        tally.add(Observation(CLIENT, f"wc_{n}", "token_endpoint", T0))
    tally.add(Observation(CLIENT, "wc_0", "token_endpoint", T0))  # already tallied: counted
    batch, dropped = tally.take()
    assert [p.identifier for p in batch] == ["wc_0", "wc_1", "wc_2"] and dropped == 2
    assert batch[0].count == 2


def test_tools_are_capped_per_sighting() -> None:
    tally = Tally()
    for n in range(MAX_TOOLS + 10):
        tally.add(Observation(SUBJECT, GHOST, "authzen", T0, tool=f"tool-{n}"))
    [pending], _ = tally.take()
    assert len(pending.tools) == MAX_TOOLS and pending.count == MAX_TOOLS + 10


def test_a_batch_put_back_merges_with_what_arrived_since() -> None:
    tally = Tally()
    tally.add(Observation(SUBJECT, GHOST, "authzen", T0, tool="a"))
    batch, _ = tally.take()  # a flush takes it, then fails to store it
    tally.add(Observation(SUBJECT, GHOST, "mcp", T0 + timedelta(1), tool="b"))
    tally.restore(batch)
    [pending], _ = tally.take()
    assert pending.count == 2 and list(pending.tools) == ["a", "b"]
    assert list(pending.surfaces) == ["authzen", "mcp"] and pending.last_seen == T0 + timedelta(1)
