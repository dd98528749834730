"""Builds the stage pipeline from the config (shared by the app, the tests and the benchmark).

    Sequence[ route -> silence -> dedup -> ByReceiver{ receiver: [throttle?, EachAlone(retry(send) -> record_sent)] } ]

A receiver with a `group` section gets a GroupStage instead of its throttle: it hands each message (one
alert, or a group of the alerts that would have waited for a token) to Sequence[retry(send), record_sent].
What the quick attempts could not deliver goes on in the background (`Redelivery`, one lane per receiver).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from notifier.clock import Clock
from notifier.config import NotifierConfig
from notifier.core.dedup import NotificationLogView
from notifier.core.model import Notification, NotificationLogEntry, NotifyAction
from notifier.core.silence import Silence
from notifier.integrations.base import Integration
from notifier.metrics import NotifierMetrics
from notifier.pipeline import ByReceiver, EachAlone, Sequence, Stage
from notifier.ports import DeadLetterSink, LogSink
from notifier.stages.dedup import DedupStage
from notifier.stages.group import GroupStage
from notifier.stages.record_sent import RecordSentStage
from notifier.stages.redeliver import Redelivery, SettledCheck, stale_after_s
from notifier.stages.retry import RetryStage
from notifier.stages.route import RouteStage
from notifier.stages.send import Sender
from notifier.stages.silence import SilenceStage
from notifier.stages.throttle import ThrottleStage

__all__ = ["BuiltPipeline", "build_pipeline", "settled_check"]


@dataclass(frozen=True)
class BuiltPipeline:
    pipeline: Stage
    dedup: DedupStage
    redelivery: Redelivery


def settled_check(log_view: NotificationLogView, acknowledged: Callable[[str], bool]) -> SettledCheck:
    """Why a pending trigger is no longer worth retrying: its episode was resolved (a resolve is in the log
    for any receiver) or acknowledged. Resolves and acknowledgements themselves are always retried."""
    def settled(item: Notification) -> str | None:
        if item.action != NotifyAction.TRIGGER:
            return None
        episode = item.alert.episode_id
        if any(r.action == NotifyAction.RESOLVE for r in log_view.for_episode(episode)):
            return "the episode was resolved"
        return "the episode was acknowledged" if acknowledged(episode) else None

    return settled


def build_pipeline(config: NotifierConfig, integrations: Mapping[str, Integration], http: httpx.AsyncClient,
                   clock: Clock, metrics: NotifierMetrics, log_view: NotificationLogView, log_sink: LogSink,
                   dead_letters: DeadLetterSink, silences: Callable[[], Iterable[Silence]],
                   ack_link: Callable[[str], str],
                   on_recorded: Callable[[NotificationLogEntry], None] | None = None,
                   acknowledged: Callable[[str], bool] = lambda episode: False) -> BuiltPipeline:
    """The whole notify pipeline; every dependency is an explicit argument. `acknowledged(episode id)` stops
    the background retries of the episode's triggers."""
    sender = Sender(integrations, http, ack_link, clock, metrics)
    dedup = DedupStage(log_view, metrics)
    retry_policy = config.retry.policy()
    max_timeout_s = max(i.timeout_s for i in integrations.values())
    redelivery = Redelivery(clock, metrics, retry_policy, log_view, log_sink, settled_check(log_view, acknowledged),
                            stale_after_s(retry_policy, max_timeout_s))
    per_receiver: dict[str, Stage] = {}
    for receiver in config.receivers:
        integration = integrations[receiver.name]
        rate = receiver.rate_per_s or integration.default_rate_per_s
        burst = receiver.burst or integration.default_burst
        retry = RetryStage(sender, retry_policy, clock, metrics, dead_letters, config.fallback_receiver,
                           background=redelivery)
        record = RecordSentStage(log_view, log_sink, clock, on_recorded, dedup.release)
        redelivery.register(receiver.name, retry, record)
        deliver = EachAlone(Sequence([retry, record]), name=f"receiver:{receiver.name}")
        if rate and receiver.group is not None:
            # The group stage owns the receiver's token bucket and hands each message (alone or a group) on.
            per_receiver[receiver.name] = GroupStage(receiver.name, rate, burst, receiver.group, deliver, clock,
                                                     metrics)
        elif rate:
            per_receiver[receiver.name] = Sequence([ThrottleStage(receiver.name, rate, burst, clock, metrics), deliver],
                                                   name=f"receiver:{receiver.name}")
        else:
            per_receiver[receiver.name] = deliver
    pipeline = Sequence([
        RouteStage(config.route, config.policies(), log_view),
        SilenceStage(silences, clock, metrics),
        dedup,
        ByReceiver(per_receiver),
    ], name="notify")
    return BuiltPipeline(pipeline, dedup, redelivery)
