"""RFC 9449 (DPoP) vectors: the example proofs, `ath` and `jkt`, with the clock frozen.

Sources (danielfett/draft-dpop@d1acf0d, main.md, the text of RFC 9449; line wrapping of
RFC 8792 undone):

- §4.1 Figure "Example DPoP header" — also sent unchanged with the authorization code token
  request of §5 (Figure "Token Request for a DPoP sender-constrained token using an
  authorization code");
- §5 Figure "Token Request for a DPoP-bound Token using a Refresh Token";
- §7.1 Figure "DPoP Protected Resource Request", with its access token
  `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU`;
- §6.1: the `jkt` of the proofs' key (STANDARDS.md §3 lists these vectors).

Gotcha: the token proof and the refresh proof carry the same `jti` (`-BwC3ESc6acc2lTc`) for the
same `htu`; a server that remembers `jti`s long enough refuses the second as a replay.
"""

from __future__ import annotations

import pytest

from warden.tokens.errors import InvalidDpopProof
from warden.tokens.replay import MemoryReplayCache
from warden.tokens.resource import authenticate
from warden.tokens.rfc9449 import DpopNonces, DpopVerifier, ath_of

HEADER = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19"
)
# §4.1 (and §5, authorization code token request)
TOKEN_REQUEST_PROOF = (
    HEADER + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
# §5, refresh token request
REFRESH_PROOF = (
    HEADER + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5Qs"
    "GSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA"
)
# §7.1, protected resource request
RESOURCE_PROOF = (
    HEADER + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj"
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z"
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF"
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E"
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
TOKEN_URL = "https://server.example.com/token"
RESOURCE_URL = "https://resource.example.org/protectedresource"
TOKEN_IAT, REFRESH_IAT, RESOURCE_IAT = 1562262616, 1562265296, 1562262618


def verifier(max_age: int = 300) -> DpopVerifier:
    return DpopVerifier(MemoryReplayCache(), DpopNonces(), max_age=max_age)


def test_section_7_ath_vector() -> None:
    assert ath_of(ACCESS_TOKEN) == ATH


async def test_section_4_1_token_request_proof_verifies() -> None:
    proof = await verifier().verify(
        [TOKEN_REQUEST_PROOF], method="POST", url=TOKEN_URL, now=TOKEN_IAT
    )
    assert (proof.jkt, proof.jti, proof.htm, proof.htu, proof.iat) == (
        JKT,
        "-BwC3ESc6acc2lTc",
        "POST",
        TOKEN_URL,
        TOKEN_IAT,
    )
    assert proof.public_jwk["crv"] == "P-256"


async def test_section_5_refresh_proof_verifies() -> None:
    proof = await verifier().verify([REFRESH_PROOF], method="POST", url=TOKEN_URL, now=REFRESH_IAT)
    assert (proof.jkt, proof.iat) == (JKT, REFRESH_IAT)


async def test_section_7_1_resource_proof_verifies_with_ath_and_binding() -> None:
    proof = await verifier().verify(
        [RESOURCE_PROOF],
        method="GET",
        url=RESOURCE_URL,
        now=RESOURCE_IAT,
        access_token=ACCESS_TOKEN,
        bound_jkt=JKT,
        at_resource_server=True,
    )
    assert (proof.ath, proof.jkt) == (ATH, JKT)


async def test_section_7_1_request_passes_the_resource_server() -> None:
    claims = {"sub": "someone", "cnf": {"jkt": JKT}}

    async def lookup(token: str) -> dict[str, object]:
        assert token == ACCESS_TOKEN
        return claims

    headers = [("Host", "resource.example.org"), ("Authorization", f"DPoP {ACCESS_TOKEN}")]
    headers.append(("DPoP", RESOURCE_PROOF))
    result = await authenticate(
        headers, "GET", RESOURCE_URL, RESOURCE_IAT, dpop=verifier(), verify_token=lookup
    )
    assert result == claims


async def test_examples_are_refused_once_their_window_has_passed() -> None:
    with pytest.raises(InvalidDpopProof):
        await verifier().verify(
            [TOKEN_REQUEST_PROOF], method="POST", url=TOKEN_URL, now=TOKEN_IAT + 306
        )


async def test_token_and_refresh_examples_share_a_jti_and_one_cache_refuses_the_second() -> None:
    # Each passes with its own cache (above); a server accepting proofs for an hour keeps the
    # first jti long enough to see the refresh proof as a replay of it.
    one_cache = verifier(max_age=3600)
    await one_cache.verify([TOKEN_REQUEST_PROOF], method="POST", url=TOKEN_URL, now=TOKEN_IAT)
    with pytest.raises(InvalidDpopProof, match="already used"):
        await one_cache.verify([REFRESH_PROOF], method="POST", url=TOKEN_URL, now=REFRESH_IAT)


async def test_the_same_example_proof_twice_is_a_replay() -> None:
    # §4.1's proof is reused verbatim in §5's authorization code request.
    v = verifier()
    await v.verify([TOKEN_REQUEST_PROOF], method="POST", url=TOKEN_URL, now=TOKEN_IAT)
    with pytest.raises(InvalidDpopProof) as caught:
        await v.verify([TOKEN_REQUEST_PROOF], method="POST", url=TOKEN_URL, now=TOKEN_IAT + 1)
    assert caught.value.code == "invalid_dpop_proof" and caught.value.status == 400


async def test_resource_example_with_another_token_fails_on_ath() -> None:
    with pytest.raises(InvalidDpopProof) as caught:
        await verifier().verify(
            [RESOURCE_PROOF],
            method="GET",
            url=RESOURCE_URL,
            now=RESOURCE_IAT,
            access_token=ACCESS_TOKEN + "x",
            bound_jkt=JKT,
            at_resource_server=True,
        )
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
