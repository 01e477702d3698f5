"""Our SVIDs checked by real peers, and forged ones refused by us.

- JWT-SVIDs: PyPI ``spiffe`` (py-spiffe 0.3.2) ``JwtSvid.parse_and_validate`` against our
  bundle's ``jwt-svid`` keys (``JwtBundle.parse`` refuses a mixed bundle: STANDARDS.md §10).
- X509-SVIDs: ``cryptography``'s RFC 5280 verifier against the CA published in our bundle.
- Forgeries (JWT-SVID §2 to §4, X509-SVID §5) are signed with real keys: our own, read from the
  store as an attacker with database access would, or a foreign authority's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from joserfc import jws
from joserfc.jwk import ECKey
from spiffe import JwtBundle, JwtSvid, TrustDomain
from spiffe.errors import PySpiffeError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.db import migrate, open_engine, parse_database_url
from warden.store.schema import signing_keys
from warden.tokens.svid import SvidAuthority, SvidError

TD = "acme.example"
AGENT = "spiffe://acme.example/agent/ap-clerk"


def utcnow() -> datetime:
    return datetime.now(UTC)  # py-spiffe and PyJWT read the real clock


async def open_store(url: str) -> AsyncEngine:
    parsed = parse_database_url(url)
    await asyncio.to_thread(migrate, parsed)
    return open_engine(parsed)


@pytest.fixture
async def authority(engine: AsyncEngine) -> SvidAuthority:
    return await SvidAuthority.open(engine, TD, utcnow() - timedelta(days=1))  # CA made yesterday


@pytest.fixture
async def foreign(tmp_path: Path) -> AsyncIterator[SvidAuthority]:
    """Another Warden for the same trust domain name: its own store, its own keys."""
    engine = await open_store(f"sqlite:///{tmp_path / 'foreign.db'}")
    yield await SvidAuthority.open(engine, TD, utcnow() - timedelta(days=1))
    await engine.dispose()


async def stored_key(engine: AsyncEngine, use: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(signing_keys).where(signing_keys.c.use == use)))
            .mappings()
            .one()
        )
    key = serialization.load_pem_private_key(row["private_key"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return row["kid"], key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(now: datetime, **changes: Any) -> dict[str, Any]:
    issued = int(now.timestamp())
    claims = {"sub": AGENT, "aud": ["billing"], "iat": issued, "exp": issued + 300}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def py_spiffe_bundle(authority: SvidAuthority) -> JwtBundle:
    keys = [k for k in authority.bundle()["keys"] if k["use"] == "jwt-svid"]
    return JwtBundle.parse(TrustDomain(TD), orjson.dumps({"keys": keys}))


# -- JWT-SVIDs and py-spiffe ---------------------------------------------------------------------


def test_py_spiffe_validates_our_jwt_svid(authority: SvidAuthority) -> None:
    token = authority.mint_jwt_svid(AGENT, ["billing"], utcnow())
    svid = JwtSvid.parse_and_validate(token, py_spiffe_bundle(authority), {"billing"})
    assert str(svid.spiffe_id) == AGENT
    assert svid.audience == {"billing"}


def test_py_spiffe_cannot_parse_the_mixed_bundle_which_is_why_we_filter(
    authority: SvidAuthority,
) -> None:
    with pytest.raises(PySpiffeError):
        JwtBundle.parse(TrustDomain(TD), orjson.dumps(authority.bundle()))


def test_py_spiffe_rejects_our_jwt_svid_for_another_audience(authority: SvidAuthority) -> None:
    token = authority.mint_jwt_svid(AGENT, ["billing"], utcnow())
    with pytest.raises(PySpiffeError, match=r"(?i)audience"):
        JwtSvid.parse_and_validate(token, py_spiffe_bundle(authority), {"payroll"})


def test_py_spiffe_rejects_our_expired_jwt_svid(authority: SvidAuthority) -> None:
    token = authority.mint_jwt_svid(AGENT, ["billing"], utcnow() - timedelta(hours=1), ttl=60)
    with pytest.raises(PySpiffeError, match="expired"):
        JwtSvid.parse_and_validate(token, py_spiffe_bundle(authority), {"billing"})


def test_py_spiffe_rejects_a_jwt_svid_signed_by_a_foreign_key(
    authority: SvidAuthority, foreign: SvidAuthority
) -> None:
    forged = foreign.mint_jwt_svid(AGENT, ["billing"], utcnow())
    # same trust domain name, so the same kid: only the signature tells them apart
    assert forged.split(".")[0] == authority.mint_jwt_svid(AGENT, ["x"], utcnow()).split(".")[0]
    with pytest.raises(PySpiffeError, match="Signature verification failed"):
        JwtSvid.parse_and_validate(forged, py_spiffe_bundle(authority), {"billing"})
    with pytest.raises(SvidError, match="signature is not valid"):
        authority.verify_jwt_svid(forged, "billing", int(utcnow().timestamp()))


# -- JWT-SVIDs our verifier refuses --------------------------------------------------------------


async def test_verify_refuses_alg_none(authority: SvidAuthority, engine: AsyncEngine) -> None:
    kid, _ = await stored_key(engine, "jwt-svid")
    header = b64url(orjson.dumps({"alg": "none", "kid": kid, "typ": "JWT"}))
    token = f"{header}.{b64url(orjson.dumps(claims_for(utcnow())))}."
    with pytest.raises(SvidError, match="alg `none` is not allowed") as refused:
        authority.verify_jwt_svid(token, "billing", int(utcnow().timestamp()))
    assert refused.value.code == "invalid_jwt_svid"


async def test_verify_refuses_hs256_keyed_with_our_public_key(
    authority: SvidAuthority, engine: AsyncEngine
) -> None:
    """The algorithm confusion attack: the verifier's public key used as an HMAC secret."""
    kid, key = await stored_key(engine, "jwt-svid")
    header = b64url(orjson.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}))
    signing_input = f"{header}.{b64url(orjson.dumps(claims_for(utcnow())))}"
    public_forms = [
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        orjson.dumps(authority.jwt_bundle()["keys"][0]),
    ]
    for secret in public_forms:
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(SvidError, match="alg `HS256` is not allowed"):
            authority.verify_jwt_svid(f"{signing_input}.{b64url(mac)}", "billing", 0)


