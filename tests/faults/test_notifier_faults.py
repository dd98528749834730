"""The notifier as a real process against real webhook receivers on 127.0.0.1 and the real broker.

* Killed (SIGKILL) in the middle of delivering a burst and restarted: no page lost; nothing that the
  notification log had recorded before the kill is sent again; a page repeated because the kill hit
  between delivery and logging carries the same X-Sepsis-Delivery id (receivers can drop it).
* Receiver down: deliveries retry with backoff and land once it is back within the quick attempts;
  down for longer, the fallback receiver is told at once and the primary still gets the page, marked
  late, when it recovers (also across a SIGKILL and restart of the notifier: the retry state is in
  the notification log); a 400 goes to the fallback and the dead-letter topic at once. Every delivery
  is signed (the receiver checks X-Sepsis-Signature).
* No receiver URL token, webhook secret, link secret or API token appears in the notifier's output.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.broker import free_port
from schemas.alert import (
    Alert,
    AlertLevel,
    AlertTransition,
    ScoreInput,
    ScoreSnapshot,
    alert_id_for,
    episode_id_for,
)
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from tests.conftest import TopicFactory
from tests.faults.procs import HttpReceiver, WorkerProcess, read_json, wait_until

pytestmark = pytest.mark.integration

COMPACTED = {"cleanup.policy": "compact"}


def make_alert(tag: str, n: int) -> Alert:
    patient = f"{tag}-p{n:04d}"
    opened = datetime(2024, 3, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=n)
    episode = episode_id_for(patient, opened)
    return Alert(patient_key=patient, alert_id=alert_id_for(episode, 0), episode_id=episode, sequence=0,
                 level=AlertLevel.EMERGENCY, transition=AlertTransition.OPENED, reasons=["risk 9% (fault test)"],
                 event_time=opened, emitted_at=datetime.now(UTC))


def episode(tag: str, n: int) -> list[Alert]:
    """An episode opened and resolved, with score snapshots as heavy as the detector's (six scores, six inputs)."""
    patient = f"{tag}-m{n:05d}"
    opened = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=n)
    episode_id = episode_id_for(patient, opened)
    inputs = [ScoreInput(measure=m, value=90.0, unit="/min", effective_at=opened)
              for m in ("heart_rate", "respiratory_rate", "temperature", "systolic_bp", "spo2", "consciousness")]
    scores = [ScoreSnapshot(name=name, value=5, band="medium", inputs=inputs, reason="fault-test score " * 5)
              for name in ("sirs", "qsofa", "news2", "mews", "sofa", "shock_index")]
    return [Alert(patient_key=patient, alert_id=alert_id_for(episode_id, seq), episode_id=episode_id, sequence=seq,
                  level=level, previous_level=previous, transition=transition, scores=scores,
                  reasons=["NEWS2 6"], event_time=opened + timedelta(hours=seq), emitted_at=datetime.now(UTC))
            for seq, (level, previous, transition) in enumerate([
                (AlertLevel.EMERGENCY, AlertLevel.NONE, AlertTransition.OPENED),
                (AlertLevel.NONE, AlertLevel.EMERGENCY, AlertTransition.RESOLVED)])]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Setup:
    """Private topics, secrets and receivers of one notifier fault test."""

    def __init__(self, kafka: KafkaSettings, make_topic: TopicFactory, log_dir: Path) -> None:
        self.kafka = kafka
        self.tag = uuid.uuid4().hex[:8]
        self.topics = {"alerts": make_topic(6), "notification_log": make_topic(6, COMPACTED),
                       "acks": make_topic(6, COMPACTED), "silences": make_topic(1, COMPACTED),
                       "dead_letter": make_topic(1)}
        self.webhook_secret = "whsec-" + uuid.uuid4().hex
        self.url_token = "urltoken" + uuid.uuid4().hex
        self.link_secret = "link-" + uuid.uuid4().hex
        self.api_token = "api-" + uuid.uuid4().hex
        self.primary = HttpReceiver(free_port(), self.webhook_secret)
        self.fallback = HttpReceiver(free_port(), self.webhook_secret)
        self.log_dir = log_dir

    def secrets(self) -> list[str]:
        return [self.webhook_secret, self.url_token, self.link_secret, self.api_token]

    def receiver(self, name: str, port: int) -> dict[str, Any]:
        return {"name": name, "type": "webhook", "timeout_s": 2,
                "url": {"value": f"http://127.0.0.1:{port}/hooks/{self.url_token}"},
                "secret": {"value": self.webhook_secret}}

    def process(self, name: str, retry: dict[str, Any], max_concurrency: int = 64) -> WorkerProcess:
        """The real `sepsis-alert notify`, on this test's private topics (settings) and config (YAML file)."""
        config = {"receivers": [self.receiver("primary", self.primary.port),
                                self.receiver("fallback", self.fallback.port)],
                  "route": {"receiver": "primary"}, "fallback_receiver": "fallback", "retry": retry}
        config_path = self.log_dir / f"{name}.yaml"
        config_path.write_text(yaml.safe_dump(config))
        api_port = free_port()
        env = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
               "SEPSIS_NOTIFIER_CONSUMER_GROUP": f"faults-notifier-{self.tag}",
               "SEPSIS_NOTIFIER_API_PORT": str(api_port),
               "SEPSIS_NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
               "SEPSIS_NOTIFIER_LINK_SECRET": self.link_secret, "SEPSIS_NOTIFIER_API_TOKEN": self.api_token,
               "SEPSIS_NOTIFIER_POLL_TIMEOUT_MS": "50", "SEPSIS_NOTIFIER_MAX_CONCURRENCY": str(max_concurrency),
               **{f"SEPSIS_NOTIFIER_TOPIC_{role.upper()}": topic for role, topic in self.topics.items()}}
        return WorkerProcess(name, ["notify", "--config", str(config_path)], env, self.log_dir)

    def produce(self, alerts: list[Alert]) -> None:
        with EventProducer(self.kafka) as producer:
            for alert in alerts:
                producer.send_event(self.topics["alerts"], alert)
            producer.flush(30)

    def logged_keys(self) -> set[str]:
        return {entry["key"] for entry in read_json(self.kafka, self.topics["notification_log"])
                if entry.get("outcome") == "delivered"}

    def assert_no_secret_in(self, process: WorkerProcess) -> None:
        output = process.log()
        assert output, "the notifier process wrote nothing"
        leaked = [s[:10] + "..." for s in self.secrets() if s in output]
        assert leaked == [], f"secrets in the notifier's output: {leaked}"


