"""Intent matching on a realistic profile set, both backends: paraphrased requests map to
their profile, requests no profile covers stay unmatched, and each action's relevance to the
request orders the legitimate step far above the detour.

The requests are worded differently from the profiles' own examples on purpose. The semantic
backend needs ``warden[semantic]``: without it its tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from warden.mandates.intent import (
    IntentMatcher,
    LexicalMatcher,
    MatcherUnavailable,
    ProfileText,
    UnknownMatcher,
    make_matcher,
)
from warden.mandates.intent import semantic as semantic_backend

PROFILES = (
    ProfileText(
        "ap-reconciliation",
        "Accounts-payable reconciliation: match vendor invoices against purchase orders, "
        "goods receipts and bank statement lines for a period, and report discrepancies.",
        (
            "reconcile last month's vendor invoices",
            "match the AP invoices against the bank statement",
            "check which supplier invoices do not match their purchase orders",
            "prepare the accounts payable reconciliation for the monthly close",
        ),
        ("erp.invoice.read", "erp.purchase_order.read", "bank.statement.read", "report.create"),
    ),
    ProfileText(
        "invoice-payment",
        "Pay approved vendor invoices: schedule a payment or bank transfer to the vendor's "
        "registered bank account, within the approved amount.",
        (
            "pay invoice INV-2211 from Acme",
            "send the payment for the approved supplier bill",
            "wire 9,000 EUR to the vendor for the March invoice",
            "settle the outstanding invoices due this week",
        ),
        ("erp.invoice.read", "payments.transfer.create", "vendor.bank_account.read"),
    ),
    ProfileText(
        "vendor-onboarding",
        "Onboard a new vendor or supplier: collect company details, tax id and bank details, "
        "run the sanctions check and create the vendor master record.",
        (
            "set up a new supplier in the ERP",
            "register Globex as a vendor",
            "add a new vendor with their tax number and bank details",
        ),
        ("erp.vendor.create", "sanctions.check", "documents.read"),
    ),
    ProfileText(
        "employee-onboarding",
        "Onboard a new employee: create their accounts, order equipment, enrol them in "
        "payroll and benefits, and schedule first-week training.",
        (
            "onboard our new hire starting Monday",
            "set up accounts and a laptop for the new engineer",
            "prepare everything for Jane Doe's first day",
        ),
        ("hris.employee.create", "directory.user.create", "it.equipment.order"),
    ),
    ProfileText(
        "leave-request",
        "Handle an employee's leave or absence request: check the remaining balance, "
        "record the time off and notify the manager.",
        (
            "book two weeks of vacation in August",
            "request sick leave for tomorrow",
            "how many holiday days do I have left",
        ),
        ("hris.absence.read", "hris.absence.create", "calendar.event.create"),
    ),
    ProfileText(
        "crm-update",
        "Update customer records in the CRM: contacts, accounts, opportunity stages and "
        "notes after a customer meeting or call.",
        (
            "log the notes from today's call with Initech in the CRM",
            "move the Acme opportunity to negotiation",
            "update the contact details for our customer",
        ),
        ("crm.contact.update", "crm.opportunity.update", "crm.note.create"),
    ),
    ProfileText(
        "sales-quote",
        "Prepare a sales quote or proposal for a customer from the price list, with "
        "discounts within the approved range, and send it for signature.",
        (
            "draft a quote for 50 licences for Initech",
            "prepare a proposal with a 10% discount",
            "create a price quotation for the renewal",
        ),
        ("pricing.read", "quote.create", "esign.send"),
    ),
    ProfileText(
        "access-request",
        "Grant or change a person's access to an application, group or system after "
        "approval, and record the justification.",
        (
            "give Maria read access to the finance share",
            "add me to the github admins group",
            "request access to the production dashboard for the analytics team",
        ),
        ("iam.group.add_member", "iam.role.assign", "ticket.create"),
    ),
    ProfileText(
        "incident-triage",
        "Triage an operational incident: read alerts, logs and metrics, find the likely "
        "cause, page the on-call engineer and post status updates.",
        (
            "investigate the spike in checkout errors",
            "why is the payments API returning 500s",
            "look at the alert that fired at 3am and summarise it",
        ),
        ("monitoring.alert.read", "logs.search", "metrics.query", "status.post"),
    ),
    ProfileText(
        "expense-report",
        "Review and submit expense reports: read receipts, categorise expenses against the "
        "travel policy and submit the claim for approval.",
        (
            "file my expenses from the Berlin trip",
            "submit the receipts for last week's client dinner",
            "check my travel claims against the policy",
        ),
        ("expenses.receipt.read", "expenses.claim.submit"),
    ),
)

# (request, expected profile): paraphrases a person would actually type.
REQUESTS = (
    ("please reconcile the vendor invoices for October", "ap-reconciliation"),
    ("match our supplier bills to the bank statement for last month", "ap-reconciliation"),
    ("find discrepancies between purchase orders and invoices", "ap-reconciliation"),
    ("do the AP recon for the quarter close", "ap-reconciliation"),
    ("check that every invoice we received lines up with a goods receipt", "ap-reconciliation"),
    ("pay the Acme invoice that was approved yesterday", "invoice-payment"),
    ("transfer 4,500 EUR to Globex for invoice INV-88", "invoice-payment"),
    ("make the payment for the approved supplier invoice", "invoice-payment"),
    ("settle the bills from our vendors that are due", "invoice-payment"),
    ("send a bank transfer to pay the vendor", "invoice-payment"),
    ("add Umbrella Corp as a new supplier", "vendor-onboarding"),
    ("create a vendor record for Stark Industries with their bank details", "vendor-onboarding"),
    ("onboard a new vendor and run the sanctions screening", "vendor-onboarding"),
    ("register a new supplier with tax id and company details", "vendor-onboarding"),
    ("we hired a new designer, set up her accounts", "employee-onboarding"),
    ("get everything ready for the new starter joining on the 3rd", "employee-onboarding"),
    ("order a laptop and enrol the new employee in payroll", "employee-onboarding"),
    ("onboard Tom Baker who starts next week as an engineer", "employee-onboarding"),
    ("create accounts and schedule training for our new colleague", "employee-onboarding"),
    ("I'd like to take next Friday off", "leave-request"),
    ("book annual leave from 4 to 8 August", "leave-request"),
    ("how much vacation balance do I have", "leave-request"),
    ("record my sick day and tell my manager", "leave-request"),
    ("request time off for a family event", "leave-request"),
    ("update the Initech account in the CRM after the meeting", "crm-update"),
    ("change the stage of the Globex opportunity to closed won", "crm-update"),
    ("add notes from my call with the customer to the CRM", "crm-update"),
    ("fix the phone number of our contact at Acme", "crm-update"),
    ("record today's customer meeting in salesforce", "crm-update"),
    ("write a quote for 20 seats for Hooli", "sales-quote"),
    ("prepare a pricing proposal with a small discount", "sales-quote"),
    ("send the renewal quote to the customer for signature", "sales-quote"),
    ("create an estimate for the enterprise plan", "sales-quote"),
    ("give Bob access to the finance application", "access-request"),
    ("add the new analyst to the data-readers group", "access-request"),
    ("I need admin rights on the staging system", "access-request"),
    ("grant read permission on the reports share to the audit team", "access-request"),
    ("the checkout service is throwing errors, find out why", "incident-triage"),
    ("triage the pager alert for the payments API", "incident-triage"),
    ("look into the latency spike and check the logs", "incident-triage"),
    ("summarise last night's outage and post a status update", "incident-triage"),
    ("investigate why the error rate went up on the API", "incident-triage"),
    ("submit my expense report for the Paris trip", "expense-report"),
    ("file receipts from the conference for reimbursement", "expense-report"),
    ("categorise my travel expenses and send the claim", "expense-report"),
    ("check my hotel and taxi receipts against the travel policy", "expense-report"),
)

UNMATCHED = (
    "tell me a joke",
    "delete all production databases",
    "what's the weather like in Lisbon",
    "write a poem about autumn",
    "translate this paragraph into German",
    "who won the football match yesterday",
    "recommend a good restaurant nearby",
    "play some relaxing music",
)


@pytest.fixture(scope="module")
def lexical() -> IntentMatcher:
    matcher = make_matcher("lexical")
    matcher.fit(PROFILES)
    return matcher


@pytest.fixture(scope="module")
def semantic() -> IntentMatcher:
    if not semantic_backend.available():
        if os.environ.get("CI"):
            pytest.fail("the semantic extra is not installed: pip install -e '.[dev]'")
        pytest.skip("the semantic extra is not installed (pip install warden[semantic])")
    matcher = make_matcher("semantic")
    matcher.fit(PROFILES)
    return matcher


@pytest.fixture(params=["lexical", "semantic"])
def matcher(request: pytest.FixtureRequest) -> Iterator[IntentMatcher]:
    yield request.getfixturevalue(request.param)


def accuracy(matcher: IntentMatcher) -> tuple[float, list[str]]:
    misses = [
        f"{text!r} → {matcher.match(text).profile} (expected {expected})"
        for text, expected in REQUESTS
        if matcher.match(text).profile != expected
    ]
    return 1 - len(misses) / len(REQUESTS), misses


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(PROFILES) == 10
    assert len(REQUESTS) >= 40
    assert {expected for _, expected in REQUESTS} == {p.name for p in PROFILES}


def test_lexical_maps_paraphrased_requests_to_their_profile(lexical: IntentMatcher) -> None:
    rate, misses = accuracy(lexical)
    assert rate >= 0.95, misses


def test_semantic_maps_paraphrased_requests_to_their_profile(semantic: IntentMatcher) -> None:
    rate, misses = accuracy(semantic)
    assert rate >= 0.93, misses


@pytest.mark.parametrize("text", UNMATCHED)
def test_requests_no_profile_covers_stay_unmatched(matcher: IntentMatcher, text: str) -> None:
    found = matcher.match(text)
    assert found.profile is None
    assert found.confidence < matcher.threshold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("recncile last months vendor invoces", "ap-reconciliation"),
        ("onbaord the new emplyee starting Monday", "employee-onboarding"),
        ("investgate the alret on the checkout API", "incident-triage"),
    ],
)
def test_typos_are_forgiven(matcher: IntentMatcher, text: str, expected: str) -> None:
    assert matcher.match(text).profile == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "grant jonas.berg@acme.example read access to the finance share (REQ-23211)",
            "access-request",
        ),
        ("pay invoice INV-2211, 4,250 EUR, to DE89 3704 0044 0532 0130 00", "invoice-payment"),
        ("update ops@umbrella-health.example in the CRM: new phone +44 20 7946 0313", "crm-update"),
        # one shared word, but a named thing to act on: specific enough
        ("triage INC-8634 (mail-relay)", "incident-triage"),
        ("pay INV-6999 4,250 to IT60X0542811101000000123456", "invoice-payment"),
    ],
)
def test_values_in_a_request_do_not_drown_its_intent(
    matcher: IntentMatcher, text: str, expected: str
) -> None:
    assert matcher.match(text).profile == expected


@pytest.mark.parametrize(
    "text", ["what's going on with our numbers?", "check stuff", "can you look into this?"]
)
def test_a_vague_request_stays_unmatched(matcher: IntentMatcher, text: str) -> None:
    assert matcher.match(text).profile is None


def test_a_clear_request_is_matched_with_a_confidence_and_every_profile_ranked(
    matcher: IntentMatcher,
) -> None:
    found = matcher.match("please reconcile last month's vendor invoices against the bank")
    assert found.profile == "ap-reconciliation"
    assert matcher.threshold <= found.confidence <= 1
    assert found.ranked[0][0] == "ap-reconciliation"
    assert {name for name, _ in found.ranked} == {p.name for p in PROFILES}
    scores = [score for _, score in found.ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)


def test_matched_requests_are_more_confident_than_unmatched_ones(matcher: IntentMatcher) -> None:
    matched = sorted(matcher.match(text).confidence for text, _ in REQUESTS)
    unmatched = max(matcher.match(text).confidence for text in UNMATCHED)
    median = matched[len(matched) // 2]
    assert median - unmatched >= 0.2, (median, unmatched)


def test_relevance_puts_the_legitimate_step_far_above_the_detour(matcher: IntentMatcher) -> None:
    request = "reconcile last month's vendor invoices"
    read = matcher.relevance(request, "erp.invoice.read", "Read AP invoices from the ERP")
    upload = matcher.relevance(
        request, "storage.external.upload", "Upload a file to external cloud storage"
    )
    assert read >= 0.4
    assert upload <= 0.1
    assert 0 <= upload < read <= 1


def test_a_step_of_the_matched_workflow_is_related_though_the_request_does_not_name_it(
    matcher: IntentMatcher,
) -> None:
    request = "reconcile last month's vendor invoices"
    statement = matcher.relevance(request, "bank.statement.read")
    assert statement >= 0.25
    assert statement > matcher.relevance(request, "storage.external.upload") + 0.2


def test_relevance_follows_the_request_not_the_tool(matcher: IntentMatcher) -> None:
    tool = "payments.transfer.create"
    paying = matcher.relevance("pay the Acme invoice by bank transfer", tool)
    joking = matcher.relevance("tell me a joke", tool)
    assert paying > joking
    assert joking <= 0.1


def test_a_new_profile_set_replaces_the_old_one(matcher: IntentMatcher) -> None:
    request = "pay the Acme invoice that was approved yesterday"
    assert matcher.match(request).profile == "invoice-payment"
    try:
        matcher.fit([p for p in PROFILES if p.name != "invoice-payment"])
        after = matcher.match(request)
        assert after.profile != "invoice-payment"
        assert "invoice-payment" not in {name for name, _ in after.ranked}
    finally:
        matcher.fit(PROFILES)
    assert matcher.match(request).profile == "invoice-payment"


def test_without_profiles_every_request_is_unmatched() -> None:
    matcher = LexicalMatcher()
    matcher.fit([])
    assert matcher.match("reconcile the vendor invoices").profile is None
    assert matcher.match("").confidence == 0


def test_tool_names_count_as_profile_words() -> None:
    matcher = LexicalMatcher()
    matcher.fit(
        [
            ProfileText("payroll-run", "Run the monthly payroll.", tools=("payroll.run",)),
            ProfileText("badge-print", "Print visitor badges.", tools=("badges.visitor.print",)),
        ]
    )
    assert matcher.match("print a badge for our visitor").profile == "badge-print"


def test_an_unknown_matcher_is_named_in_the_error() -> None:
    with pytest.raises(UnknownMatcher, match="`fuzzy`"):
        make_matcher("fuzzy")


def test_asking_for_semantic_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(MatcherUnavailable, match=r"install warden\[semantic\]") as raised:
        make_matcher("semantic")
    assert raised.value.code == "matcher_unavailable"


def test_warming_tools_gives_the_same_relevance(semantic: IntentMatcher) -> None:
    tools = [("crm.contact.update", "Update a CRM contact"), ("hris.absence.create", "")]
    request = "fix the phone number of our contact at Acme"
    before = [semantic.relevance(request, tool, description) for tool, description in tools]
    fresh = make_matcher("semantic")
    fresh.fit(PROFILES)
    fresh.warm(tools)
    after = [fresh.relevance(request, tool, description) for tool, description in tools]
    assert after == pytest.approx(before, abs=1e-3)
    assert after[0] > after[1]