async def test_verify_refuses_an_allowed_alg_that_is_not_the_keys(
    authority: SvidAuthority, engine: AsyncEngine
) -> None:
    kid, key = await stored_key(engine, "jwt-svid")
    token = sign_with(key, kid, claims_for(utcnow()), alg="ES384")
    with pytest.raises(SvidError, match="does not match the key's algorithm"):
        authority.verify_jwt_svid(token, "billing", int(utcnow().timestamp()))


def sign_with(
    key: ec.EllipticCurvePrivateKey,
    kid: str | None,
    claims: dict[str, Any],
    *,
    alg: str = "ES256",
    **header: Any,
) -> str:
    protected = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {}), **header}
    protected = {k: v for k, v in protected.items() if v is not None}
    if alg == "ES256":
        return jws.serialize_compact(protected, orjson.dumps(claims), ECKey.import_key(key))
    # a header claiming another algorithm, still signed with P-256 (the claim is what matters)
    signing_input = f"{b64url(orjson.dumps(protected))}.{b64url(orjson.dumps(claims))}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))}"


Forgery = Callable[[datetime], dict[str, Any]]


@pytest.mark.parametrize(
    ("forge", "header", "needle"),
    [
        (lambda now: claims_for(now, aud=["payroll"]), {}, "not for audience `billing`"),
        (lambda now: claims_for(now, aud=None), {}, "no `aud` claim"),
        (lambda now: claims_for(now, aud=[]), {}, "no `aud` claim"),
        (lambda now: claims_for(now - timedelta(hours=1)), {}, "expired"),
        (lambda now: claims_for(now, exp=None), {}, "no `exp` claim"),
        (lambda now: claims_for(now, exp="soon"), {}, "no `exp` claim"),
        (lambda now: claims_for(now, nbf=int(now.timestamp()) + 600), {}, "not valid yet"),
        (lambda now: claims_for(now, iat=int(now.timestamp()) + 600), {}, "not valid yet"),
        (
            lambda now: claims_for(now, sub="spiffe://evil.example/agent/ap-clerk"),
            {},
            "`evil.example` is not warden's trust domain",
        ),
        (lambda now: claims_for(now, sub="spiffe://acme.example"), {}, "needs a path"),
        (lambda now: claims_for(now, sub=None), {}, "no `sub` claim"),
        (lambda now: claims_for(now), {"typ": "at+jwt"}, "typ must be `JWT` or `JOSE`"),
        (lambda now: claims_for(now), {"jku": "https://evil.example/k"}, "`jku` is not allowed"),
        (lambda now: claims_for(now), {"kid": None}, "not signed by a key of"),
        (lambda now: claims_for(now), {"kid": "other"}, "not signed by a key of"),
    ],
)
async def test_verify_refuses_forged_claims_signed_with_our_own_key(
    authority: SvidAuthority, engine: AsyncEngine, forge: Forgery, header: Any, needle: str
) -> None:
    kid, key = await stored_key(engine, "jwt-svid")
    now = utcnow()
    header = dict(header)
    token = sign_with(key, header.pop("kid", kid), forge(now), **header)
    with pytest.raises(SvidError, match=needle) as refused:
        authority.verify_jwt_svid(token, "billing", int(now.timestamp()))
    assert refused.value.code == "invalid_jwt_svid"


