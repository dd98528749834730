"""De-duplication against the notification log, and token-bucket arithmetic."""

from __future__ import annotations

import pytest

from notifier.core.dedup import DedupReason, NotificationLogView, check_dedup
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry, NotifyAction
from notifier.core.throttle import TokenBucket, take_token
from tests.notifier.helpers import make_alert


def _entry(item: Notification, outcome: DeliveryOutcome, at: float = 10.0) -> NotificationLogEntry:
    return NotificationLogEntry.from_notification(item.with_(outcome=outcome, attempts=1), at)


@pytest.mark.parametrize(("logged", "candidate", "reason"), [
    (None, Notification(make_alert(), receiver="slack"), DedupReason.FIRST_SEND),
    (DeliveryOutcome.DELIVERED, Notification(make_alert(), receiver="slack"), DedupReason.ALREADY_DELIVERED),
    (DeliveryOutcome.FAILED, Notification(make_alert(), receiver="slack"), DedupReason.ALREADY_FAILED),
    (DeliveryOutcome.DELIVERED, Notification(make_alert(), receiver="pager"), DedupReason.FIRST_SEND),
    (DeliveryOutcome.DELIVERED, Notification(make_alert(sequence=1), receiver="slack"), DedupReason.FIRST_SEND),
    (DeliveryOutcome.DELIVERED, Notification(make_alert(), receiver="slack", tier=1), DedupReason.FIRST_SEND),
    (DeliveryOutcome.DELIVERED, Notification(make_alert(), receiver="slack", action=NotifyAction.ACKNOWLEDGE),
     DedupReason.FIRST_SEND),
])
def test_check_dedup(logged: DeliveryOutcome | None, candidate: Notification, reason: DedupReason) -> None:
    view = NotificationLogView()
    if logged is not None:
        view.add(_entry(Notification(make_alert(), receiver="slack"), logged))
    assert check_dedup(candidate, view.as_mapping()).reason == reason


def test_log_view_episode_index_lists_triggered_receivers_in_order() -> None:
    alert = make_alert()
    view = NotificationLogView([
        _entry(Notification(alert, receiver="pager"), DeliveryOutcome.DELIVERED, at=5),
        _entry(Notification(alert, receiver="slack"), DeliveryOutcome.DELIVERED, at=3),
        _entry(Notification(alert, receiver="dead"), DeliveryOutcome.FAILED, at=4),
    ])
    assert view.delivered_receivers(alert.episode_id) == ["slack", "pager"]


@pytest.mark.parametrize(("rate", "burst", "times", "waits"), [
    (1.0, 1, [0, 0, 0], [0, 1.0, 2.0]),        # Slack-like: one a second
    (1.0, 3, [0, 0, 0, 0], [0, 0, 0, 1.0]),    # burst of three, then wait
    (2.0, 1, [0, 0.5, 1.0], [0, 0, 0]),        # spaced out: never waits
    (2.0, 10, [0] * 12, [0] * 10 + [0.5, 1.0]),  # PagerDuty-like 120/min
])
def test_token_bucket_waits(rate: float, burst: int, times: list[float], waits: list[float]) -> None:
    bucket = TokenBucket.full(rate, burst, 0.0)
    got = []
    for now in times:
        bucket, wait = take_token(bucket, now)
        got.append(round(wait, 6))
    assert got == waits
