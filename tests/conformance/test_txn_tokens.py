"""Transaction Tokens conformance: the draft's example Txn-Token Request, parsed as sent.

Source: draft-ietf-oauth-transaction-tokens, editor's copy at
oauth-wg/oauth-transaction-tokens@dbdf43e, figure "Example: Txn-Token Request" (line breaks
in the figure are for readability; the body below joins them).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from warden.tokens.models import ACCESS_TOKEN_TYPE, TXN_TOKEN_TYPE, TokenRequest
from warden.tokens.rfc8693 import ExchangeRequest
from warden.tokens.txn_tokens import TxnRequest, txn_claims

EXAMPLE_REQUEST_BODY = (
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
    "&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Atxn_token"
    "&audience=trust-domain.example"
    "&scope=trade.stocks"
    "&subject_token=eyJhbGciOiJFUzI1NiIsImtpZC...kdXjwhw"
    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
    "&request_context=%7B%0A%20%20%20%20%20%20%22req_ip%22%3A%20%2269.151.72.123%22%2C%20%0A"
    "%20%20%20%20%20%20%22authn%22%3A%20%22face%22%0A%7D"
    "&request_details=%7B%0A%20%20%20%20%20%20%22action%22%3A%20%22BUY%22%2C%0A%20%20%20%20"
    "%20%20%22ticker%22%3A%20%22MSFT%22%2C%0A%20%20%20%20%20%20%22quantity%22%3A%20%22100%22"
    "%0A%7D"
)
TRUST_DOMAIN = "trust-domain.example"


def example_request() -> TxnRequest:
    pairs = parse_qsl(EXAMPLE_REQUEST_BODY, strict_parsing=True)
    params = {k: v for k, v in pairs if k not in ("grant_type", "audience")}
    audiences = tuple(v for k, v in pairs if k == "audience")
    request = TokenRequest(dict(pairs)["grant_type"], params, audiences=audiences)
    return TxnRequest.parse(request, ExchangeRequest.parse(request), trust_domain=TRUST_DOMAIN)


def test_the_draft_example_request_is_a_txn_token_request() -> None:
    parsed = example_request()
    assert parsed.exchange.requested_token_type == TXN_TOKEN_TYPE
    assert parsed.exchange.subject_token_type == ACCESS_TOKEN_TYPE
    assert parsed.audience == TRUST_DOMAIN
    assert parsed.scope == ("trade.stocks",)


def test_the_draft_example_context_becomes_rctx_and_tctx() -> None:
    subject = {"sub": "d084sdrt234fsaw34tr23t", "scope": "trade.stocks"}
    claims = txn_claims(subject, example_request(), requester="apigateway", txn="97053963")
    assert claims["rctx"] == {"req_ip": "69.151.72.123", "authn": "face"}
    assert claims["tctx"] == {"action": "BUY", "ticker": "MSFT", "quantity": "100"}
    assert claims["aud"] == TRUST_DOMAIN
    assert claims["scope"] == "trade.stocks"
    assert claims["req_wl"] == "apigateway"