async def test_our_verifier_accepts_what_the_forgery_helper_signs_unchanged(
    authority: SvidAuthority, engine: AsyncEngine
) -> None:
    """The forgeries above fail for what they change, not for how they are built."""
    kid, key = await stored_key(engine, "jwt-svid")
    now = utcnow()
    for typ in ("JWT", "JOSE", None):
        token = sign_with(key, kid, claims_for(now), typ=typ)
        assert authority.verify_jwt_svid(token, "billing", int(now.timestamp()))["sub"] == AGENT


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d.e",
        "!!!.e30.",
        b64url(b"[1]") + ".e30.",
        b64url(b'{"alg":"ES256"') + ".e30.",
        "x" * 20_000,
    ],
)
def test_malformed_tokens_are_refused_with_a_message(authority: SvidAuthority, token: str) -> None:
    with pytest.raises(SvidError) as refused:
        authority.verify_jwt_svid(token, "billing", 0)
    assert refused.value.code == "invalid_jwt_svid"


def test_tampered_payload_is_refused(authority: SvidAuthority) -> None:
    now = utcnow()
    head, _, signature = authority.mint_jwt_svid(AGENT, ["billing"], now).split(".")
    body = b64url(orjson.dumps(claims_for(now, sub="spiffe://acme.example/agent/admin")))
    with pytest.raises(SvidError, match="signature is not valid"):
        authority.verify_jwt_svid(f"{head}.{body}.{signature}", "billing", int(now.timestamp()))


# -- X509-SVIDs and cryptography's verifier ------------------------------------------------------


def bundle_cas(authority: SvidAuthority) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(base64.b64decode(k["x5c"][0]))
        for k in authority.bundle()["keys"]
        if k["use"] == "x509-svid"
    ]


def peer_verify(authority: SvidAuthority, leaf_pem: str, now: datetime) -> list[str]:
    """What a relying party does: RFC 5280 path validation to the bundle's CA."""
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    verifier = PolicyBuilder().store(Store(bundle_cas(authority))).time(now)
    verified = verifier.build_client_verifier().verify(leaf, [])
    assert verified.subjects is not None
    return [n.value for n in verified.subjects if isinstance(n, x509.UniformResourceIdentifier)]


