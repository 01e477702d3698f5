"""Designated values: what a person named in their request, and the comparison form
provenance uses (``normalize``). Precision over recall: a value that is not clearly one is
left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.mandates.intent import extract_designated, normalize
from warden.mandates.intent.designated import iban_valid
from warden.mandates.models import ValueKind

NOW = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


def found(text: str, now: datetime | None = None) -> list[tuple[str, str, str]]:
    return [(v.kind.value, v.value, v.normalized) for v in extract_designated(text, now=now)]


def test_a_payment_request_yields_amount_person_iban_and_date() -> None:
    text = "Pay €9,000.50 to Maria Lopez, IBAN DE89 3704 0044 0532 0130 00, by 31 October 2026"
    assert found(text) == [
        ("amount", "€9,000.50", "9000.5"),
        ("person", "Maria Lopez", "maria lopez"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("date", "31 October 2026", "2026-10-31"),
    ]


def test_an_iban_with_a_wrong_check_digit_is_not_designated() -> None:
    assert found("pay the vendor at DE89 3704 0044 0532 0130 01") == []
    assert not iban_valid("DE89370400440532013001")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")


def test_an_iban_is_not_stretched_over_the_words_after_it() -> None:
    values = found("send it to GB82 WEST 1234 5698 7654 32 ACME today")
    assert values == [("iban", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432")]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("transfer 4,500 EUR to the vendor", "4500"),
        ("wire 9k to the supplier", "9000"),
        ("refund $1,250,000.00 now", "1250000"),
        ("a payment of 1.250.000,00 € is due", "1250000"),
        ("pay USD 75.5 for shipping", "75.5"),
        ("it costs £300", "300"),
        ("send 120 euros", "120"),
    ],
)
def test_amounts_in_their_usual_spellings(text: str, normalized: str) -> None:
    amounts = [v for v in extract_designated(text) if v.kind is ValueKind.AMOUNT]
    assert [v.normalized for v in amounts] == [normalized]


def test_numbers_without_a_currency_are_not_amounts() -> None:
    assert found("draft a quote for 50 licences with a 10% discount") == []


def test_accounts_emails_urls_domains_files_and_identifiers() -> None:
    text = (
        "pay INV-2211 into acct no. 12-3456-789, mail Jane.Doe@Acme.com, "
        "read https://ERP.example.com/inv/2211/ and invoices_q3.xlsx, upload to files.acme.io"
    )
    assert found(text) == [
        ("identifier", "INV-2211", "INV-2211"),
        ("account", "12-3456-789", "123456789"),
        ("email", "Jane.Doe@Acme.com", "jane.doe@acme.com"),
        ("url", "https://ERP.example.com/inv/2211/", "https://erp.example.com/inv/2211"),
        ("file", "invoices_q3.xlsx", "invoices_q3.xlsx"),
        ("domain", "files.acme.io", "files.acme.io"),
    ]


def test_the_domain_of_an_email_or_url_is_not_designated_again() -> None:
    kinds = [kind for kind, _, _ in found("write to ap@globex.com about https://globex.com/x")]
    assert kinds == ["email", "url"]


def test_dates_in_several_spellings() -> None:
    text = "between 2026-11-05 and October 31, 2026, or 1st Dec 2026"
    assert [v for _, _, v in found(text)] == ["2026-11-05", "2026-10-31", "2026-12-01"]


def test_dates_without_a_year_or_relative_need_now() -> None:
    text = "reconcile last month's invoices and onboard Jane Doe on 3 November"
    assert found(text) == [("person", "Jane Doe", "jane doe")]
    assert found(text, now=NOW) == [
        ("date", "last month", "2026-10"),
        ("person", "Jane Doe", "jane doe"),
        ("date", "3 November", "2026-11-03"),
    ]
    assert found("book it for yesterday", now=NOW) == [("date", "yesterday", "2026-11-27")]


def test_people_only_when_clearly_named() -> None:
    assert found("onboard Tom Baker next week") == [("person", "Tom Baker", "tom baker")]
    assert found("pay Globex Corp for the March invoice") == []  # a company
    assert found("send the report to Maria") == []  # a first name alone is not enough
    assert found("thanks, Maria Lopez") == []  # not marked by "to", "for"...


def test_companies_named_like_people_are_not_people() -> None:
    assert found("please pay Lumen Logistics invoice INV-6067") == [
        ("identifier", "INV-6067", "INV-6067")
    ]
    assert found("pay the invoice from Oakfield Catering") == []


def test_a_name_set_off_by_commas_is_still_marked() -> None:
    text = "We have a new colleague, Chloe Martin, joining the finance team"
    assert found(text) == [("person", "Chloe Martin", "chloe martin")]


def test_a_lower_case_currency_code_marks_an_amount() -> None:
    assert found("pay 4,250 eur to the vendor") == [("amount", "4,250 eur", "4250")]


def test_each_value_once() -> None:
    values = extract_designated("pay €500 to a@b.io, yes €500 to A@B.io")
    assert [(v.kind, v.normalized) for v in values] == [
        (ValueKind.AMOUNT, "500"),
        (ValueKind.EMAIL, "a@b.io"),
    ]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("amount", "9000.00", "9000"),
        ("amount", "9,000.50", "9000.5"),
        ("amount", 9000.0, "9000"),
        ("amount", 12, "12"),
        ("amount", "EUR 9k", "9000"),
        ("iban", "de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("email", " mailto:AP@Acme.COM ", "ap@acme.com"),
        ("url", "HTTPS://Acme.com/", "https://acme.com"),
        ("domain", "Acme.COM.", "acme.com"),
        ("date", "31 Oct 2026", "2026-10-31"),
        ("date", "2026-10-31", "2026-10-31"),
        ("person", "  Maria   Lopez ", "maria lopez"),
        ("amount", "not a number", "not a number"),
    ],
)
def test_normalize_is_the_form_provenance_compares(kind: str, value: object, expected: str) -> None:
    assert normalize(kind, value) == expected
    assert normalize(ValueKind(kind), value) == expected


def test_an_argument_matches_the_designated_value_however_it_is_written() -> None:
    (iban,) = extract_designated("pay DE89 3704 0044 0532 0130 00")
    assert normalize(ValueKind.IBAN, "de89370400440532013000") == iban.normalized
    (amount,) = extract_designated("pay €9,000")
    assert normalize(ValueKind.AMOUNT, 9000) == amount.normalized
