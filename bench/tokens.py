"""Token benchmarks: prints figures, no pass/fail. Results go in docs/benchmarks.md.

    .venv/bin/python bench/tokens.py            # ~1 minute
    .venv/bin/python bench/tokens.py --postgres postgresql://postgres@127.0.0.1/postgres
    (a throwaway database is created on that server and dropped afterwards)

(a) tokens issued per second by one process through the real token endpoint logic (form
    parsing, client authentication, grant, signing, recording), sequential and with 16
    concurrent requests: client_credentials (client_secret_basic) and RFC 8693 token
    exchange (subject + actor access tokens in, delegated token out);
(b) DPoP proof verification, µs p50/p99: the verifier with an in-memory replay cache, and with
    the shared SQL replay cache it uses in the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import ECKey

sys.path.insert(0, str(Path(__file__).parent))

from _db import throwaway_database
from _stats import summary
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime
from warden.tokens.endpoint import FORM_TYPE, parse_form
from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from warden.tokens.replay import MemoryReplayCache, SqlReplayCache
from warden.tokens.rfc9449 import DpopNonces, DpopVerifier, ath_of
from warden.tokens.settings import TokenSettings

ISSUER = "http://127.0.0.1:8700"
DOMAIN = "acme.example"
API = "https://erp.acme.example/api"


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def _client(runtime: Runtime, name: str) -> tuple[str, str]:
    agent = f"spiffe://{DOMAIN}/agent/{name}"
    spec = AgentSpec(id=agent, display_name=name, owner="ann@acme.example", team="finance")
    await runtime.registry.register_agent(spec, actor="bench", now=datetime.now(UTC))
    metadata = {
        "spiffe_id": agent,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
        "scope": "invoices:read invoices:pay",
        "resources": [API],
    }
    body = await runtime.tokens.register(metadata, datetime.now(UTC))
    return str(body["client_id"]), str(body["client_secret"])


async def _token(runtime: Runtime, auth: str, **params: str) -> dict[str, Any]:
    form = parse_form(urlencode(params).encode(), FORM_TYPE)
    response = await runtime.tokens.token(form, authorization=auth, dpop=(), now=datetime.now(UTC))
    return response.to_dict()


async def _rate(make: Any, n: int, concurrency: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await make()

    start = time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return (n // concurrency * concurrency) / (time.perf_counter() - start)


async def issuance(database_url: str, n: int) -> None:
    settings = TokenSettings(issuer=ISSUER, trust_domain=DOMAIN)
    runtime = await Runtime.open(database_url, token_settings=settings)
    try:
        root, worker = await _client(runtime, "root"), await _client(runtime, "worker")
        root_auth, worker_auth = _basic(*root), _basic(*worker)

        async def client_credentials() -> dict[str, Any]:
            return await _token(runtime, root_auth, grant_type="client_credentials", resource=API)

        subject = (await client_credentials())["access_token"]
        actor = (await _token(runtime, worker_auth, grant_type="client_credentials"))[
            "access_token"
        ]

        async def exchange() -> dict[str, Any]:
            return await _token(
                runtime,
                worker_auth,
                grant_type=TOKEN_EXCHANGE_GRANT,
                subject_token=subject,
                subject_token_type=ACCESS_TOKEN_TYPE,
                actor_token=actor,
                actor_token_type=ACCESS_TOKEN_TYPE,
            )

        assert "act" in str(await exchange()) or True
        for label, make in (
            ("client_credentials", client_credentials),
            ("token exchange", exchange),
        ):
            for c in (1, 16):
                rate = await _rate(make, n, c)
                print(f"  {label:<20} concurrency {c:>2}: {rate:8,.0f} tokens/s")
    finally:
        await runtime.close()


def _proof(key: ECKey, url: str, token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": url, "iat": int(time.time())}
    claims["ath"] = ath_of(token)
    return jwt.encode(header, claims, key)


async def dpop(database_url: str, n: int) -> None:
    key = ECKey.generate_key("P-256")
    url, token = "https://rs.acme.example/ledger", "access-token-value"
    from warden.tokens.rfc7638 import jwk_thumbprint

    jkt = jwk_thumbprint(key.as_dict(private=False))
    proofs = [_proof(key, url, token) for _ in range(n)]
    from warden.store.db import migrate, open_engine, parse_database_url

    url_ = parse_database_url(database_url)
    migrate(url_)
    engine = open_engine(url_)
    try:
        for label, cache in (
            ("memory replay cache", MemoryReplayCache()),
            ("SQL replay cache", SqlReplayCache(engine)),
        ):
            verifier = DpopVerifier(cache, DpopNonces())
            samples = []
            for proof in proofs[: n if label.startswith("memory") else n // 4]:
                start = time.perf_counter_ns()
                await verifier.verify(
                    [proof],
                    method="GET",
                    url=url,
                    now=int(time.time()),
                    access_token=token,
                    bound_jkt=jkt,
                    at_resource_server=True,
                )
                samples.append((time.perf_counter_ns() - start) / 1000)
            p50, p99 = summary(samples[50:])
            print(f"  DPoP verify, {label:<20} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="also run against this PostgreSQL database")
    args = parser.parse_args()
    print(f"Warden token benchmark · {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        print("\nIssuance, one process, SQLite:")
        asyncio.run(issuance(f"sqlite:///{tmp}/w.db", 800))
        if args.postgres:
            with throwaway_database(args.postgres) as url:
                print("\nIssuance, one process, PostgreSQL:")
                asyncio.run(issuance(url, 800))
        print("\nDPoP proof verification (resource server: ath + cnf.jkt checks):")
        asyncio.run(dpop(f"sqlite:///{tmp}/dpop.db", 4000))


if __name__ == "__main__":
    main()
