"""Prometheus metrics of the notifier (one registry per app, so tests can run several).

Names follow the project's convention: `sepsis_notifier_` prefix, base units in the
name (`_seconds`), `_total` on counters. The rules in deploy/prometheus/alerts.yml and
the dashboard (deploy/scripts/build_dashboard.py) use these names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NotifierMetrics"]

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ACK_BUCKETS_S = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


class NotifierMetrics:
    """Counters and histograms; labels are receiver names and reason enums, never patient data."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.deliveries = Counter("sepsis_notifier_deliveries_total", "Finished deliveries by receiver and outcome",
                                  ["receiver", "outcome"], registry=r)
        self.attempts = Counter("sepsis_notifier_delivery_attempts_total", "HTTP attempts by receiver and failure kind",
                                ["receiver", "kind"], registry=r)
        self.retries = Counter("sepsis_notifier_retries_total", "Retries scheduled, by receiver", ["receiver"],
                               registry=r)
        self.latency = Histogram("sepsis_notifier_delivery_latency_seconds",
                                 "Alert read to receiver 2xx, wall-clock seconds", ["receiver"],
                                 buckets=_LATENCY_BUCKETS_S, registry=r)
        self.dead_letters = Counter("sepsis_notifier_dead_letters_total", "Notifications dead-lettered after the last "
                                    "attempt", ["receiver"], registry=r)
        self.retrying = Gauge("sepsis_notifier_deliveries_retrying", "Notifications whose quick attempts failed and "
                              "that this replica keeps retrying until delivered or the deadline", ["receiver"],
                              registry=r)
        self.log_write = Histogram("sepsis_notifier_log_write_seconds", "A delivery's notification-log entry handed "
                                   "over to acknowledged by the broker (a crash inside it may repeat a chat message)",
                                   buckets=_LATENCY_BUCKETS_S, registry=r)
        self.escalations = Counter("sepsis_notifier_escalations_total", "Escalation steps by policy and reason",
                                   ["policy", "reason"], registry=r)
        self.time_to_ack = Histogram("sepsis_notifier_time_to_acknowledge_seconds", "First page to acknowledgement, "
                                     "wall-clock seconds", ["via"], buckets=_ACK_BUCKETS_S, registry=r)
        self.acks = Counter("sepsis_notifier_acks_total", "Acknowledgements received, by channel", ["via"], registry=r)
        self.silenced = Counter("sepsis_notifier_silenced_total", "Notifications muted by a silence", registry=r)
        self.deduplicated = Counter("sepsis_notifier_deduplicated_total", "Notifications not re-sent, by reason",
                                    ["reason"], registry=r)
        self.throttled = Counter("sepsis_notifier_throttle_waits_total", "Sends delayed by a rate limit", ["receiver"],
                                 registry=r)
        self.group_admissions = Counter(
            "sepsis_notifier_group_admissions_total", "Notifications at a grouping receiver, by decision "
            "(token_free: sent alone at once; opened / joined: combined while the rate limit was reached)",
            ["receiver", "reason"], registry=r)
        self.group_messages = Counter("sepsis_notifier_group_messages_total", "Messages that carried more than one "
                                      "alert (a group)", ["receiver"], registry=r)
        self.page_decisions = Counter("sepsis_notifier_page_decisions_total", "Alert transitions by what the paging "
                                      "policy made of them (page, update, resolve) and why", ["kind", "reason"],
                                      registry=r)
        self.episode_closed = Counter("sepsis_notifier_episode_closed_total", "Episodes closed in the console, by "
                                      "reason (not_sepsis, already_known, comfort_care): the false-alarm mix",
                                      ["reason"], registry=r)
        self.invalid_alerts = Counter("sepsis_notifier_invalid_alerts_total", "Malformed alert records dead-lettered",
                                      registry=r)
