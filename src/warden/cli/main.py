"""``warden``: the command line. Every command has ``--help``; listing commands take ``--json``."""

from __future__ import annotations

import typer

from warden.cli import serve

app = typer.Typer(
    name="warden",
    help="Warden: should this action, by this agent, proceed right now, in this context?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)


def _register_subcommands() -> None:
    # Sub-apps are optional while they are being built; each lives in its own module.
    import importlib

    for name in (
        "agents",
        "tools",
        "policy",
        "audit",
        "demo",
        "keys",
        "access",
        "entitlements",
        "reviews",
        "scim",
        "shadow",
        "profiles",
        "sessions",
        "baseline",
        "trace",
        "chains",
        "approvals",
        "kill",
        "connections",
        "mcp_proxy",
    ):
        try:
            module = importlib.import_module(f"warden.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"warden.cli.{name}":
                raise
            continue
        module.register(app)


_register_subcommands()

if __name__ == "__main__":
    app()
