"""DPoP proof checking (RFC 9449 §4.3): one negative test per check, nonces, the window, and
bad input that must only ever produce the spec's errors.

Proofs are signed here with fresh keys from joserfc; each negative test changes exactly one
thing in a proof that otherwise passes (``test_the_baseline_proof_passes``)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import random
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from warden.tokens.errors import InvalidDpopProof, InvalidToken, OAuthError, UseDpopNonce
from warden.tokens.replay import MemoryReplayCache
from warden.tokens.rfc9449 import (
    DEFAULT_ALGS,
    MAX_PROOF_BYTES,
    DpopNonces,
    DpopProof,
    DpopVerifier,
    ath_of,
    normalise_htu,
)

NOW = 1_750_000_000
URL = "https://api.example.com/v1/orders"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl"
SECRET = b"n" * 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def es256_sign(key: ECKey, signing_input: bytes) -> bytes:
    der = key.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr]
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def proof(
    key: ECKey,
    *,
    header: dict[str, Any] | None = None,
    drop_header: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    signer: ECKey | None = None,
    **claims: Any,
) -> str:
    """A compact ES256 proof for GET URL at NOW, with overrides."""
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    head.update(header or {})
    body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": URL, "iat": NOW}
    body.update(claims)
    for name in drop_header:
        head.pop(name)
    for name in drop:
        body.pop(name)
    signing_input = f"{b64json(head)}.{b64json(body)}"
    signature = es256_sign(signer or key, signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def nonces() -> DpopNonces:
    return DpopNonces(SECRET)


@pytest.fixture
def verifier(nonces: DpopNonces) -> DpopVerifier:
    return DpopVerifier(MemoryReplayCache(), nonces)


async def refused(verifier: DpopVerifier, headers: list[str], **kwargs: Any) -> OAuthError:
    options: dict[str, Any] = {"method": "GET", "url": URL, "now": NOW, **kwargs}
    with pytest.raises(OAuthError) as caught:
        await verifier.verify(headers, **options)
    error = caught.value
    for proof_text in filter(None, headers):  # never echo the proof, the token or the key
        assert proof_text not in error.message
        assert all(proof_text not in value for value in error.headers.values())
    assert TOKEN not in error.message
    return error


async def test_the_baseline_proof_passes(verifier: DpopVerifier, key: ECKey) -> None:
    result = await verifier.verify([proof(key)], method="GET", url=URL, now=NOW)
    assert isinstance(result, DpopProof)
    assert result.jkt == key.thumbprint()
    assert (result.htm, result.htu, result.iat, result.nonce, result.ath) == (
        "GET",
        URL,
        NOW,
        None,
        None,
    )


async def test_a_proof_made_by_joserfc_passes(nonces: DpopNonces) -> None:
    verifier = DpopVerifier(MemoryReplayCache(), nonces, algs=(*DEFAULT_ALGS, "Ed25519"))
    for jwk in (ECKey.generate_key("P-384"), RSAKey.generate_key(2048), OKPKey.generate_key()):
        alg = {"EC": "ES384", "RSA": "PS256", "OKP": "Ed25519"}[jwk.key_type]
        header = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk.as_dict(private=False)}
        claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": URL, "iat": NOW}
        text = jws.serialize_compact(header, json.dumps(claims), jwk, algorithms=[alg])
        result = await verifier.verify([text], method="POST", url=URL, now=NOW)
        assert result.jkt == jwk.thumbprint()


# --- check 1: not more than one DPoP header ------------------------------------------------


async def test_two_dpop_headers_are_refused(verifier: DpopVerifier, key: ECKey) -> None:
    error = await refused(verifier, [proof(key), proof(key)])
    assert isinstance(error, InvalidDpopProof) and error.status == 400


async def test_no_dpop_header_is_refused(verifier: DpopVerifier) -> None:
    assert isinstance(await refused(verifier, []), InvalidDpopProof)


# --- check 2: a single well-formed JWT -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a jwt",
        "a.b",
        "a.b.c.d.e",  # a JWE
        "eyJ0eXAiOiJkcG9wK2p3dCJ9..c2ln",
        "!!!.eyJ9.c2ln",
        b64(b"not json") + "." + b64json({}) + ".c2ln",
        b64json(["an", "array"]) + "." + b64json({}) + ".c2ln",
    ],
)
async def test_malformed_jws_is_refused(verifier: DpopVerifier, text: str) -> None:
    assert isinstance(await refused(verifier, [text]), InvalidDpopProof)


async def test_a_payload_that_is_not_a_json_object_is_refused(
    verifier: DpopVerifier, key: ECKey
) -> None:
    head = b64json({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)})
    signing_input = f"{head}.{b64(b'[1, 2]')}"
    text = f"{signing_input}.{b64(es256_sign(key, signing_input.encode()))}"
    assert isinstance(await refused(verifier, [text]), InvalidDpopProof)


async def test_an_oversized_proof_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    big = proof(key, padding="x" * MAX_PROOF_BYTES)
    assert isinstance(await refused(verifier, [big]), InvalidDpopProof)


# --- check 3: required claims with their JSON types ------------------------------------------


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
async def test_a_missing_claim_is_refused(verifier: DpopVerifier, key: ECKey, claim: str) -> None:
    error = await refused(verifier, [proof(key, drop=(claim,))])
    assert isinstance(error, InvalidDpopProof) and f"`{claim}`" in error.message


@pytest.mark.parametrize(
    ("claim", "value"),
    [("jti", 12345), ("jti", ""), ("htm", ["GET"]), ("htu", 7), ("iat", str(NOW)), ("iat", True)],
)
async def test_a_claim_of_the_wrong_type_is_refused(
    verifier: DpopVerifier, key: ECKey, claim: str, value: Any
) -> None:
    error = await refused(verifier, [proof(key, **{claim: value})])
    assert isinstance(error, InvalidDpopProof) and f"`{claim}`" in error.message


async def test_an_unreasonably_long_jti_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    assert isinstance(await refused(verifier, [proof(key, jti="j" * 300)]), InvalidDpopProof)


# --- check 4: typ ----------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "dpop", None])
async def test_wrong_typ_is_refused(verifier: DpopVerifier, key: ECKey, typ: str | None) -> None:
    text = proof(key, drop_header=("typ",)) if typ is None else proof(key, header={"typ": typ})
    error = await refused(verifier, [text])
    assert isinstance(error, InvalidDpopProof) and "`typ`" in error.message


# --- check 5: alg ----------------------------------------------------------------------------


async def test_alg_none_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    body = {"jti": "a", "htm": "GET", "htu": URL, "iat": NOW}
    for signature in ("", "c2ln"):
        text = f"{b64json(head)}.{b64json(body)}.{signature}"
        assert isinstance(await refused(verifier, [text]), InvalidDpopProof)


async def test_a_mac_alg_is_refused(verifier: DpopVerifier) -> None:
    secret = b"k" * 32
    head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(secret)}}
    body = {"jti": "a", "htm": "GET", "htu": URL, "iat": NOW}
    signing_input = f"{b64json(head)}.{b64json(body)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    error = await refused(verifier, [f"{signing_input}.{b64(mac)}"])
    assert isinstance(error, InvalidDpopProof) and "`alg`" in error.message


async def test_an_alg_outside_the_allow_list_is_refused(nonces: DpopNonces, key: ECKey) -> None:
    only_eddsa = DpopVerifier(MemoryReplayCache(), nonces, algs=("EdDSA",))
    error = await refused(only_eddsa, [proof(key)])
    assert isinstance(error, InvalidDpopProof) and "`alg`" in error.message


async def test_an_alg_that_does_not_fit_the_key_is_refused(
    verifier: DpopVerifier, key: ECKey
) -> None:
    assert isinstance(await refused(verifier, [proof(key, header={"alg": "ES384"})]), OAuthError)


def test_none_and_mac_algs_cannot_be_configured(nonces: DpopNonces) -> None:
    for algs in (("none",), ("HS256",), ("ES256", "HS512"), ()):
        with pytest.raises(ValueError):
            DpopVerifier(MemoryReplayCache(), nonces, algs=algs)


# --- check 6: the signature verifies with the header jwk -------------------------------------


async def test_a_signature_by_another_key_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    error = await refused(verifier, [proof(key, signer=ECKey.generate_key("P-256"))])
    assert isinstance(error, InvalidDpopProof) and "signature" in error.message


async def test_a_tampered_payload_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    head, _, signature = proof(key).split(".")
    forged = b64json({"jti": "x", "htm": "GET", "htu": URL, "iat": NOW})
    error = await refused(verifier, [f"{head}.{forged}.{signature}"])
    assert isinstance(error, InvalidDpopProof) and "signature" in error.message


async def test_a_key_not_on_its_curve_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    jwk = key.as_dict(private=False)
    bad_y = b64((int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big") ^ 1).to_bytes(32))
    assert isinstance(
        await refused(verifier, [proof(key, header={"jwk": {**jwk, "y": bad_y}})]),
        InvalidDpopProof,
    )


async def test_a_short_rsa_key_is_refused(verifier: DpopVerifier) -> None:
    weak = rsa.generate_private_key(65537, 1024)
    numbers = weak.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64(numbers.n.to_bytes(128)), "e": b64(numbers.e.to_bytes(3))}
    head = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    signing_input = f"{b64json(head)}.{b64json({'jti': 'a', 'htm': 'GET', 'htu': URL, 'iat': NOW})}"
    signature = weak.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    error = await refused(verifier, [f"{signing_input}.{b64(signature)}"])
    assert isinstance(error, InvalidDpopProof) and "2048" in error.message


async def test_eddsa_as_rfc_8037_names_it_passes(verifier: DpopVerifier) -> None:
    signer = ed25519.Ed25519PrivateKey.generate()
    raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    head = {
        "typ": "dpop+jwt",
        "alg": "EdDSA",
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)},
    }
    signing_input = f"{b64json(head)}.{b64json({'jti': 'a', 'htm': 'GET', 'htu': URL, 'iat': NOW})}"
    text = f"{signing_input}.{b64(signer.sign(signing_input.encode()))}"
    assert (await verifier.verify([text], method="GET", url=URL, now=NOW)).htm == "GET"


# --- check 7: the jwk holds no private key ---------------------------------------------------


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
async def test_private_key_material_in_jwk_is_refused(
    verifier: DpopVerifier, key: ECKey, member: str
) -> None:
    jwk = {**key.as_dict(private=False), member: "AAAA"}
    error = await refused(verifier, [proof(key, header={"jwk": jwk})])
    assert isinstance(error, InvalidDpopProof) and "private" in error.message


async def test_the_real_private_key_in_jwk_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    error = await refused(verifier, [proof(key, header={"jwk": key.as_dict(private=True)})])
    assert isinstance(error, InvalidDpopProof) and "private" in error.message


# --- check 8: htm ----------------------------------------------------------------------------


@pytest.mark.parametrize("htm", ["POST", "get", "GET "])
async def test_htm_other_than_the_method_is_refused(
    verifier: DpopVerifier, key: ECKey, htm: str
) -> None:
    error = await refused(verifier, [proof(key, htm=htm)])
    assert isinstance(error, InvalidDpopProof) and "`htm`" in error.message


# --- check 9: htu ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "htu",
    [
        "https://api.example.com/v1/other",
        "http://api.example.com/v1/orders",
        "https://evil.example.com/v1/orders",
        "https://api.example.com:8443/v1/orders",
        "/v1/orders",
        "not a url",
    ],
)
async def test_htu_other_than_the_uri_is_refused(
    verifier: DpopVerifier, key: ECKey, htu: str
) -> None:
    error = await refused(verifier, [proof(key, htu=htu)])
    assert isinstance(error, InvalidDpopProof) and "`htu`" in error.message


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://API.Example.com/v1/orders",
        "https://api.example.com:443/v1/orders",
        "https://api.example.com/v1/%6Frders",
        "https://api.example.com/v1/./x/../orders",
        "https://api.example.com/v1/orders?page=2#top",
    ],
)
async def test_equivalent_htu_is_accepted(verifier: DpopVerifier, key: ECKey, htu: str) -> None:
    assert (await verifier.verify([proof(key, htu=htu)], method="GET", url=URL, now=NOW)).jkt


def test_normalise_htu_follows_rfc_3986_section_6() -> None:
    assert normalise_htu("HTTP://Example.COM:80") == "http://example.com/"
    assert normalise_htu("https://example.com:/a%2fb%7e?q=1#f") == "https://example.com/a%2Fb~"
    assert normalise_htu("https://[::1]:8443/x") == "https://[::1]:8443/x"


# --- check 10: nonce -------------------------------------------------------------------------


async def test_a_required_nonce_that_is_missing_gets_use_dpop_nonce(
    verifier: DpopVerifier, nonces: DpopNonces, key: ECKey
) -> None:
    error = await refused(verifier, [proof(key)], require_nonce=True)
    assert isinstance(error, UseDpopNonce) and error.code == "use_dpop_nonce"
    assert error.status == 400
    assert list(error.headers) == ["DPoP-Nonce"]
    assert nonces.check(error.headers["DPoP-Nonce"], NOW)


async def test_the_nonce_flow_succeeds_on_retry(verifier: DpopVerifier, key: ECKey) -> None:
    error = await refused(verifier, [proof(key)], require_nonce=True)
    nonce = error.headers["DPoP-Nonce"]
    result = await verifier.verify(
        [proof(key, nonce=nonce)], method="GET", url=URL, now=NOW + 2, require_nonce=True
    )
    assert result.nonce == nonce


async def test_a_nonce_this_server_did_not_issue_is_refused(
    verifier: DpopVerifier, key: ECKey
) -> None:
    foreign = DpopNonces(b"other secret").issue(NOW)
    for nonce in (foreign, "eyJ7S_zG.eyJH0-Z.HX4w-7v", "x"):
        error = await refused(verifier, [proof(key, nonce=nonce)])
        assert isinstance(error, UseDpopNonce)
        assert error.headers["DPoP-Nonce"] != nonce


async def test_an_expired_nonce_is_refused(
    verifier: DpopVerifier, nonces: DpopNonces, key: ECKey
) -> None:
    old = nonces.issue(NOW - nonces.lifetime - 1)
    assert isinstance(await refused(verifier, [proof(key, nonce=old)]), UseDpopNonce)


def test_nonces_are_unpredictable_and_expire() -> None:
    a, b = DpopNonces(), DpopNonces()
    assert a.issue(NOW) != b.issue(NOW)
    assert a.check(a.issue(NOW), NOW + 300) and not a.check(a.issue(NOW), NOW + 301)
    assert not a.check(a.issue(NOW + 10), NOW)  # not from the future
    assert not a.check(b.issue(NOW), NOW)


# --- check 11: iat window --------------------------------------------------------------------


@pytest.mark.parametrize("iat", [NOW - 306, NOW + 6, 0, 2**62])
async def test_iat_outside_the_window_is_refused(
    verifier: DpopVerifier, key: ECKey, iat: int
) -> None:
    error = await refused(verifier, [proof(key, iat=iat)])
    assert isinstance(error, InvalidDpopProof) and "`iat`" in error.message


@pytest.mark.parametrize("iat", [NOW - 305, NOW + 5, NOW + 0.5])
async def test_iat_at_the_edges_of_the_window_is_accepted(
    verifier: DpopVerifier, key: ECKey, iat: float
) -> None:
    assert await verifier.verify([proof(key, iat=iat)], method="GET", url=URL, now=NOW)


# --- check 12: ath and key binding at a resource server --------------------------------------


async def test_missing_ath_is_refused_at_a_resource_server(
    verifier: DpopVerifier, key: ECKey
) -> None:
    error = await refused(
        verifier, [proof(key)], access_token=TOKEN, at_resource_server=True, bound_jkt=None
    )
    assert isinstance(error, InvalidDpopProof) and error.status == 401
    challenge = error.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256 ES384 ES512 PS256 RS256 EdDSA"' in challenge


async def test_ath_of_another_token_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    error = await refused(
        verifier,
        [proof(key, ath=ath_of(TOKEN + "x"))],
        access_token=TOKEN,
        at_resource_server=True,
    )
    assert isinstance(error, InvalidDpopProof) and "`ath`" in error.message


async def test_a_proof_key_other_than_the_bound_key_is_refused(
    verifier: DpopVerifier, key: ECKey
) -> None:
    other = ECKey.generate_key("P-256").thumbprint()
    error = await refused(
        verifier,
        [proof(key, ath=ath_of(TOKEN))],
        access_token=TOKEN,
        bound_jkt=other,
        at_resource_server=True,
    )
    # RFC 9449 §7.1's example: DPoP error="invalid_token" for a failed key binding.
    assert isinstance(error, InvalidToken) and error.status == 401
    assert error.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


async def test_a_proof_key_other_than_the_bound_key_is_refused_at_the_as(
    verifier: DpopVerifier, key: ECKey
) -> None:
    other = ECKey.generate_key("P-256").thumbprint()
    error = await refused(verifier, [proof(key)], method="POST", bound_jkt=other)
    assert isinstance(error, InvalidDpopProof) and error.status == 400


async def test_ath_and_binding_pass_at_a_resource_server(
    verifier: DpopVerifier, key: ECKey
) -> None:
    result = await verifier.verify(
        [proof(key, ath=ath_of(TOKEN))],
        method="GET",
        url=URL,
        now=NOW,
        access_token=TOKEN,
        bound_jkt=key.thumbprint(),
        at_resource_server=True,
    )
    assert result.ath == ath_of(TOKEN)


# --- jti replay (§11.1) ----------------------------------------------------------------------


async def test_a_replayed_proof_is_refused(verifier: DpopVerifier, key: ECKey) -> None:
    text = proof(key)
    await verifier.verify([text], method="GET", url=URL, now=NOW)
    error = await refused(verifier, [text], now=NOW + 1)
    assert isinstance(error, InvalidDpopProof) and "already used" in error.message


async def test_the_same_jti_for_another_uri_is_not_a_replay(
    verifier: DpopVerifier, key: ECKey
) -> None:
    other = "https://api.example.com/v1/other"
    await verifier.verify([proof(key, jti="same")], method="GET", url=URL, now=NOW)
    await verifier.verify([proof(key, jti="same", htu=other)], method="GET", url=other, now=NOW)


async def test_a_refused_proof_does_not_use_up_its_jti(verifier: DpopVerifier, key: ECKey) -> None:
    await refused(verifier, [proof(key, jti="j1")], require_nonce=True)
    await verifier.verify([proof(key, jti="j1")], method="GET", url=URL, now=NOW)


# --- bad input never raises anything but the spec's errors -----------------------------------


async def test_garbage_and_mutations_only_raise_spec_errors(
    verifier: DpopVerifier, key: ECKey
) -> None:
    rng = random.Random(9449)
    valid = proof(key, ath=ath_of(TOKEN))
    alphabet = "ABCxyz019-_.=+/ \t\x00\u00e9\ud7ff{}\"'"
    samples = [valid[:i] for i in range(0, len(valid), 7)]
    samples += [valid[:i] + rng.choice(alphabet) + valid[i + 1 :] for i in range(len(valid))]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(200)
    ]
    samples += ["a." * 5000, "." * 9000, "x" * 100_000]
    head = {"typ": "dpop+jwt", "alg": "ES256"}
    for jwk in ({}, {"kty": "EC"}, {"kty": "EC", "crv": "P-256", "x": 1, "y": None}, [1], "k"):
        samples.append(f"{b64json({**head, 'jwk': jwk})}.{b64json({})}.c2ln")
    for sample in samples:
        with contextlib.suppress(InvalidDpopProof, InvalidToken, UseDpopNonce):
            await verifier.verify(
                [sample],
                method="GET",
                url=URL,
                now=NOW,
                access_token=TOKEN,
                at_resource_server=True,
            )
