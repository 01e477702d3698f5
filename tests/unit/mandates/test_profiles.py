"""Purpose profiles: validation with file:line:column, and ``judge`` — scope, argument limits,
provenance, budgets across calls, data flows, chain depth, step-up."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from warden.mandates.models import Provenance, Source
from warden.mandates.profiles import Judgement, ProfileInvalid, PurposeProfile, load_file, parse

PAYMENTS = """\
name: test-payments
version: 7
description: Pay approved supplier invoices
examples: [Pay invoice 7731 from Globex]
tools:
  - erp.invoice.read
  - tool: "erp.vendor.*"
    read_only: true
  - tool: payments.transfer
    sink: external
    arguments:
      amount: {min: 0.01, max: 10000, from: [request, designated]}
      iban:
        schema: {type: string, pattern: "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"}
        from: [request, designated]
  - tool: email.send
    sink: external
    arguments:
      to: {allowed_domains: [acme.example]}
  - tool: chat.post
    arguments:
      channel: {allowed_recipients: ["#finance", "#ap-*"]}
  - tool: storage.internal.upload
    sink: internal
  - tool: storage.external.upload
budgets:
  - {name: payments, tools: ["payments.*"], argument: amount, limit: 10000, currency: EUR}
flows:
  - {labels: [bank_details, pii], may_reach: [internal]}
max_chain_depth: 2
step_up:
  - tools: ["payments.*"]
    when: {argument: amount, over: 5000}
  - tools: [email.send]
    when: {source_not_in: [request, designated]}
  - when: {injected: true}
  - tools: [storage.internal.upload]
"""

IBAN = "DE89370400440532013000"
TRUSTED = {
    "amount": Provenance("amount", Source.REQUEST),
    "iban": Provenance("iban", Source.DESIGNATED),
}


@pytest.fixture(scope="module")
def profile() -> PurposeProfile:
    return parse(PAYMENTS, "payments.yaml")


def judge(
    profile: PurposeProfile,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    provenance: Mapping[str, Provenance] | None = None,
    spent: Mapping[str, float] | None = None,
    chain_depth: int = 1,
    read_only: bool = False,
    external: bool = False,
    labels: frozenset[str] = frozenset(),
) -> Judgement:
    return profile.judge(
        tool,
        arguments,
        provenance=TRUSTED if provenance is None else provenance,
        spent=spent or {},
        chain_depth=chain_depth,
        read_only=read_only,
        external=external,
        labels_in=labels,
    )


def rules(judgement: Judgement) -> list[str]:
    return [v.rule for v in judgement.violations]


def problems(text: str, source: str = "p.yaml") -> list[str]:
    with pytest.raises(ProfileInvalid) as caught:
        parse(text, source)
    return [str(p) for p in caught.value.problems]


# -- validation ---------------------------------------------------------------------------------


def test_a_valid_profile_is_prepared_and_the_store_assigns_its_version(
    profile: PurposeProfile,
) -> None:
    assert profile.name == "test-payments"
    assert profile.version == 0  # `version: 7` in the file is not trusted: the store assigns it
    assert profile.examples == ("Pay invoice 7731 from Globex",)
    assert profile.tool_patterns[:3] == ("erp.invoice.read", "erp.vendor.*", "payments.transfer")
    assert len(profile.digest) == 64


def test_schema_problems_carry_file_line_and_column() -> None:
    text = """\
name: Bad_Name
description: pays
examples: []
tools:
  - tool: payments.transfer
    sinkk: external
  - 42
budgets:
  - {name: pay, tools: ["payments.*"], argument: amount, limit: -3}
step_up:
  - when: {argument: amount}
flows:
  - {labels: [pii], may_reach: [outside]}
