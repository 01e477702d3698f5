"""What the ledger keeps of a SCIM write: who, which resource, what changed — never values
such as a password."""

from __future__ import annotations

from datetime import UTC, datetime

from scim2_models import EnterpriseUser, Meta, User

from warden.scim.service import audit_payload

WHEN = datetime(2027, 1, 1, tzinfo=UTC)


def user(**fields: object) -> User:  # type: ignore[type-arg]
    model = User[EnterpriseUser]  # type: ignore[type-arg]
    found = model(id="u1", user_name="ana@acme.example", **fields)
    found.meta = Meta(resource_type="User", created=WHEN, last_modified=WHEN, version='W/"1"')
    return found


def test_an_update_names_the_changed_attributes_and_the_active_state() -> None:
    before = user(active=True, display_name="Ana")
    after = user(active=False, display_name="Ana", title="CFO", password="Pa55word!")
    after[EnterpriseUser] = EnterpriseUser(department="Finance")

    payload = audit_payload("ida@acme.example", after, before)

    assert payload == {
        "actor": "ida@acme.example",
        "resource_type": "User",
        "id": "u1",
        "user_name": "ana@acme.example",
        "active": False,
        "attributes": [
            "active",
            "password",
            "title",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ],
    }
    assert "Pa55word!" not in str(payload) and "CFO" not in str(payload)