@pytest.fixture
def setup(kafka_settings: KafkaSettings, kafka_topics: dict[str, str], make_topic: TopicFactory,
          tmp_path: Path) -> Any:
    s = Setup(kafka_settings, make_topic, tmp_path)
    s.primary.up()
    s.fallback.up()
    try:
        yield s
    finally:
        s.primary.close()
        s.fallback.close()


def test_notifier_killed_mid_delivery_loses_nothing_and_resends_nothing_logged(setup: Setup) -> None:
    alerts = [make_alert(setup.tag, n) for n in range(150)]
    wanted = {a.alert_id for a in alerts}
    setup.primary.state.delay_s = 0.2  # a slow pager: the burst takes seconds, so the kill lands mid-delivery
    notifier = setup.process("notifier-victim", {"max_attempts": 3, "base_delay_s": 0.2, "max_delay_s": 1},
                             max_concurrency=8)
    setup.produce(alerts)
    try:
        notifier.start()
        wait_until(lambda: len(setup.primary.delivered_ids()) >= 30, 120,
                   f"the first deliveries\n{notifier.log_tail()}", interval_s=0.05)
        notifier.kill()
        in_flight_at_kill = setup.primary.state.in_flight
        before = Counter(setup.primary.delivered_ids())
        assert set(before) < wanted, "every page was delivered before the kill: nothing was proved"
        wait_until(lambda: setup.primary.state.in_flight == 0, 30, "requests in flight at the kill to finish")
        logged_before_restart = setup.logged_keys()
        notifier.start()
        wait_until(lambda: wanted <= set(setup.primary.delivered_ids()), 180,
                   f"every page after the restart\n{notifier.log_tail()}")
        wait_until(lambda: len(setup.logged_keys() & {f"{a}|primary" for a in wanted}) == len(wanted), 60,
                   "the notification log to record every page")
    finally:
        notifier.stop()
    delivered = Counter(setup.primary.delivered_ids())
    assert set(delivered) == wanted, "pages that no alert asked for"
    repeated = {alert_id for alert_id, count in delivered.items() if count > 1}
    resent_after_logging = {a for a in repeated if f"{a}|primary" in logged_before_restart}
    assert resent_after_logging == set(), f"re-sent although logged: {sorted(resent_after_logging)}"
    assert max(delivered.values()) <= 2, "a page was sent more than twice across one kill"
    assert len(repeated) <= in_flight_at_kill + 8, (
        f"{len(repeated)} pages repeated; only those in flight at the kill ({in_flight_at_kill}) may be")
    deliveries = {}
    for delivery in setup.primary.state.deliveries:
        deliveries.setdefault(delivery.body["alert_id"], set()).add(delivery.headers.get("X-Sepsis-Delivery"))
    assert all(len(ids) == 1 and None not in ids for ids in deliveries.values()), \
        "a repeated page did not carry the same X-Sepsis-Delivery id"
    assert setup.primary.state.bad_signatures == 0
    setup.assert_no_secret_in(notifier)