colour: blue
"""
    found = problems(text, "bad.yaml")
    assert found[0].startswith("bad.yaml:1:7: `name`: `Bad_Name` does not have the expected form")
    assert "bad.yaml:3:11: `examples`: must not be empty" in found
    assert any(p.startswith("bad.yaml:6:5: `tools.0`: unknown key `sinkk`") for p in found)
    assert any(p.startswith("bad.yaml:7:5: `tools.1`:") for p in found)
    assert "bad.yaml:9:65: `budgets.0.limit`: must be more than 0" in found
    assert "bad.yaml:11:11: `over` is required in `step_up.0.when`" in found
    assert any(p.startswith("bad.yaml:13:33: `flows.0.may_reach.0`: must be one of") for p in found)
    assert any(p.startswith("bad.yaml:14:1: unknown key `colour`") for p in found)


def test_problems_a_schema_cannot_state_are_found_with_their_line() -> None:
    text = """\
name: rules
description: d
examples: [e]
tools:
  - tool: a.b
    arguments:
      amount: {min: 10, max: 5}
      note:
        schema: {type: strnig}
  - a.b
budgets:
  - {name: pay, tools: [a.b], argument: amount, limit: 1}
  - {name: pay, tools: [a.b], argument: amount, limit: 2}
"""
    found = problems(text)
    assert "p.yaml:7:21: `amount`: `min` 10 is above `max` 5" in found
    assert any(p.startswith("p.yaml:9:24: `note`: not a valid JSON Schema") for p in found)
    assert "p.yaml:10:5: tool pattern `a.b` is given twice" in found
    assert "p.yaml:13:5: budget name `pay` is given twice" in found


def test_broken_yaml_duplicate_keys_and_an_empty_file_are_reported_by_position() -> None:
    assert problems("name: [unclosed\n")[0].startswith("p.yaml:2:1: not valid YAML")
    dup = "name: a\nname: b\ndescription: d\nexamples: [e]\ntools: [x]\n"
    assert problems(dup) == ["p.yaml:2:1: `name` is given twice"]
    assert problems("") == ["p.yaml:1:1: the profile is empty"]
    assert problems("- a list\n") == ["p.yaml:1:1: `the profile`: must be a mapping"]


def test_aliases_are_refused_so_a_small_file_cannot_expand_enormously() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    assert problems(bomb + "name: n\n") == [
        "p.yaml:2:8: anchors and aliases (`*name`) are not supported in a profile"
    ]


def test_names_of_api_paths_are_reserved() -> None:
    text = "name: schema\ndescription: d\nexamples: [e]\ntools: [x]\n"
    assert problems(text) == ["p.yaml:1:7: `name` `schema` is reserved: choose another"]


def test_a_file_is_read_and_named_in_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ndescription: d\nexamples: [e]\n")
    with pytest.raises(ProfileInvalid) as caught:
        load_file(path)
    assert str(caught.value.problems[0]) == f"{path}:1:1: `tools` is required"


# -- scope and arguments ------------------------------------------------------------------------


def test_tools_in_scope_follow_the_patterns(profile: PurposeProfile) -> None:
    assert profile.in_scope("erp.vendor.read") and profile.in_scope("erp.vendor.bank.read")
    assert not profile.in_scope("erp.vendor") and not profile.in_scope("hr.records.read")
    out = judge(profile, "hr.records.read", {})
    assert rules(out) == ["tool.out_of_scope"]
    assert "purpose profile `test-payments` does not cover the tool `hr.records.read`" in (
        out.violations[0].message
    )


def test_numeric_limits_are_enforced_and_named(profile: PurposeProfile) -> None:
    assert rules(judge(profile, "payments.transfer", {"amount": 9000, "iban": IBAN})) == []
    over = judge(profile, "payments.transfer", {"amount": 12000.5, "iban": IBAN})
    assert rules(over) == ["argument.limit", "budget.exceeded"]
    assert over.violations[0].message == (
        "purpose profile `test-payments` limits `amount` of `payments.transfer` to at most "
        "10,000 (got 12,000.5)"
    )
    assert rules(judge(profile, "payments.transfer", {"amount": "0", "iban": IBAN})) == [
        "argument.limit"
    ]
    text = judge(profile, "payments.transfer", {"amount": "lots", "iban": IBAN})
    assert "requires `amount` of `payments.transfer` to be a number" in text.violations[0].message


def test_schema_violations_name_the_rule_but_never_the_value(profile: PurposeProfile) -> None:
    secret = "sk_live_0123456789abcdef"
    out = judge(profile, "payments.transfer", {"amount": 10, "iban": secret})
    assert rules(out) == ["argument.schema"]
    assert "`pattern`" in out.violations[0].message
    assert secret not in out.violations[0].message


def test_allowed_domains_cover_emails_urls_and_subdomains_only(profile: PurposeProfile) -> None:
    def to(*addresses: str) -> list[str]:
        return rules(judge(profile, "email.send", {"to": list(addresses)}))

    assert to("ap@acme.example", "Bo@Finance.ACME.example") == []
    assert to("https://wiki.acme.example/page") == []
    assert to("ap@acme.example", "mallory@acme.example.evil.test") == ["argument.domain"]
    assert to("x@notacme.example") == ["argument.domain"]


def test_allowed_recipients_are_patterns(profile: PurposeProfile) -> None:
    assert rules(judge(profile, "chat.post", {"channel": "#AP-europe"})) == []
    refused = judge(profile, "chat.post", {"channel": "#general"})
    assert rules(refused) == ["argument.recipient"]
    assert "`#general` is not one" in refused.violations[0].message


def test_a_recipient_account_must_come_from_the_person_not_a_tool_output(
    profile: PurposeProfile,
) -> None:
    args = {"amount": 100, "iban": IBAN}
    from_email = {**TRUSTED, "iban": Provenance("iban", Source.TOOL_OUTPUT, tool="email.read")}
    out = judge(profile, "payments.transfer", args, provenance=from_email)
    assert rules(out) == ["argument.provenance"]
    assert out.violations[0].message == (
        "purpose profile `test-payments` requires `iban` of `payments.transfer` to come from "
        "the person's request or data the person designated; it came from the output of "
        "`email.read` (untrusted)"
    )
    untraced = judge(profile, "payments.transfer", args, provenance={"amount": TRUSTED["amount"]})
    assert rules(untraced) == ["argument.provenance"]
    assert "it came from nowhere Warden has seen (unknown)" in untraced.violations[0].message


# -- budgets, flows, depth, step-up ---------------------------------------------------------


def test_three_transfers_of_9000_under_a_budget_of_10000_the_second_is_refused(
    profile: PurposeProfile,
) -> None:
    spent: dict[str, float] = {}
    outcomes = []
    for _ in range(3):
        out = judge(profile, "payments.transfer", {"amount": 9000, "iban": IBAN}, spent=spent)
        outcomes.append(rules(out))
        if not out.violations:
            for charge in out.charges:
                spent[charge.budget] = spent.get(charge.budget, 0.0) + charge.amount
    assert outcomes == [[], ["budget.exceeded"], ["budget.exceeded"]]
    assert spent == {"payments": 9000.0}
    second = judge(profile, "payments.transfer", {"amount": 9000, "iban": IBAN}, spent=spent)
    assert second.violations[0].message == (
        "purpose profile `test-payments` budget `payments` allows 10,000 EUR in total for the "
        "whole mandate; 9,000 EUR is already spent, 1,000 EUR is left and this action would "
        "spend 9,000 EUR"
    )
    assert (
        rules(judge(profile, "payments.transfer", {"amount": 1000, "iban": IBAN}, spent=spent))
        == []
    )


def test_charges_say_what_an_action_would_spend_and_refunds_are_refused(
    profile: PurposeProfile,
) -> None:
    out = judge(profile, "payments.transfer", {"amount": "250.50", "iban": IBAN})
    assert [(c.budget, c.amount, c.limit) for c in out.charges] == [("payments", 250.5, 10000)]
    assert judge(profile, "erp.invoice.read", {"amount": 5}).charges == ()
    negative = judge(profile, "payments.transfer", {"amount": -500, "iban": IBAN})
    assert "budget.amount" in rules(negative)


def test_bank_details_may_not_reach_an_external_sink(profile: PurposeProfile) -> None:
    bank = frozenset({"bank_details"})
    export = judge(profile, "storage.external.upload", {"file": "vendors.csv"}, external=True,
                   labels=bank)  # fmt: skip
    assert rules(export) == ["flow.forbidden"]
    assert export.violations[0].message == (
        "purpose profile `test-payments` lets data labelled `bank_details` reach only internal "
        "sinks; `storage.external.upload` is an external sink"
    )
    assert export.sink == "external"
    # the profile marks this one internal, whatever the tool's annotation says
    assert rules(judge(profile, "storage.internal.upload", {}, external=True, labels=bank)) == []
    # labels travel with an argument's provenance, too
    carried = {
        "body": Provenance("body", Source.TOOL_OUTPUT, "erp.vendor.read", frozenset({"pii"}))
    }
    mail = judge(profile, "email.send", {"to": "ap@acme.example"}, provenance=carried)
    assert rules(mail) == ["flow.forbidden"]


def test_delegation_deeper_than_the_profile_allows_is_refused(profile: PurposeProfile) -> None:
    assert rules(judge(profile, "erp.invoice.read", {}, chain_depth=2)) == []
    deep = judge(profile, "erp.invoice.read", {}, chain_depth=3)
    assert rules(deep) == ["chain.too_deep"]
    assert "allows at most 2 delegation hops; this action is 3 hops" in deep.violations[0].message


def test_step_up_rules_ask_a_person_without_denying(profile: PurposeProfile) -> None:
    big = judge(profile, "payments.transfer", {"amount": 6000, "iban": IBAN})
    assert big.violations == () and [v.rule for v in big.step_up] == ["step_up.amount"]
    assert big.step_up[0].outcome == "step_up" and not big.allowed
    assert judge(profile, "payments.transfer", {"amount": 4000, "iban": IBAN}).allowed

    output = {"to": Provenance("to", Source.TOOL_OUTPUT, tool="crm.contact.read")}
    mail = judge(profile, "email.send", {"to": "ap@acme.example"}, provenance=output)
    assert [v.rule for v in mail.step_up] == ["step_up.source"]
    assert "comes from another tool's output (`to`)" in mail.step_up[0].message

    injected = {"file": Provenance("file", Source.TOOL_OUTPUT, "web.fetch", injected=True)}
    upload = judge(profile, "erp.invoice.read", {"file": "x"}, provenance=injected)
    assert [v.rule for v in upload.step_up] == ["step_up.injected"]
    always = judge(profile, "storage.internal.upload", {}, provenance={})
    assert [v.rule for v in always.step_up] == ["step_up.tool"]


def test_a_source_step_up_watches_the_constrained_arguments_not_free_text(
    profile: PurposeProfile,
) -> None:
    # `to` is constrained for email.send; the subject is text the agent writes itself.
    written = {
        "to": Provenance("to", Source.REQUEST),
        "subject": Provenance("subject", Source.UNKNOWN),
    }
    mail = judge(
        profile, "email.send", {"to": "ap@acme.example", "subject": "Q3"}, provenance=written
    )
    assert mail.step_up == () and mail.allowed


def test_an_argument_not_passed_at_all_is_not_an_untrusted_one(profile: PurposeProfile) -> None:
    only_amount = {"amount": Provenance("amount", Source.REQUEST)}
    paid = judge(profile, "payments.transfer", {"amount": 100}, provenance=only_amount)
    assert "argument.provenance" not in rules(paid)
    forged = {**only_amount, "iban": Provenance("iban", Source.TOOL_OUTPUT, tool="web.fetch")}
    refused = judge(profile, "payments.transfer", {"amount": 100, "iban": IBAN}, provenance=forged)
    assert rules(refused) != []


def test_the_read_only_override_is_reported(profile: PurposeProfile) -> None:
    assert judge(profile, "erp.vendor.read", {}, read_only=False).read_only is True
    assert judge(profile, "payments.transfer", {"amount": 1, "iban": IBAN}).read_only is False


def test_judging_is_fast_for_typical_arguments(profile: PurposeProfile) -> None:
    args = {"amount": 9000, "iban": IBAN, "currency": "EUR"}
    judge(profile, "payments.transfer", args)  # warm the tool cache
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        judge(profile, "payments.transfer", args, spent={"payments": 500.0})
    per_call = (time.perf_counter() - started) / rounds
    # the target is ≤ 50 µs; a shared CI machine gets headroom, a per-call compile would not fit
    assert per_call < 500e-6, f"{per_call * 1e6:.0f} µs per judgement"
