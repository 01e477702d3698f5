"""The packaged profile library: every profile loads, and the rules that matter hold — the
AP-reconciliation export of vendor bank details is refused while reconciling is allowed."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from warden.mandates.models import Provenance, Source
from warden.mandates.profiles import PurposeProfile, packaged, profile_schema
from warden.mandates.profiles.loader import packaged_texts

LIBRARY = {
    "monthly-close",
    "invoice-payment",
    "vendor-onboarding",
    "ap-reconciliation",
    "employee-onboarding",
    "leave-request",
    "crm-update",
    "quote-preparation",
    "access-request",
    "incident-triage",
}


@pytest.fixture(scope="module")
def library() -> dict[str, PurposeProfile]:
    return {p.name: p for p in packaged()}


def test_the_published_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(profile_schema())
    text = (resources.files("warden.mandates") / "profile.schema.json").read_text("utf-8")
    assert json.loads(text)["title"] == "Warden purpose profile"


def test_every_packaged_profile_loads_and_is_named_after_its_file(
    library: dict[str, PurposeProfile],
) -> None:
    assert set(library) == LIBRARY
    for source, _ in packaged_texts():
        name = source.removeprefix("library/").removesuffix(".yaml")
        profile = library[name]
        assert len(profile.examples) >= 4, name
        assert profile.max_chain_depth is not None, name
        assert profile.flows, f"{name} says nothing about where data may flow"


def test_reconciliation_reads_but_refuses_exporting_bank_details(
    library: dict[str, PurposeProfile],
) -> None:
    ap = library["ap-reconciliation"]
    for tool in ("erp.invoice.read", "erp.ledger.read", "bank.statement.read", "erp.invoice.flag"):
        read = ap.judge(
            tool,
            {},
            provenance={},
            spent={},
            chain_depth=3,
            read_only=True,
            external=False,
            labels_in=frozenset(),
        )
        assert read.allowed, (tool, read)
    rows = {
        "rows": Provenance(
            "rows", Source.TOOL_OUTPUT, "erp.vendor.read", frozenset({"bank_details"})
        )
    }
    export = ap.judge(
        "storage.external.upload",
        {"rows": "…", "bucket": "s3://x"},
        provenance=rows,
        spent={},
        chain_depth=3,
        read_only=False,
        external=True,
        labels_in=frozenset(),
    )
    assert [v.rule for v in export.violations] == ["tool.out_of_scope", "flow.forbidden"]
    assert "purpose profile `ap-reconciliation`" in export.violations[0].message
    # even to an in-scope tool, bank details may not leave
    mail = ap.judge(
        "email.send",
        {"to": "ap@acme.example"},
        provenance=rows,
        spent={},
        chain_depth=1,
        read_only=False,
        external=True,
        labels_in=frozenset(),
    )
    assert [v.rule for v in mail.violations] == ["flow.forbidden"]


def test_invoice_payment_budget_stops_the_second_of_three_9000_transfers(
    library: dict[str, PurposeProfile],
) -> None:
    pay = library["invoice-payment"]
    trusted = {
        "amount": Provenance("amount", Source.REQUEST),
        "iban": Provenance("iban", Source.DESIGNATED),
    }
    spent: dict[str, float] = {}
    refused = []
    for _ in range(3):
        out = pay.judge(
            "payments.transfer",
            {"amount": 9000, "iban": "DE89370400440532013000", "currency": "EUR"},
            provenance=trusted,
            spent=spent,
            chain_depth=1,
            read_only=False,
            external=True,
            labels_in=frozenset(),
        )
        refused.append([v.rule for v in out.violations])
        if not out.violations:
            for charge in out.charges:
                spent[charge.budget] = spent.get(charge.budget, 0) + charge.amount
    assert refused == [[], ["budget.exceeded"], ["budget.exceeded"]]


def test_vendor_onboarding_refuses_a_bank_account_taken_from_an_email(
    library: dict[str, PurposeProfile],
) -> None:
    onboarding = library["vendor-onboarding"]
    emailed = {
        "iban": Provenance("iban", Source.TOOL_OUTPUT, tool="email.read"),
        "tax_id": Provenance("tax_id", Source.REQUEST),
    }
    out = onboarding.judge(
        "erp.vendor.create",
        {"iban": "GB33BUKB20201555555555", "tax_id": "DE123456789", "name": "Globex"},
        provenance=emailed,
        spent={},
        chain_depth=1,
        read_only=False,
        external=False,
        labels_in=frozenset(),
    )
    assert [v.rule for v in out.violations] == ["argument.provenance"]
    assert "`iban` of `erp.vendor.create`" in out.violations[0].message
    assert [v.rule for v in out.step_up] == ["step_up.source"]


def test_credentials_may_reach_no_tool_when_triaging_access(
    library: dict[str, PurposeProfile],
) -> None:
    secret = {
        "note": Provenance("note", Source.TOOL_OUTPUT, "it.access.read", frozenset({"secrets"}))
    }
    out = library["access-request"].judge(
        "it.ticket.update",
        {"note": "…"},
        provenance=secret,
        spent={},
        chain_depth=1,
        read_only=False,
        external=False,
        labels_in=frozenset(),
    )
    assert [v.message for v in out.violations] == [
        "purpose profile `access-request` lets data labelled `secrets` reach no tool at all; "
        "`it.ticket.update` is an internal sink"
    ]
