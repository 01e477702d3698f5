"""``warden trace <decision_id>``: who an action was done for, through which agents.

Prints the path person → agents → action as a tree: each hop's delegation as the ledger
recorded it (tools, limits, expiry, revocation), then the action's outcome and reasons.
Against a running server (``--url`` / ``WARDEN_URL``) or the local store.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text
from rich.tree import Tree

from warden.cli import chains_backend
from warden.cli.backend import JSON_HELP, URL_HELP
from warden.cli.output import console, print_json

OUTCOME_STYLE = {"allow": "green", "step_up": "yellow", "deny": "red", "delegated": "green"}


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)


def trace(
    decision_id: str = typer.Argument(..., help="A decision id (the ledger entry id)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Trace a decision back to the person it was made for."""
    body = chains_backend.trace(url, decision_id)
    if as_json:
        print_json(body)
        return
    console.print(render_trace(body))


def render_trace(body: dict[str, Any]) -> Tree:
    """The trace as a tree: the person at the root, one level per hop, the action last."""
    chain = body["chain_id"] or _no_chain(body)
    root = Tree(Text.assemble(("person ", "dim"), (body["person"], "bold"), ("  " + chain, "dim")))
    node = root
    for hop in body["hops"]:
        node = node.add(_hop(hop))
    node.add(_action(body["action"]))
    return root


def _no_chain(body: dict[str, Any]) -> str:
    return "chain presented but not valid" if body["chain_presented"] else "no chain"


def _hop(hop: dict[str, Any]) -> Text:
    label = Text.assemble((f"hop {hop['depth']} ", "dim"), (hop["to"], "bold"))
    if hop["missing"]:
        return label.append(f"  {hop['hop_id']}: not in the hop store", style="red")
    delegation = hop["delegation"]
    if hop["hop_id"] is None:
        label.append(f"  acts under mandate {hop['mandate_id'] or '-'} (no delegation)", "dim")
        return label
    if hop["depth"] == 0 and delegation is None:  # the person's own agent: the mandate itself
        label.append(f"  holds the mandate {hop['mandate_id'] or '-'}", style="dim")
        label.append(f" of {hop['from']}", style="dim")
        if hop["revoked_at"]:
            label.append(f"\nrevoked at {hop['revoked_at']}", style="red")
        return label
    outcome = delegation["outcome"] if delegation else "unrecorded"
    label.append(f"  {outcome}", style=OUTCOME_STYLE.get(outcome, "red"))
    label.append(f" by {hop['from']}", style="dim")
    if delegation:
        label.append("\n" + _delegation_details(delegation["details"], delegation["recorded_at"]))
    if hop["revoked_at"]:
        label.append(f"\nrevoked at {hop['revoked_at']}", style="red")
    return label


def _delegation_details(details: dict[str, Any], at: str) -> str:
    tools = details.get("tools")
    limits = details.get("limits") or {}
    capped = "; ".join(f"{t}.{a} ≤ {m:g}" for t, args in limits.items() for a, m in args.items())
    parts = [
        f"mandate {details.get('mandate_id', '-')}",
        "tools: " + (", ".join(tools) if tools is not None else "as its parent"),
        f"limits: {capped}" if capped else "",
        f"at {at}",
    ]
    return " · ".join(p for p in parts if p)


def _action(action: dict[str, Any]) -> Text:
    outcome = action["outcome"]
    text = Text.assemble(
        ("action ", "dim"),
        (action["tool"] or action["action"], "bold"),
        "  ",
        (outcome.upper(), OUTCOME_STYLE.get(outcome, "")),
        (f"  at {action['recorded_at']}", "dim"),
    )
    for reason in action["reasons"]:
        text.append(f"\n• {reason.get('code', '')}: {reason.get('message', '')}")
    for error in action["errors"]:
        text.append(f"\n! {error}", style="red")
    extra = [("labels", action["labels"]), ("destinations", action["destinations"])]
    for name, values in extra:
        if values:
            text.append(f"\n{name}: {', '.join(values)}", style="dim")
    return text
