"""``warden chains``: delegation chains after the fact: a chain as a tree, what it touched,
and what was done for a person between two times.

Against a running server (``--url`` / ``WARDEN_URL``) or the local store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from warden.cli import chains_backend
from warden.cli.backend import JSON_HELP, URL_HELP
from warden.cli.output import console, fail, print_json
from warden.cli.trace import OUTCOME_STYLE

chains_app = typer.Typer(
    help="Delegation chains: a chain as a tree, its blast radius, a person's actions.",
    no_args_is_help=True,
)
CHAIN_HELP = "A chain id (`chn_…`, from `warden trace`)."


def register(app: typer.Typer) -> None:
    app.add_typer(chains_app, name="chains")


@chains_app.command("show")
def show(
    chain_id: str = typer.Argument(..., help=CHAIN_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every hop of a chain under its parent, with each hop's actions by outcome."""
    body = chains_backend.tree(url, chain_id)
    if as_json:
        print_json(body)
        return
    title = Text.assemble(
        ("person ", "dim"), (body["person"], "bold"), (f"  {body['chain_id']}  ", "dim"),
        _counts(body["actions"]),
    )  # fmt: skip
    tree = Tree(title)
    for node in body["tree"]:
        _add(tree, node)
    console.print(tree)
    for revocation in body["revocations"]:
        hops = ", ".join(revocation["hops"])
        console.print(f"revoked {hops} at {revocation['at']} by {revocation['actor']}: "
                      f"{revocation['reason']}", style="red")  # fmt: skip


@chains_app.command("blast-radius")
def blast_radius(
    chain_id: str = typer.Argument(..., help=CHAIN_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every tool the chain's allowed actions used; denied and held attempts apart."""
    body = chains_backend.blast_radius(url, chain_id)
    if as_json:
        print_json(body)
        return
    console.print(Text.assemble(
        ("person ", "dim"), (body["person"], "bold"), f"  {body['chain_id']}  ",
        f"{body['allowed']} allowed actions across {len(body['resources'])} tools",
    ))  # fmt: skip
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("tool", "allowed", "labels", "destinations", "agents"):
        table.add_column(name, justify="right" if name == "allowed" else "left", overflow="fold")
    for r in body["resources"]:
        table.add_row(r["tool"], str(r["allowed"]), ", ".join(r["labels"]) or "-",
                      ", ".join(r["destinations"]) or "-", "\n".join(r["agents"]))  # fmt: skip
    console.print(table)
    for name in ("denied", "held"):
        attempts = body[name]
        tools = ", ".join(f"{t} {n}" for t, n in attempts["by_tool"].items()) or "-"
        console.print(f"{name}: {attempts['total']} ({tools})")


@chains_app.command("person")
def person(
    who: str = typer.Argument(..., help="The person (as in their mandate), e.g. alice@acme."),
    start: str | None = typer.Option(None, "--from", help="ISO 8601 time, e.g. 2026-11-02T09:00Z."),
    end: str | None = typer.Option(None, "--to", help="ISO 8601 time (inclusive)."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Decisions and delegations made for a person between two times, in order."""
    body = chains_backend.person_actions(
        url, who, _time(start, "--from"), _time(end, "--to"), limit
    )
    if as_json:
        print_json(body)
        return
    if not body["actions"]:
        console.print(f"nothing recorded for {who} in that range", style="dim")
        return
    # One chain (the usual case) is named once above the table, so the ids in it stay whole.
    chains = {a["chain_id"] or "-" for a in body["actions"]}
    # The fixed-width columns first; the ids last, folding when the terminal is narrow.
    columns = ["at", "kind", "outcome", "depth", "tool", "agent"]
    if len(chains) > 1:
        columns.append("chain")
    else:
        console.print(Text.assemble(("chain ", "dim"), chains.pop()))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name in ("at", "kind", "outcome", "depth"))
    for a in body["actions"]:
        row = {
            "at": a["at"][:19].replace("T", " "),
            "kind": a["kind"],
            "agent": a["agent"],
            "tool": a["tool"] or "-",
            "outcome": Text(a["outcome"], style=OUTCOME_STYLE.get(a["outcome"], "")),
            "chain": a["chain_id"] or "-",
            "depth": "-" if a["depth"] is None else str(a["depth"]),
        }
        table.add_row(*(row[name] for name in columns))
    console.print(table)
    if body["next_after"] is not None:
        console.print(f"more after seq {body['next_after']} (narrow --from/--to)", style="dim")


@chains_app.command("revoke")
def revoke(
    hop_or_chain: str = typer.Argument(..., help="A hop id (hop_…) or a chain id (chn_…)."),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Revoke a hop and every hop below it (a chain id: the whole chain). The next action
    presenting any of them is denied; nobody delegates further from them."""
    body = chains_backend.revoke(url, hop_or_chain, reason)
    if as_json:
        print_json(body)
        return
    revoked = body["revoked"]
    console.print(
        f"revoked {len(revoked)} hop{'s' if len(revoked) != 1 else ''}: " + ", ".join(revoked)
    )


def _add(parent: Tree, node: dict[str, Any]) -> None:
    label = Text.assemble((f"hop {node['depth']} ", "dim"), (node["to"], "bold"), "  ",
                          _counts(node["actions"]))  # fmt: skip
    tools = node["tools"]
    label.append(f"\n{node['hop_id']} · tools: " + (", ".join(tools) if tools is not None
                 else "as its parent"), style="dim")  # fmt: skip
    if node["revoked_at"]:
        label.append(f"\nrevoked at {node['revoked_at']}", style="red")
    branch = parent.add(label)
    for child in node["children"]:
        _add(branch, child)


def _counts(actions: dict[str, int]) -> Text:
    text = Text()
    for outcome in ("allow", "step_up", "deny"):
        text.append(f"{outcome} {actions[outcome]} ", style=OUTCOME_STYLE[outcome])
    return text


def _time(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"invalid {option} `{value}`: not an iso 8601 time")
    if moment.utcoffset() is None:
        fail(f"invalid {option} `{value}`: give a timezone, such as `Z`")
    return moment
