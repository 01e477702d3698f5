"""Which context blocks the policies read: blocks no policy reads stay out of Cedar's
request (they would only cost conversion time) but remain in the decision's features."""

from __future__ import annotations

from policy_helpers import prepare

from warden.decisions.pipeline import _cedar_context

FORBID = "forbid (principal, action, resource) when { %s };\n"


def test_the_attributes_policies_read_through_dot_and_has() -> None:
    prepared = prepare(
        "permit (principal, action, resource);\n",
        FORBID % "context has session && context.session.repeats >= 5",
        FORBID % "context.risk.external",
    )
    assert prepared.context_read == {"session", "risk"}


def test_a_policy_using_the_whole_context_reads_everything() -> None:
    prepared = prepare(FORBID % "context == context")
    assert prepared.context_read is None


def test_unread_blocks_are_left_out_of_the_cedar_context_only() -> None:
    blocks = {"risk": {"external": True}, "session": {"repeats": 9}, "drift": {"score": 99}}
    client = {"amount": 5, "session": "forged by the client"}
    assert _cedar_context(client, blocks, frozenset({"session"})) == {
        "amount": 5,
        "session": {"repeats": 9},
    }
    assert _cedar_context(client, blocks, None) == {"amount": 5, **blocks}
