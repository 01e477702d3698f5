"""Alert webhooks against a real HTTP receiver (a threaded http.server on loopback)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from warden.alerts.webhooks import Alert, Webhook, WebhookNotifier, webhooks_from_env

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import WebhookReceiver


@pytest.fixture
def receiver(webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    return webhook_receiver


def alert(n: int = 1) -> Alert:
    return Alert(
        kind="session.suspended",
        summary=f"session ses_{n} of `spiffe://acme/agent/clerk` suspended for drift",
        severity="critical",
        at=datetime(2026, 11, 28, 12, tzinfo=UTC),
        details={"session": f"ses_{n}", "explanation": "drift 93/100: first use of `export`"},
    )


async def test_alerts_reach_the_receiver_in_order_across_an_outage(
    receiver: WebhookReceiver,
) -> None:
    receiver.failures = 3  # the receiver is down for the first three attempts
    notifier = WebhookNotifier([Webhook(receiver.url)], backoff=0.01, attempts=5)
    for n in range(3):
        notifier.notify(alert(n))
    await notifier.drained()
    await notifier.close()
    sessions = [json.loads(body)["details"]["session"] for _, body in receiver.received]
    assert sessions == ["ses_0", "ses_1", "ses_2"]
    assert receiver.attempts == 6 and notifier.delivered == 3 and notifier.given_up == 0


async def test_a_client_error_is_not_retried(receiver: WebhookReceiver) -> None:
    receiver.failures, receiver.status = 1, 400
    notifier = WebhookNotifier([Webhook(receiver.url)], backoff=0.01, attempts=5)
    notifier.notify(alert())
    await notifier.drained()
    await notifier.close()
    assert receiver.attempts == 1 and notifier.given_up == 1 and not receiver.received


async def test_signed_alerts_verify_with_the_shared_secret(receiver: WebhookReceiver) -> None:
    notifier = WebhookNotifier([Webhook(receiver.url)], secret=b"shared-secret")
    notifier.notify(alert())
    await notifier.drained()
    await notifier.close()
    [(headers, body)] = receiver.received
    stamp, v1 = (part.split("=", 1)[1] for part in headers["warden-signature"].split(","))
    expected = hmac.new(b"shared-secret", stamp.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(v1, expected.hexdigest())
    sent = json.loads(body)
    assert headers["warden-alert-id"] == sent["id"]
    assert sent["kind"] == "session.suspended" and sent["severity"] == "critical"


async def test_slack_webhooks_get_slacks_payload(receiver: WebhookReceiver) -> None:
    notifier = WebhookNotifier([Webhook(receiver.url, "slack")])
    notifier.notify(alert())
    await notifier.drained()
    await notifier.close()
    [(_, body)] = receiver.received
    text = json.loads(body)["text"]
    assert "suspended for drift" in text and "first use of `export`" in text


def test_webhooks_from_the_environment() -> None:
    env = {"WARDEN_ALERT_WEBHOOKS": " https://siem.example/in , slack:https://hooks.slack.com/x "}
    assert webhooks_from_env(env) == (
        Webhook("https://siem.example/in"),
        Webhook("https://hooks.slack.com/x", "slack"),
    )
    assert webhooks_from_env({}) == ()


def test_a_bad_webhook_entry_is_named_without_its_secret_path() -> None:
    with pytest.raises(ValueError, match="not an http") as caught:
        webhooks_from_env({"WARDEN_ALERT_WEBHOOKS": "ftp://files.example/token-123"})
    assert "WARDEN_ALERT_WEBHOOKS" in str(caught.value) and "token-123" not in str(caught.value)
