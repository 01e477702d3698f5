"""Alerts: telling people, through webhooks, that Warden acted on its own (a session suspended
for drift...). See :mod:`warden.alerts.webhooks`."""

from warden.alerts.webhooks import Alert, Webhook, WebhookNotifier, webhooks_from_env

__all__ = ["Alert", "Webhook", "WebhookNotifier", "webhooks_from_env"]
