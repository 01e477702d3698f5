"""``warden scim``: the people your IdP provisions into Warden over SCIM 2.0.

    warden scim people             every SCIM User: userName, primary email, active
    warden scim people --inactive  only those the IdP deactivated

Against a running server (``--url`` / ``WARDEN_URL``) through ``/scim/v2/Users`` with the
bearer token (role ``admin`` or ``auditor``), else from the local store.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from warden.cli.backend import JSON_HELP, URL_HELP, HttpBackend, LocalBackend, connect
from warden.cli.output import console, print_json
from warden.scim.directory import display_name

scim_app = typer.Typer(
    help="The people and groups your IdP provisions over SCIM 2.0.", no_args_is_help=True
)

PAGE = 500


def register(app: typer.Typer) -> None:
    app.add_typer(scim_app, name="scim")


@scim_app.command("people")
def people(
    inactive: bool = typer.Option(False, "--inactive", help="Only people the IdP deactivated."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The SCIM Users: who Warden knows from the IdP, and whether they are active."""
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            found = _remote_people(backend)
        else:
            assert isinstance(backend, LocalBackend)
            found = [p.to_dict() for p in backend.run(lambda rt: rt.scim.people.people())]
    if inactive:
        found = [p for p in found if not p["active"]]
    if as_json:
        print_json({"people": found})
        return
    if not found:
        console.print("no people" + (" deactivated" if inactive else " provisioned yet"))
        return
    table = Table("userName", "email", "name", "active", "id")
    for person in found:
        active = "yes" if person["active"] else "[red]no[/]"
        name = person["display_name"] or ""
        table.add_row(person["user_name"], person["email"] or "", name, active, person["id"])
    console.print(table)


def _remote_people(backend: HttpBackend) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        params = {"startIndex": len(found) + 1, "count": PAGE, "sortBy": "userName"}
        body = backend.call("GET", "/scim/v2/Users", params=params)
        found.extend(_person(user) for user in body.get("Resources", []))
        if not body.get("Resources") or len(found) >= int(body["totalResults"]):
            return found


def _person(user: dict[str, Any]) -> dict[str, Any]:
    emails = [e for e in user.get("emails", []) if e.get("value")]
    primary = next((e for e in emails if e.get("primary")), emails[0] if len(emails) == 1 else None)
    return {
        "id": user["id"],
        "user_name": user.get("userName", ""),
        "email": primary["value"].lower() if primary else None,
        "display_name": display_name(user),
        "active": user.get("active") is not False,
        "updated_at": user.get("meta", {}).get("lastModified"),
    }