def test_receiver_down_retries_then_delivers_or_falls_back_within_the_policy(setup: Setup) -> None:
    # many short full-jitter backoffs: the quick budget (~9 s on average, almost never under 3 s) outlasts a 1.5 s
    # outage; past it, background retries until the deadline
    retry = {"max_attempts": 20, "base_delay_s": 0.5, "factor": 2.0, "max_delay_s": 1.0, "max_retry_after_s": 1.0,
             "deadline_s": 300}
    notifier = setup.process("notifier-retry", retry)
    warm_up, comes_back, stays_down, refused = (make_alert(setup.tag, n) for n in range(4))
    try:
        notifier.start()
        setup.produce([warm_up])  # proves the notifier is consuming before the receiver goes down
        wait_until(lambda: warm_up.alert_id in setup.primary.delivered_ids(), 90,
                   f"the warm-up page\n{notifier.log_tail()}")
        # 1. primary down for a moment (shorter than the quick attempts): delivered to it once it is back
        setup.primary.down()
        setup.produce([comes_back])
        time.sleep(1.5)
        assert comes_back.alert_id not in setup.fallback.delivered_ids(), "fell back before the quick attempts"
        setup.primary.up()
        wait_until(lambda: comes_back.alert_id in setup.primary.delivered_ids(), 60,
                   f"delivery once the receiver is back\n{notifier.log_tail()}")
        assert comes_back.alert_id not in setup.fallback.delivered_ids()
        wait_until(lambda: f"{comes_back.alert_id}|primary" in setup.logged_keys(), 30, "the log entry")
        entry = next(e for e in read_json(setup.kafka, setup.topics["notification_log"])
                     if e["key"] == f"{comes_back.alert_id}|primary")
        assert entry["attempts"] > 1, "delivered at the first attempt: the outage was not exercised"

        # 2. primary answers 503 for longer than the quick attempts: the fallback is told at once, and the primary
        #    still gets the page, marked late, when it recovers (not only the fallback, as before issue 20)
        setup.primary.state.status = 503
        setup.produce([stays_down])
        wait_until(lambda: stays_down.alert_id in setup.fallback.delivered_ids(), 120,
                   f"the fallback receiver to be told\n{notifier.log_tail()}")
        told = next(d for d in setup.fallback.state.deliveries if d.body["alert_id"] == stays_down.alert_id)
        assert told.body["reasons"][0].startswith("receiver primary unavailable: still retrying it")
        quick = setup.primary.state.refused
        wait_until(lambda: setup.primary.state.refused >= quick + 2, 60, "background attempts")
        setup.primary.state.status = 200
        wait_until(lambda: stays_down.alert_id in setup.primary.delivered_ids(), 60,
                   f"the late page once the primary is back\n{notifier.log_tail()}")
        late = next(d for d in setup.primary.state.deliveries if d.body["alert_id"] == stays_down.alert_id)
        assert late.body["reasons"][0].startswith("delayed ") and "receiver was unavailable" in late.body["reasons"][0]
        wait_until(lambda: f"{stays_down.alert_id}|primary" in setup.logged_keys(), 30, "the delivered log entry")

        # 3. a 400 is for good: the fallback and the dead-letter topic at once, with the reason; no retries
        setup.primary.state.status = 400
        before = setup.primary.state.refused
        setup.produce([refused])
        wait_until(lambda: refused.alert_id in setup.fallback.delivered_ids(), 60,
                   f"the fallback for the refused page\n{notifier.log_tail()}")
        wait_until(lambda: any(refused.alert_id in json.dumps(d)
                               for d in read_json(setup.kafka, setup.topics["dead_letter"])), 60,
                   "the refused delivery in the dead-letter topic")
        [dead] = [d for d in read_json(setup.kafka, setup.topics["dead_letter"]) if refused.alert_id in json.dumps(d)]
        assert "permanent_failure" in dead["error_message"] and "HTTP 400" in dead["error_message"]
        time.sleep(retry["max_delay_s"] * 3)
        assert setup.primary.state.refused == before + 1, "a 400 was sent again"
    finally:
        notifier.stop()
    assert Counter(setup.primary.delivered_ids())[comes_back.alert_id] == 1
    assert Counter(setup.primary.delivered_ids())[stays_down.alert_id] == 1
    assert Counter(setup.fallback.delivered_ids())[stays_down.alert_id] == 2  # failing, then recovered
    assert not any(stays_down.alert_id in json.dumps(d) for d in read_json(setup.kafka, setup.topics["dead_letter"]))
    assert setup.primary.state.bad_signatures == 0 and setup.fallback.state.bad_signatures == 0
    setup.assert_no_secret_in(notifier)


