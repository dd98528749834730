"""Builds the stage pipeline from the config (shared by the app, the tests and the benchmark).

    Sequence[ route -> silence -> dedup -> ByReceiver{ receiver: Sequence[throttle?, retry(send), record_sent] } ]

A receiver with a `group` section gets a GroupStage instead of its throttle: it hands each message (one
alert, or a group of the alerts that would have waited for a token) to Sequence[retry(send), record_sent].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from notifier.clock import Clock
from notifier.config import NotifierConfig
from notifier.core.dedup import NotificationLogView
from notifier.core.model import NotificationLogEntry
from notifier.core.silence import Silence
from notifier.integrations.base import FastPoster, Integration
from notifier.metrics import NotifierMetrics
from notifier.pipeline import ByReceiver, Sequence, Stage
from notifier.ports import DeadLetterSink, LogSink
from notifier.stages.dedup import DedupStage
from notifier.stages.group import GroupStage
from notifier.stages.record_sent import RecordSentStage
from notifier.stages.retry import RetryStage
from notifier.stages.route import RouteStage
from notifier.stages.send import Sender
from notifier.stages.silence import SilenceStage
from notifier.stages.throttle import ThrottleStage

__all__ = ["BuiltPipeline", "build_pipeline"]


@dataclass(frozen=True)
class BuiltPipeline:
    pipeline: Stage
    dedup: DedupStage


def build_pipeline(config: NotifierConfig, integrations: Mapping[str, Integration], http: httpx.AsyncClient,
                   clock: Clock, metrics: NotifierMetrics, log_view: NotificationLogView, log_sink: LogSink,
                   dead_letters: DeadLetterSink, silences: Callable[[], Iterable[Silence]],
                   ack_link: Callable[[str], str],
                   on_recorded: Callable[[NotificationLogEntry], None] | None = None,
                   fast: FastPoster | None = None) -> BuiltPipeline:
    """The whole notify pipeline; every dependency is an explicit argument (`fast`: see Sender)."""
    sender = Sender(integrations, http, ack_link, clock, metrics, fast)
    dedup = DedupStage(log_view, metrics)
    retry_policy = config.retry.policy()
    per_receiver: dict[str, Stage] = {}
    for receiver in config.receivers:
        integration = integrations[receiver.name]
        rate = receiver.rate_per_s or integration.default_rate_per_s
        burst = receiver.burst or integration.default_burst
        deliver = Sequence([
            RetryStage(sender, retry_policy, clock, metrics, dead_letters, config.fallback_receiver),
            RecordSentStage(log_view, log_sink, clock, on_recorded, dedup.release),
        ], name=f"receiver:{receiver.name}")
        if rate and receiver.group is not None:
            # The group stage owns the receiver's token bucket and hands each message (alone or a group) on.
            per_receiver[receiver.name] = GroupStage(receiver.name, rate, burst, receiver.group, deliver, clock,
                                                     metrics)
        elif rate:
            per_receiver[receiver.name] = Sequence([ThrottleStage(receiver.name, rate, burst, clock, metrics),
                                                    *deliver.stages], name=f"receiver:{receiver.name}")
        else:
            per_receiver[receiver.name] = deliver
    pipeline = Sequence([
        RouteStage(config.route, config.policies(), log_view),
        SilenceStage(silences, clock, metrics),
        dedup,
        ByReceiver(per_receiver),
    ], name="notify")
    return BuiltPipeline(pipeline, dedup)
