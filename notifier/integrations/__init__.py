"""One module per integration: each owns its receiver config and only formats and posts."""

from notifier.integrations.base import Integration, OutgoingRequest, SecretRef, post_request
from notifier.integrations.pagerduty import PagerDutyReceiver
from notifier.integrations.slack import SlackReceiver
from notifier.integrations.teams import TeamsReceiver
from notifier.integrations.webhook import WebhookReceiver

__all__ = [
    "Integration",
    "OutgoingRequest",
    "PagerDutyReceiver",
    "SecretRef",
    "SlackReceiver",
    "TeamsReceiver",
    "WebhookReceiver",
    "post_request",
]