def test_notifier_killed_while_retrying_resumes_after_restart_and_delivers_once(setup: Setup) -> None:
    """The retry state is in Kafka, not in memory: SIGKILL during the background retries, restart, and every page
    still reaches the primary once it recovers: once each, late, nothing dead-lettered."""
    retry = {"max_attempts": 2, "base_delay_s": 0.2, "factor": 2.0, "max_delay_s": 1.0, "max_retry_after_s": 1.0,
             "deadline_s": 300}
    alerts = [make_alert(setup.tag, n) for n in range(5)]
    wanted = {a.alert_id for a in alerts}
    setup.primary.state.status = 503
    notifier = setup.process("notifier-resume", retry)
    try:
        notifier.start()
        setup.produce(alerts)
        wait_until(lambda: wanted <= set(setup.fallback.delivered_ids()), 120,
                   f"the fallback to be told of every page\n{notifier.log_tail()}")
        wait_until(lambda: {e["key"] for e in read_json(setup.kafka, setup.topics["notification_log"])
                            if e["outcome"] == "retrying"} >= {f"{a}|primary" for a in wanted}, 60,
                   "the retrying entries in the notification log")
        notifier.kill()
        assert not wanted & set(setup.primary.delivered_ids())
        setup.primary.state.status = 200
        notifier.start()
        # the restarted replica waits for the heartbeats to go stale (11 s here), then resumes every page
        wait_until(lambda: wanted <= set(setup.primary.delivered_ids()), 120,
                   f"every page after the restart\n{notifier.log_tail()}")
        wait_until(lambda: {f"{a}|primary" for a in wanted} <= setup.logged_keys(), 60, "the delivered entries")
        time.sleep(2.0)
    finally:
        notifier.stop()
    delivered = Counter(setup.primary.delivered_ids())
    assert all(delivered[a] == 1 for a in wanted), f"pages delivered more than once: {delivered}"
    assert all(d.body["reasons"][0].startswith("delayed ") for d in setup.primary.state.deliveries)
    assert Counter(setup.fallback.delivered_ids()) == Counter({a: 1 for a in wanted}), "fallback told twice"
    assert not any(a in json.dumps(d) for a in wanted for d in read_json(setup.kafka, setup.topics["dead_letter"]))
    setup.assert_no_secret_in(notifier)


def test_notifier_memory_stays_bounded_over_many_closed_episodes(setup: Setup) -> None:
    """Resolved episodes need no state; a notifier that keeps every sent alert grows without bound.

    The first load sets the process's high-water mark (decode batches, allocator arenas, bounded rings filling);
    a second load of the same size may then add only a little: a leak grows the same again."""
    notifier = setup.process("notifier-memory", {"max_attempts": 2, "base_delay_s": 0.1, "max_delay_s": 0.5})
    warm, load = 300, 1200
    alerts = [a for n in range(warm + 2 * load) for a in episode(setup.tag, n)]
    marks = [2 * warm, 2 * (warm + load), len(alerts)]

    def settled() -> int:
        # an alert the primary refused until its episode resolved reached the fallback instead
        return len(set(setup.primary.delivered_ids()) | set(setup.fallback.delivered_ids()))
    rss: list[int] = []
    try:
        notifier.start()
        assert notifier.proc is not None
        start = 0
        for end in marks:
            setup.produce(alerts[start:end])
            wait_until(lambda end=end: settled() >= end or not notifier.alive, 600,
                       f"episodes up to {end // 2}\n{notifier.log_tail()}")
            assert notifier.alive
            time.sleep(2.0)
            rss.append(rss_bytes(notifier.proc.pid))
            start = end
    finally:
        notifier.stop()
    growth = rss[2] - rss[1]
    assert growth < 40 * 2**20, (f"notifier RSS grew {growth / 2**20:.0f} MiB over {load} more closed episodes "
                                 f"({2 * load} alerts): state of resolved episodes is never released")
