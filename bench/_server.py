"""A Warden server for the HTTP benchmark: the real app plus a bare JSON echo route.

Run by bench/decision.py in a subprocess. ``--no-ledger`` swaps the ledger's append for a
no-op (benchmark only) to measure what recording costs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import Request, Response

sys.path.insert(0, str(Path(__file__).parent))

from fleet import agents, policies, tools
from warden.registry.store.sql import SqlRegistryStore
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.server.loop import freeze_startup_heap, run


async def main(args: argparse.Namespace) -> None:
    runtime = await Runtime.open(args.database_url)
    store = SqlRegistryStore(runtime._engine)
    await store.insert_agents(list(agents(args.agents)))
    for tool in tools():
        await store.upsert_tool(tool)
    await runtime.apply_policies(policies(args.policies), author="bench")
    await runtime.refresh()
    if args.no_ledger:

        async def append(*_: Any, **__: Any) -> None:
            return None

        runtime.ledger.append = append  # type: ignore[method-assign,assignment]
    app = create_app(runtime, admin_token="bench")

    @app.post("/bench/echo")
    async def echo(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return Response(orjson.dumps(body), media_type="application/json")

    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning"
    )
    freeze_startup_heap()
    try:
        await uvicorn.Server(config).serve()
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--no-ledger", action="store_true")
    run(main(parser.parse_args()))
