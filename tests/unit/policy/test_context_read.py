"""What of the context the policies read: unread blocks and fields stay out of Cedar's request
(they would only cost conversion time), and the outcome is the same as with everything."""

from __future__ import annotations

from policy_helpers import AGENT, INVOKE, TOOL, context, prepare, request_entities

FORBID = "forbid (principal, action, resource) when { %s };\n"
PERMIT = "permit (principal, action, resource);\n"
SESSION = {"repeats": 9, "labels_seen": ["secret"], "m10": {"destructive": 6}, "m1": {}}


def test_fields_read_through_dot_and_has_and_blocks_read_whole() -> None:
    prepared = prepare(
        PERMIT,
        FORBID % "context has session && context.session.repeats >= 5",
        FORBID % "context has session && context.session.m10.destructive >= 5",
        FORBID % "context has session && context.session has labels_seen && "
        'context.risk.labels.contains("x")',
        FORBID % "context has drift",
    )
    reads = prepared.context_reads
    assert reads.attributes == {
        "session": {"repeats", "m10", "labels_seen"},
        "risk": {"labels"},
        "drift": frozenset(),
    }
    blocks = {"session": SESSION, "risk": {"labels": [], "external": True}, "mandate": {"x": 1}}
    assert reads.prune(blocks) == {
        "session": {"repeats": 9, "labels_seen": ["secret"], "m10": {"destructive": 6}},
        "risk": {"labels": []},
    }


def test_a_policy_using_a_block_or_the_context_whole_keeps_it_whole() -> None:
    whole = prepare(FORBID % "context has session && context.session == context.session")
    block = whole.context_reads
    assert block.prune({"session": SESSION, "drift": {}}) == {"session": SESSION}
    everything = prepare(FORBID % "context == context").context_reads
    assert everything.prune({"session": SESSION, "drift": {}}) == {"session": SESSION, "drift": {}}


def test_pruning_never_changes_a_decision() -> None:
    prepared = prepare(PERMIT, FORBID % "context has session && context.session.repeats >= 5")
    entities = request_entities(prepared)
    for repeats, allowed in ((9, False), (1, True)):
        full = {**context(), "session": {**SESSION, "repeats": repeats}}
        pruned = prepared.context_reads.prune(full)
        assert pruned == {"session": {"repeats": repeats}}
        for ctx in (full, pruned):
            verdict = prepared.evaluate(AGENT, INVOKE, TOOL, ctx, entities)
            assert (verdict.outcome.value == "allow") is allowed