def test_cryptography_verifies_our_x509_svid_against_the_bundle(
    authority: SvidAuthority,
) -> None:
    now = utcnow()
    svid = authority.mint_x509_svid(AGENT, now)
    assert peer_verify(authority, svid.cert_pem, now) == [AGENT]
    assert authority.verify_x509_svid(svid.cert_pem, now) == AGENT


def test_a_leaf_from_another_ca_is_rejected(
    authority: SvidAuthority, foreign: SvidAuthority
) -> None:
    now = utcnow()
    stranger = foreign.mint_x509_svid(AGENT, now).cert_pem
    with pytest.raises(VerificationError):
        peer_verify(authority, stranger, now)
    with pytest.raises(SvidError, match=r"does not chain to the `acme\.example` ca") as refused:
        authority.verify_x509_svid(stranger, now)
    assert refused.value.code == "invalid_x509_svid"


def test_an_expired_leaf_is_rejected(authority: SvidAuthority) -> None:
    issued = utcnow() - timedelta(hours=2)
    old = authority.mint_x509_svid(AGENT, issued, ttl=600).cert_pem
    assert authority.verify_x509_svid(old, issued + timedelta(minutes=5)) == AGENT
    with pytest.raises(VerificationError):
        peer_verify(authority, old, utcnow())
    with pytest.raises(SvidError, match="does not chain"):
        authority.verify_x509_svid(old, utcnow())


async def forged_leaf(
    engine: AsyncEngine,
    *,
    ca_flag: bool = False,
    cert_sign: bool = False,
    uris: tuple[str, ...] = (AGENT,),
) -> str:
    """A leaf signed by our real CA key (read from the store), with chosen flaws."""
    _, ca_key = await stored_key(engine, "x509-ca")
    async with engine.connect() as conn:
        pem = (
            await conn.execute(
                select(signing_keys.c.certificate).where(signing_keys.c.use == "x509-ca")
            )
        ).scalar_one()
    ca = x509.load_pem_x509_certificate(pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    now = utcnow()
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=cert_sign,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return leaf.public_bytes(serialization.Encoding.PEM).decode()


async def test_the_forged_leaf_helper_makes_valid_svids_when_unflawed(
    authority: SvidAuthority, engine: AsyncEngine
) -> None:
    leaf = await forged_leaf(engine)
    assert authority.verify_x509_svid(leaf, utcnow()) == AGENT


async def test_a_ca_flagged_leaf_is_rejected(authority: SvidAuthority, engine: AsyncEngine) -> None:
    leaf = await forged_leaf(engine, ca_flag=True, cert_sign=True)
    with pytest.raises(VerificationError):
        peer_verify(authority, leaf, utcnow())
    with pytest.raises(SvidError, match=r"a ca certificate cannot be an x509-svid leaf"):
        authority.verify_x509_svid(leaf, utcnow())


@pytest.mark.parametrize(
    ("flaws", "needle"),
    [
        ({"cert_sign": True}, "must not allow keyCertSign"),
        ({"uris": (AGENT, "spiffe://acme.example/agent/other")}, "exactly one uri san"),
        ({"uris": ("spiffe://evil.example/agent/x",)}, "not warden's trust domain"),
        ({"uris": ("spiffe://acme.example",)}, "needs a path"),
    ],
)
async def test_leaves_breaking_the_spiffe_leaf_rules_are_rejected(
    authority: SvidAuthority, engine: AsyncEngine, flaws: dict[str, Any], needle: str
) -> None:
    """X509-SVID §5.2 and §2: RFC 5280 alone accepts these (same CA); SPIFFE does not."""
    leaf = await forged_leaf(engine, **flaws)
    with pytest.raises(SvidError, match=needle) as refused:
        authority.verify_x509_svid(leaf, utcnow())
    assert refused.value.code == "invalid_x509_svid"


def test_not_a_certificate_is_refused(authority: SvidAuthority) -> None:
    for text in ("", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        with pytest.raises(SvidError, match="not a pem certificate"):
            authority.verify_x509_svid(text, utcnow())
