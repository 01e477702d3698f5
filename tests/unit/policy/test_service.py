from __future__ import annotations

from datetime import UTC, datetime

import pytest
from policy_helpers import decide

from warden.decisions.models import Outcome
from warden.policy import Bundle, PolicyService, PolicyValidationError, default_schema
from warden.policy.store.memory import MemoryPolicyStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GOOD = Bundle({"a.cedar": "permit(principal, action, resource);"}, default_schema(), source="t")
BAD = Bundle({"a.cedar": "forbid(principal, action, resource) when { nope };"}, default_schema())


async def test_apply_stores_a_revision_and_prepares_it() -> None:
    service = PolicyService(MemoryPolicyStore())
    revision, prepared = await service.apply(GOOD, "ann", NOW)
    assert (revision.revision, revision.author, revision.created_at) == (1, "ann", NOW)
    assert revision.digest == GOOD.digest == prepared.digest
    assert prepared.revision == 1
    assert decide(prepared).outcome is Outcome.ALLOW
    assert await service.active() == revision
    assert await service.get(1) == revision
    assert await service.get(2) is None


async def test_apply_with_a_bad_bundle_leaves_the_active_revision() -> None:
    service = PolicyService(MemoryPolicyStore())
    first, _ = await service.apply(GOOD, "ann", NOW)
    with pytest.raises(PolicyValidationError) as caught:
        await service.apply(BAD, "bob", NOW)
    assert caught.value.problems[0].file == "a.cedar"
    assert await service.active() == first
    assert [r.revision for r in await service.history()] == [1]


async def test_validate_reports_without_storing() -> None:
    service = PolicyService(MemoryPolicyStore())
    assert await service.validate(GOOD) == []
    [problem] = await service.validate(BAD)
    assert (problem.line, problem.column) == (1, 44)
    assert await service.active() is None


async def test_history_is_newest_first() -> None:
    service = PolicyService(MemoryPolicyStore())
    for author in ("a", "b", "c"):
        await service.apply(GOOD, author, NOW)
    assert [(r.revision, r.author) for r in await service.history()] == [
        (3, "c"),
        (2, "b"),
        (1, "a"),
    ]
