"""Wiring of `sepsis-alert notify`: Kafka in, the stage pipeline, escalation timers, the HTTP API.

Lifecycle: read the notification log, acks and silences to their end; rebuild
the escalation timers; then run three loops (alerts, escalation tick, state
tail) and the HTTP API until stopped. Alert offsets are committed after the
outcomes of their batch are in the notification log (at least once).

Operations: `readiness` holds the checks `kafka_connected`, `partitions_assigned`
and `state_loaded` (notification log, acks and silences read to their end);
`consumer_lag` exports the alerts consumer's lag on the app's metrics registry.

- `kafka_connected` comes from a `KafkaProbe` (a real metadata request every
  `KAFKA_PROBE_INTERVAL_S`), plus immediate failures reported by our own poll,
  flush and commit paths. A poll alone cannot tell: during a broker outage
  kafka-python's poll just returns nothing, exactly as on a quiet ward.
- `partitions_assigned` is informational and always passes: its detail says how
  many alert partitions this replica holds. A replica with none (a standby, or
  more replicas than partitions) still serves the ack/silence API and the
  PagerDuty webhook from the shared state topics, so taking it out of the load
  balancer would break acknowledgements, not help them.
The ops HTTP server that serves both is started by notifier.worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import OrderedDict

import uvicorn
from kafka import KafkaConsumer

from notifier.adapters.http_api import create_api
from notifier.adapters.kafka_in import AlertSource
from notifier.adapters.kafka_state import (
    KafkaDeadLetters,
    KafkaLogSink,
    NotifierTopics,
    OwnWrites,
    StateRecord,
    StateTail,
)
from notifier.clock import Clock, SystemClock
from notifier.config import NotifierConfig, NotifierSettings
from notifier.console.live import ConsoleState
from notifier.console.web import console_options
from notifier.consume import AlertConsumer
from notifier.core.dedup import NotificationLogView
from notifier.core.links import ack_url
from notifier.core.model import (
    AckAction,
    AckEvent,
    DeliveryOutcome,
    LogRecord,
    Notification,
    NotificationLogEntry,
    NotifyAction,
    action_for,
    compact_entry,
    resend_view,
)
from notifier.core.packed import PackedAlert
from notifier.core.paging import PageKind
from notifier.core.silence import Silence, SilenceRequest
from notifier.escalator import EscalationTracker
from notifier.integrations.base import Integration, http_client
from notifier.logsafe import register_secrets
from notifier.metrics import NotifierMetrics
from notifier.pager import PagingTracker
from notifier.pipeline import Stage
from notifier.responders import ResponderActions
from notifier.silencer import SilenceKeeper
from notifier.wiring import build_pipeline
from schemas.alert import Alert, AlertTransition
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.ops.kafka_lag import ConsumerLag
from sepsis_alert.ops.kafka_probe import KafkaProbe
from sepsis_alert.ops.readiness import ReadinessRegistry

__all__ = ["READINESS_CHECKS", "NotifierApp"]

READINESS_CHECKS = ("kafka_connected", "partitions_assigned", "state_loaded")
KAFKA_PROBE_INTERVAL_S = 5.0
"""How often (processing-time seconds) the readiness probe asks the cluster for metadata."""
STOP_LOOPS_S = 6.0
"""How long stop() lets the loops finish the batch in hand."""
STOP_FLUSH_S = 3.0
"""How long stop() waits for buffered log writes to reach the broker."""

log = logging.getLogger("notifier.app")


class NotifierApp:
    """One notifier replica. `await start()`, then `await stop()`; `api_port` is known after start."""

    def __init__(self, settings: NotifierSettings, config: NotifierConfig, kafka: KafkaSettings,
                 clock: Clock | None = None, worker_id: str = "notifier", topics: NotifierTopics | None = None) -> None:
        self.settings = settings
        self.topics = topics or NotifierTopics.from_settings(settings)
        self.config = config
        self.kafka = kafka
        self.clock: Clock = clock or SystemClock()
        self.worker_id = worker_id
        self.metrics = NotifierMetrics()
        self.readiness = ReadinessRegistry()
        self.readiness.register(*READINESS_CHECKS)
        self.kafka_probe = KafkaProbe(kafka, self.readiness, check="kafka_connected",
                                      interval_s=KAFKA_PROBE_INTERVAL_S)
        self._probe_started = False
        self.consumer_lag = ConsumerLag(settings.consumer_group, registry=self.metrics.registry)
        self.integrations: dict[str, Integration] = {r.name: r.build() for r in config.receivers}
        secrets = [s for i in self.integrations.values() for s in i.secrets()]
        secrets += [s.get_secret_value() for s in (settings.link_secret, settings.api_token,
                                                    settings.pagerduty_webhook_secret, kafka.sasl_password)
                    if s is not None]
        self.secret_values: list[str] = secrets
        """Every secret this replica holds (receiver URLs and keys, link secret, API token, PagerDuty webhook
        secret, Kafka SASL password), for the log redactor."""
        register_secrets(secrets)
        # Memory stays bounded however long the replica runs (issue #10): the log view keeps slim records under
        # a cap, the tracker drops resolved episodes, and only open episodes keep an alert (resend_view).
        self.log_view = NotificationLogView(max_entries=settings.log_memory_max_entries)
        self.acks: OrderedDict[str, AckEvent] = OrderedDict()
        """Latest acknowledgement per episode, oldest first, at most settings.max_closed_episodes."""
        self.open_alerts: OrderedDict[str, PackedAlert] = OrderedDict()
        """Latest alert (resend_view, packed) of each open episode that paged a receiver, for the acknowledgement
        follow-ups."""
        self.tracker = EscalationTracker(config.policies(), self.metrics, settings.max_open_episodes,
                                         settings.max_closed_episodes)
        self.paging = PagingTracker(config.paging, self.metrics, settings.max_open_episodes)
        self.console = ConsoleState(settings.max_open_episodes)
        """What the console shows: every episode's transitions, deliveries and actions (notifier.console)."""
        self.producer = EventProducer(kafka, linger_ms=1)
        self.silencer = SilenceKeeper(self.producer, self.topics.silences, self.clock, config.max_silence_s)
        self.http = http_client(settings.max_concurrency)
        self.echoes = OwnWrites()
        self.log_sink = KafkaLogSink(self.producer, self.topics.notification_log, self.echoes)
        self.log_sink.on_acked = self.metrics.log_write.observe
        self.dead_letters = KafkaDeadLetters(self.producer, worker_id, self.topics.dead_letter)
        self.pipeline = self._build_pipeline()
        self.responders = ResponderActions(
            clock=self.clock, producer=self.producer, acks_topic=self.topics.acks, policy=config.paging,
            paging=self.paging, tracker=self.tracker, metrics=self.metrics, remember=self._remember_ack,
            latest_paged_alert=self._latest_paged_alert, paged_receivers=self.log_view.delivered_receivers,
            integrations=self.integrations, run=self._run)
        self.api_port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._source: AlertSource | None = None
        self._tail: StateTail | None = None
        self._server: uvicorn.Server | None = None
        self._tasks_api: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ wiring
    def _ack_link(self, episode_id: str) -> str:
        expires = int(self.clock.now_s() + self.config.ack_link_ttl_s)
        return ack_url(self.settings.public_base_url, self.settings.link_secret.get_secret_value().encode(),
                       episode_id, expires)

    def _build_pipeline(self) -> Stage:
        built = build_pipeline(self.config, self.integrations, self.http, self.clock, self.metrics, self.log_view,
                               self.log_sink, self.dead_letters, lambda: self.silencer.silences.values(),
                               self._ack_link, self._on_recorded, acknowledged=lambda episode: episode in self.acks)
        self.dedup = built.dedup
        self.redelivery = built.redelivery
        return built.pipeline

    def _keeps_alert(self, entry: NotificationLogEntry) -> bool:
        """Whether an entry's alert is needed later: escalation re-sends, or a PagerDuty ack mirror."""
        return entry.feeds_escalation or self._is_delivered_trigger(entry)

    @staticmethod
    def _is_delivered_trigger(entry: NotificationLogEntry | LogRecord) -> bool:
        return entry.action == NotifyAction.TRIGGER and entry.outcome == DeliveryOutcome.DELIVERED

    def _shrink(self, entry: NotificationLogEntry) -> NotificationLogEntry | LogRecord:
        """Every log entry read back (start-up, other replicas) passes here with its alert: its page is folded
        into the paging state and the console before the alert is dropped."""
        self.paging.on_logged(entry)
        self.console.on_logged(entry)
        return compact_entry(entry, self._keeps_alert(entry))

    def _remember_ack(self, ack: AckEvent) -> None:
        self.console.on_ack(ack)
        if not ack.holds_pages:
            return  # a comment: recorded for the console, no acknowledgement
        self.paging.on_ack(ack)
        self.acks[ack.episode_id] = ack
        self.acks.move_to_end(ack.episode_id)
        while len(self.acks) > self.settings.max_closed_episodes:
            self.acks.popitem(last=False)
        if ack.resolved:
            self.open_alerts.pop(ack.episode_id, None)

    def _track_open_alert(self, entry: NotificationLogEntry | LogRecord) -> None:
        if entry.action == NotifyAction.RESOLVE:
            self.open_alerts.pop(entry.episode_id, None)
            return
        if not isinstance(entry, NotificationLogEntry) or not self._is_delivered_trigger(entry):
            return
        known = self.open_alerts.get(entry.episode_id)
        if known is None or entry.alert.sequence > known.sequence:
            self.open_alerts[entry.episode_id] = PackedAlert.pack(resend_view(entry.alert))
        self.open_alerts.move_to_end(entry.episode_id)
        while len(self.open_alerts) > self.settings.max_open_episodes:
            self.open_alerts.popitem(last=False)

    def _latest_paged_alert(self, episode_id: str) -> Alert | None:
        state = self.tracker.states.get(episode_id)
        packed = self.open_alerts.get(episode_id)
        if packed is not None:
            return packed.unpack()
        return state.alert if state is not None else None

    def _on_recorded(self, entry: NotificationLogEntry | LogRecord) -> None:
        self._track_open_alert(entry)
        if not isinstance(entry, NotificationLogEntry):
            return  # a slim record feeds no escalation (compact_entry keeps every entry that does)
        self.console.on_logged(entry)
        self.tracker.on_sent(entry)
        ack = self.acks.get(entry.episode_id)
        if ack is not None:
            self.tracker.on_ack(ack, live=False)

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load shared state, rebuild timers, start the loops and the HTTP API."""
        self.readiness.set("state_loaded", False, "reading the notification log, acks and silences")
        self.console.bind(asyncio.get_running_loop())
        self._tail = StateTail(self.kafka, self.topics, self.echoes, shrink=self._shrink)
        try:
            records = await self._tail.load()
        except Exception as exc:
            self.kafka_probe.report(False, f"state topics: {type(exc).__name__}")
            raise
        self.kafka_probe.report(True, self.kafka.bootstrap_servers)
        self.kafka_probe.start()
        self._probe_started = True
        # Oldest first, so that the bounded view and the open-alert cache evict what is oldest by send time.
        log_records = sorted((r for r in records if isinstance(r, NotificationLogEntry | LogRecord)),
                             key=lambda r: r.sent_at_s)
        escalation_entries = [r for r in log_records if isinstance(r, NotificationLogEntry) and r.feeds_escalation]
        for log_record in log_records:
            self.log_view.add(log_record)
            self._track_open_alert(log_record)
            self.redelivery.observe(log_record)
        for record in records:
            if not isinstance(record, NotificationLogEntry | LogRecord):
                self._apply_state(record, live=False)
        del records, log_records
        self.tracker.rebuild(escalation_entries, self.acks.values())
        del escalation_entries
        self.readiness.set("state_loaded", True, f"{len(self.log_view)} log entries, {len(self.acks)} acks, "
                                                 f"{len(self.silencer.silences)} silences")
        log.info("notifier %s loaded %d log entries, %d acks, %d silences", self.worker_id, len(self.log_view),
                 len(self.acks), len(self.silencer.silences))
        loop = asyncio.get_running_loop()
        self.readiness.set("partitions_assigned", True, "informational: waiting for the consumer group")
        self._source = await loop.run_in_executor(
            None, lambda: AlertSource(self.kafka, self.settings.consumer_group, self.settings.max_poll_records,
                                      self.topics.alerts, after_poll=self._after_poll))
        await self._start_api()
        self.redelivery.start_sweeping()
        self._tasks = [asyncio.create_task(self._alert_loop(), name="alerts"),
                       asyncio.create_task(self._escalation_loop(), name="escalation"),
                       asyncio.create_task(self._tail_loop(), name="state-tail")]

    @property
    def loops(self) -> list[asyncio.Task[None]]:
        """The long-running loops (alerts, escalation, state tail) once started: one that ends before `stop` is a
        failure the worker turns into an exit (notifier.worker.serve)."""
        return list(self._tasks)

    async def _start_api(self) -> None:
        api = create_api(self, self.settings.link_secret, self.settings.api_token,
                         self.settings.pagerduty_webhook_secret,
                         console=(self, console_options(self.settings, self.config.paging)))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.api_host, self.settings.api_port))
        self.api_port = sock.getsockname()[1]
        config = uvicorn.Config(api, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._tasks_api = asyncio.create_task(self._server.serve(sockets=[sock]), name="http-api")
        for _ in range(200):
            if self._server.started:
                break
            await asyncio.sleep(0.01)

    def _after_poll(self, consumer: KafkaConsumer) -> None:
        """On the consumer's thread after each poll: lag gauges and the (informational) partitions_assigned check."""
        self.consumer_lag.update(consumer)
        assigned = len(consumer.assignment())
        # Always passing (see the module docstring): a standby replica still serves acknowledgements.
        self.readiness.set("partitions_assigned", True,
                           f"{assigned} partition(s) of {self.topics.alerts}" if assigned
                           else "informational: none assigned (standby, or rebalancing); still serving the ack API")

    async def stop(self) -> None:
        """Stop the loops, flush what is queued, close the clients."""
        self._stopping.set()
        if self._probe_started:
            await asyncio.get_running_loop().run_in_executor(None, self.kafka_probe.stop)
        self.kafka_probe.report(False, "stopping")
        # Let the loops finish the batch in hand: cancelling between a 2xx and its log write would page twice.
        # Bounded, so that SIGTERM ends the worker even while the broker is away (the log entries still buffered
        # then are the at-least-once re-sends the receiver de-duplicates by key).
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_LOOPS_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.console.close()  # ends the open event streams, which would hold the server's shutdown
        await self.redelivery.close()  # their `retrying` entries are resumed by the next start (or a peer)
        if self._server is not None and self._tasks_api is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tasks_api, 3)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            self.log_sink.drain()
            await loop.run_in_executor(None, self.producer.flush, STOP_FLUSH_S)
        # A close that fails or times out (stopped in the middle of the state load) must not turn a stop into a crash.
        for close in [c.close for c in (self._source, self._tail) if c is not None]:
            try:
                await loop.run_in_executor(None, close)
            except Exception as exc:
                log.warning("closing a Kafka consumer failed: %s", type(exc).__name__)
        with contextlib.suppress(Exception):
            await loop.run_in_executor(None, self.producer.close, 2.0)
        await self.http.aclose()

    # ------------------------------------------------------------------ loops
    async def _alert_loop(self) -> None:
        assert self._source is not None
        await AlertConsumer(self._source, self.settings, self.clock, self._stopping, self.process_alert,
                            self.dead_letters, self.log_sink, self.producer, self.kafka_probe, self.metrics).run()

    async def process_alert(self, alert: Alert, received_at_s: float) -> list[Notification]:
        """Run one alert through the paging policy and the pipeline (plus an immediate escalation when a page
        rose to a higher level)."""
        now_s = self.clock.now_s()
        self.console.on_alert(alert, received_at_s)
        page = self.paging.decide(alert, now_s)
        items = [Notification(alert=alert, action=action_for(alert), kind=page.kind, received_at_s=received_at_s)]
        # Escalation tiers follow pages only: an update (de-escalation, a level paged recently, a held episode)
        # must not move anybody's pager either.
        if page.kind != PageKind.UPDATE or alert.transition == AlertTransition.RESOLVED:
            decision = self.tracker.on_alert(alert, now_s)
            if decision.step is not None and page.kind == PageKind.PAGE:
                step = decision.step
                items.append(Notification(alert=alert, receiver=step.receiver, route="escalation",
                                          escalation_policy=step.policy, tier=step.tier,
                                          received_at_s=received_at_s))
        return await self._run(items)

    async def _run(self, items: list[Notification]) -> list[Notification]:
        try:
            return await self.pipeline.run(items)
        except Exception as exc:  # a bug in one stage must not stop paging for everyone else
            log.error("OPS ALERT: pipeline failed for alert %s: %s", items[0].alert.alert_id if items else "-",
                      type(exc).__name__, extra=items[0].log_fields() if items else {})
            return []

    async def _escalation_loop(self) -> None:
        while not self._stopping.is_set():
            await self.clock.sleep(self.config.escalation_tick_s)
            now = self.clock.now_s()
            steps = self.tracker.due(now)
            if not steps:
                continue
            items = [Notification(alert=s.alert, receiver=s.receiver, route="escalation", escalation_policy=s.policy,
                                  tier=s.tier, received_at_s=now) for s in steps]
            await self._run(items)
            try:
                self.log_sink.drain()
                await asyncio.get_running_loop().run_in_executor(None, self.producer.flush, 30.0)
            except Exception as exc:  # a broker outage must not end the escalation timers for good
                self.kafka_probe.report(False, f"escalation flush failed: {type(exc).__name__}")
                log.error("OPS ALERT: flushing escalation log entries failed: %s", type(exc).__name__)

    async def _tail_loop(self) -> None:
        assert self._tail is not None
        while not self._stopping.is_set():
            for record in await self._tail.poll(200):
                self._apply_state(record, live=True)

    def _apply_state(self, record: StateRecord, live: bool) -> None:
        if isinstance(record, NotificationLogEntry | LogRecord):
            self.log_view.add(record)
            self.redelivery.observe(record)
            if live:
                self._on_recorded(record)
        elif isinstance(record, AckEvent):
            self._remember_ack(record)
            if live and record.holds_pages:
                self.tracker.on_ack(record, live=True)
        else:
            self.silencer.apply(record)

    # ------------------------------------------------------ API service calls
    def now_s(self) -> float:
        return self.clock.now_s()

    async def acknowledge(self, episode_id: str, acked_by: str, via: str, resolved: bool = False,
                          snooze_s: float | None = None, action: AckAction = "ack", reason: str | None = None,
                          comment: str | None = None) -> AckEvent:
        return await self.responders.acknowledge(episode_id, acked_by, via, resolved, snooze_s, action, reason,
                                                 comment)

    async def record_action(self, episode_id: str, by: str, action: str, *, snooze_s: float | None = None,
                            reason: str | None = None, comment: str | None = None) -> AckEvent:
        return await self.responders.record_action(episode_id, by, action, snooze_s=snooze_s, reason=reason,
                                                   comment=comment)

    async def create_silence(self, request: SilenceRequest) -> Silence:
        return await self.silencer.create(request)

    def list_silences(self) -> list[Silence]:
        return self.silencer.current()

    async def expire_silence(self, silence_id: str, by: str) -> Silence | None:
        return await self.silencer.expire(silence_id, by)
