"""Issue #20 item 3: every fault of one stream at once, over real processes, against a baseline of the same input.

The chaos run: PhysioNet stays sent as HL7 v2 over MLLP by four interface-engine senders (each resends until AA)
to `ingest-hl7`, two `detect` replicas and two `notify` replicas (same consumer groups, the way a site scales
out), a private broker, and signed-webhook receivers on 127.0.0.1 (a primary and a fallback) that record every
request. During the stream, paced by the senders' progress:

1. SIGKILL one detector replica (its partitions move to the survivor);
2. SIGKILL ingest-hl7 and start it again (the senders resend what was not ACKed);
3. the primary receiver answers 503 for longer than the quick retry budget; in that outage, SIGKILL one notifier
   replica (its pending retries are adopted by the survivor);
4. stop the broker for 30 s under load, then start it.

The baseline: an undisturbed detector and notifier (own consumer groups, own topics, own receiver) run over the
observations the chaos run stored. Asserted: zero lost observations (against the input), the same set of alert ids,
every baseline delivery at the primary (or superseded by design: the episode resolved while the receiver was down,
the fallback told, the resolve delivered), no alert delivered under two keys (a receiver de-duplicating by
`webhook-id` sees no duplicate; raw repeats are counted and must carry the same key), and every surviving worker
ready again without a restart. What happened is written to `chaos-summary.json` in the test's directory.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from detector.core.config import DEFAULT_CONFIG_PATH
from devstack.broker import LocalBroker, free_port
from evaluation.dataset import list_patient_files
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.topics import create_topic, ensure_topics
from tests.faults.chaos_feed import MllpSender, ObservationKey, build_feed
from tests.faults.procs import HttpReceiver, WorkerProcess, group_lag, read_json, wait_until

pytestmark = pytest.mark.integration

PHYSIONET = Path(__file__).resolve().parents[3] / "shared" / "data" / "physionet2019"
PATIENTS = 48
SENDERS = 4
PACE_S = 0.12
"""Between two messages of one sender: the ~1,900 messages span about a minute and a half, so every fault falls
mid-stream."""
RECEIVER_OUTAGE_S = 20.0
BROKER_OUTAGE_S = 30.0
RETRY = {"max_attempts": 3, "base_delay_s": 0.2, "factor": 2.0, "max_delay_s": 1.0, "max_retry_after_s": 1.0,
         "deadline_s": 900}
"""Quick attempts over in ~2 s, far shorter than the receiver outage; the deadline far longer than the run."""
RETRY_SETTLE_S = 60.0
"""Pending retries end within seconds of the receiver's return; an entry `retrying` after this is stuck."""
SECRET = "chaos-" + uuid.uuid4().hex
DETECTOR_INPUTS = [Topics.OBSERVATIONS, Topics.PATIENT_EVENTS, Topics.CARE_EVENTS]


@dataclass
class Deliveries:
    """What one receiver took (2xx), by `webhook-id` (the receiver's de-duplication key)."""

    by_key: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, receiver: HttpReceiver) -> Deliveries:
        by_key: dict[str, list[dict[str, Any]]] = {}
        with receiver.state.lock:
            for delivery in receiver.state.deliveries:
                key = {k.lower(): v for k, v in delivery.headers.items()}.get("webhook-id", "")
                by_key.setdefault(key, []).append(delivery.body)
        return cls(by_key)

    def keys(self) -> set[str]:
        return set(self.by_key)

    def alert_ids(self) -> set[str]:
        return {body["alert_id"] for bodies in self.by_key.values() for body in bodies}


def _notifier_config(path: Path, primary: HttpReceiver, fallback: HttpReceiver) -> Path:
    def webhook(name: str, port: int) -> dict[str, Any]:
        return {"name": name, "type": "webhook", "timeout_s": 2, "url": {"value": f"http://127.0.0.1:{port}/hooks"},
                "secret": {"value": SECRET}}

    config = {"receivers": [webhook("primary", primary.port), webhook("fallback", fallback.port)],
              "route": {"receiver": "primary"}, "fallback_receiver": "fallback", "retry": RETRY}
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Site:
    """The workers of one run on the private broker, each with its own ops port."""

    bootstrap: str
    log_dir: Path

    def worker(self, name: str, args: list[str], env: dict[str, str] | None = None) -> WorkerProcess:
        base = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "SEPSIS_OPS_PORT": str(free_port())}
        return WorkerProcess(name, args, {**base, **(env or {})}, self.log_dir)

    def detector(self, name: str, env: dict[str, str] | None = None) -> WorkerProcess:
        return self.worker(name, ["detect"], {"SEPSIS_DETECTOR_MAX_POLL_RECORDS": "200",
                                              "SEPSIS_DETECTOR_CONFIG_PATH": str(self.detector_config()),
                                              **(env or {})})

    def detector_config(self) -> Path:
        """The shipped rules without feed-gap notices: the senders replay whole stays one after another, so the
        patients of a partition do not share one clock (docs/paging.md section 5) and the notices would depend on
        how the senders interleave, which differs between the baseline and the faulted run."""
        path = self.log_dir / "detector.yaml"
        if not path.exists():
            rules = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
            rules["escalation"]["feed_gap_notices"] = False
            path.write_text(yaml.safe_dump(rules))
        return path

    def notifier(self, name: str, config: Path, env: dict[str, str] | None = None) -> WorkerProcess:
        api_port = free_port()
        return self.worker(name, ["notify", "--config", str(config)], {
            "SEPSIS_NOTIFIER_API_PORT": str(api_port), "SEPSIS_NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "SEPSIS_NOTIFIER_POLL_TIMEOUT_MS": "50", **(env or {})})


def _ready(worker: WorkerProcess) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{worker.env['SEPSIS_OPS_PORT']}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(workers: list[WorkerProcess], timeout_s: float = 240) -> None:
    # 240 s: a fresh checkout's detector compiles its numba kernels beside the other workers on two cores
    for worker in workers:
        wait_until(lambda w=worker: _ready(w) or not w.alive, timeout_s,  # type: ignore[misc]
                   f"{worker.name} to answer /readyz 200\n{worker.log_tail()}")
        assert worker.alive, f"{worker.name} exited before it was ready\n{worker.log_tail()}"


def _latest_log_entries(kafka: KafkaSettings, topic: str) -> dict[str, dict[str, Any]]:
    """The last notification-log entry per key (the compacted topic's meaning)."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in read_json(kafka, topic):
        latest[entry["key"]] = entry
    return latest


def _stored_observations(kafka: KafkaSettings) -> Counter[ObservationKey]:
    stored: Counter[ObservationKey] = Counter()
    for event in read_json(kafka, Topics.OBSERVATIONS, timeout_s=120):
        stored[(event["patient_key"], event["code"], datetime.fromisoformat(event["effective_at"]))] += 1
    return stored


def _still_retrying(kafka: KafkaSettings) -> list[str]:
    """Notification-log keys whose last entry is `retrying` (a page some replica still owes its receiver)."""
    latest = _latest_log_entries(kafka, Topics.NOTIFICATION_LOG)
    return sorted(k for k, e in latest.items() if e["outcome"] == "retrying")


def _drained(kafka: KafkaSettings, group: str, topics: list[str], workers: list[WorkerProcess]) -> bool:
    return group_lag(kafka, group, topics) == 0 or not any(w.alive for w in workers)


class Chaos:
    """The chaos run: workers, receivers, senders and the faults, in stream order."""

    def __init__(self, broker: LocalBroker, tmp_path: Path) -> None:
        self.broker = broker
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.site = Site(broker.bootstrap, tmp_path)
        self.primary = HttpReceiver(free_port(), SECRET)
        self.fallback = HttpReceiver(free_port(), SECRET)
        config = _notifier_config(tmp_path / "notifier.yaml", self.primary, self.fallback)
        self.mllp_port = free_port()
        self.ingest = self.site.worker("ingest-hl7", ["ingest-hl7", "--port", str(self.mllp_port)])
        self.detectors = [self.site.detector(f"detect-{n}") for n in "ab"]
        self.notifiers = [self.site.notifier(f"notify-{n}", config) for n in "ab"]
        self.events: list[str] = []
        self.started = time.monotonic()

    @property
    def workers(self) -> list[WorkerProcess]:
        return [self.ingest, *self.detectors, *self.notifiers]

    def note(self, event: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f} s  {event}")

    def up(self) -> None:
        self.primary.up()
        self.fallback.up()
        for worker in self.workers:
            worker.start()
        _wait_ready(self.workers)
        self.note("every worker ready")

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(15)
        self.primary.close()
        self.fallback.close()


def _run_chaos(chaos: Chaos, senders: list[MllpSender], total: int) -> None:
    def accepted() -> int:
        return sum(len(s.accepted) for s in senders)

    def at_progress(fraction: float, what: str) -> None:
        wait_until(lambda: accepted() >= fraction * total, 300,
                   f"{fraction:.0%} of the messages accepted before {what} ({accepted()} of {total})\n"
                   f"{chaos.ingest.log_tail()}")

    detector_victim, detector_survivor = chaos.detectors
    notifier_victim, _ = chaos.notifiers
    for sender in senders:
        sender.start()
    chaos.note("senders started")

    at_progress(0.10, "the detector kill")
    detector_victim.kill()
    chaos.note(f"SIGKILL {detector_victim.name}")

    at_progress(0.20, "the ingest kill")
    chaos.ingest.kill()
    chaos.note("SIGKILL ingest-hl7")
    chaos.ingest.start()
    chaos.note("ingest-hl7 started again")

    at_progress(0.30, "the receiver outage")
    chaos.primary.state.status = 503
    chaos.note("primary receiver answers 503")
    time.sleep(RECEIVER_OUTAGE_S / 2)
    wait_until(lambda: len(chaos.fallback.state.deliveries) > 0, 60,
               f"the fallback to be told of the outage\n{notifier_victim.log_tail()}")
    notifier_victim.kill()
    chaos.note(f"SIGKILL {notifier_victim.name} (fallback told {len(chaos.fallback.state.deliveries)} times)")
    time.sleep(RECEIVER_OUTAGE_S / 2)
    chaos.primary.state.status = 200
    chaos.note(f"primary receiver answers 200 again ({chaos.primary.state.refused} requests refused)")

    at_progress(0.55, "the broker outage")
    chaos.broker.stop()
    chaos.note(f"broker stopped ({accepted()} of {total} messages accepted)")
    time.sleep(BROKER_OUTAGE_S)
    chaos.broker.start(180)
    chaos.note("broker started again")

    wait_until(lambda: all(s.done for s in senders), 300,
               f"every sender to get AA for every message ({accepted()} of {total})\n{chaos.ingest.log_tail()}")
    chaos.note("every message accepted")
    survivors = [detector_survivor]
    wait_until(lambda: _drained(chaos.kafka, "sepsis-detector", DETECTOR_INPUTS, survivors), 180,
               f"the surviving detector to consume everything\n{detector_survivor.log_tail()}")
    notifier_survivor = chaos.notifiers[1]
    wait_until(lambda: _drained(chaos.kafka, "sepsis-notifier", [Topics.ALERTS], [notifier_survivor]), 180,
               f"the surviving notifier to consume every alert\n{notifier_survivor.log_tail()}")
    try:
        wait_until(lambda: _still_retrying(chaos.kafka) == [], RETRY_SETTLE_S, "every pending retry to end")
        chaos.note("detector and notifier drained, no retry pending")
    except AssertionError:  # asserted at the end, with everything else the run found
        chaos.note(f"still `retrying` after {RETRY_SETTLE_S:.0f} s: {_still_retrying(chaos.kafka)}")


def _baseline(kafka: KafkaSettings, site: Site, tmp_path: Path) -> tuple[list[dict[str, Any]], Deliveries]:
    """An undisturbed detector and notifier over the stored observations: (their alerts, their deliveries)."""
    tag = uuid.uuid4().hex[:6]

    def topic(role: str, partitions: int = 6, compacted: bool = False) -> str:
        name = f"baseline.{tag}.{role}"
        create_topic(kafka, name, partitions, {"cleanup.policy": "compact"} if compacted else None)
        return name

    alerts, state = topic("alerts"), topic("state", compacted=True)
    notifier_topics = {"alerts": alerts, "notification_log": topic("notification-log", compacted=True),
                       "acks": topic("acks", compacted=True), "silences": topic("silences", 1, compacted=True),
                       "dead_letter": topic("dead-letter", 1)}
    primary, fallback = HttpReceiver(free_port(), SECRET).up(), HttpReceiver(free_port(), SECRET).up()
    detector = site.detector("baseline-detect", {
        "SEPSIS_DETECTOR_GROUP_ID": f"baseline-{tag}", "SEPSIS_DETECTOR_ALERTS_TOPIC": alerts,
        "SEPSIS_DETECTOR_STATE_TOPIC": state, "SEPSIS_DETECTOR_DEAD_LETTER_TOPIC": topic("detector-dead-letter")})
    notifier = site.notifier("baseline-notify", _notifier_config(tmp_path / "baseline.yaml", primary, fallback), {
        "SEPSIS_NOTIFIER_CONSUMER_GROUP": f"baseline-{tag}",
        **{f"SEPSIS_NOTIFIER_TOPIC_{role.upper()}": name for role, name in notifier_topics.items()}})
    try:
        detector.start()
        notifier.start()
        wait_until(lambda: _drained(kafka, f"baseline-{tag}", DETECTOR_INPUTS, [detector]), 240,
                   f"the baseline detector to consume everything\n{detector.log_tail()}")
        assert detector.alive, f"the baseline detector died\n{detector.log_tail()}"
        wait_until(lambda: _drained(kafka, f"baseline-{tag}", [alerts], [notifier]), 180,
                   f"the baseline notifier to consume every alert\n{notifier.log_tail()}")
        assert notifier.alive, f"the baseline notifier died\n{notifier.log_tail()}"
        assert primary.state.refused == 0 and fallback.state.deliveries == [], "the baseline was not undisturbed"
        return read_json(kafka, alerts), Deliveries.of(primary)
    finally:
        detector.stop(15)
        notifier.stop(15)
        primary.close()
        fallback.close()


def test_chaos_run_loses_nothing_and_shows_no_duplicate(own_broker: LocalBroker, tmp_path: Path) -> None:
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    ensure_topics(kafka)
    feed = build_feed(list_patient_files(PHYSIONET, patients=PATIENTS), SENDERS, f"chaos{uuid.uuid4().hex[:4]}-")
    chaos = Chaos(own_broker, tmp_path)
    senders = [MllpSender(chaos.mllp_port, messages, PACE_S) for messages in feed.messages]
    try:
        chaos.up()
        _run_chaos(chaos, senders, feed.total)
        survivors = [chaos.ingest, chaos.detectors[1], chaos.notifiers[1]]
        dead = [w.name for w in survivors if not w.alive]
        assert dead == [], f"workers that exited on their own: {dead}\n" + "\n".join(
            chaos.site.log_dir.joinpath(f"{n}.log").read_text()[-2000:] for n in dead)
        wait_until(lambda: all(_ready(w) for w in survivors), 60,
                   "every surviving worker to answer /readyz 200: " + str({w.name: _ready(w) for w in survivors}))
        restarts = {w.name: w.starts for w in survivors}
        assert restarts == {"ingest-hl7": 2, "detect-b": 1, "notify-b": 1}, f"starts per worker: {restarts}"
        stuck = _still_retrying(kafka)
        chaos_alerts = read_json(kafka, Topics.ALERTS)
        log = _latest_log_entries(kafka, Topics.NOTIFICATION_LOG)
        stored = _stored_observations(kafka)
        delivered, told = Deliveries.of(chaos.primary), Deliveries.of(chaos.fallback)
        baseline_alerts, expected = _baseline(kafka, chaos.site, tmp_path)
    finally:
        for sender in senders:
            sender.stop.set()
        chaos.close()

    # the resolve of each episode that reached the primary: a trigger superseded by it needs no late page
    resolved_at_primary = {body["episode_id"] for bodies in delivered.by_key.values() for body in bodies
                           if body.get("transition") == "resolved"}
    missing = expected.keys() - delivered.keys()
    def superseded_by_resolve(key: str) -> bool:
        alert = expected.by_key[key][0]
        entry = log.get(f"{alert['alert_id']}|primary", {})
        return (entry.get("outcome") == "failed" and alert["alert_id"] in told.alert_ids()
                and alert["episode_id"] in resolved_at_primary)

    superseded = {k for k in missing if superseded_by_resolve(k)}
    alert_ids = Counter(a["alert_id"] for a in chaos_alerts)
    baseline_ids = Counter(a["alert_id"] for a in baseline_alerts)
    keys_per_alert = Counter(bodies[0]["alert_id"] for bodies in delivered.by_key.values())
    under_two_keys = sorted(a for a, n in keys_per_alert.items() if n > 1)
    stuck_state = [(k, "delivered to primary" if k.split("|")[0] in delivered.alert_ids() else "not delivered")
                   for k in stuck]
    summary = {
        "timeline": chaos.events,
        "input": {"messages": feed.total, "observations": len(feed.observations), "patients": PATIENTS},
        "sender_refusals": dict(sum((s.refusals for s in senders), Counter())),
        "observations": {"lost": len(feed.observations - stored.keys()),
                         "unexpected": len(stored.keys() - feed.observations),
                         "raw_duplicates": sum(n - 1 for n in stored.values())},
        "alerts": {"baseline": len(baseline_ids), "chaos": len(alert_ids),
                   "lost": len(baseline_ids.keys() - alert_ids.keys()),
                   "unexpected": len(alert_ids.keys() - baseline_ids.keys()),
                   "raw_duplicates": sum(n - 1 for n in alert_ids.values())},
        "deliveries": {"baseline": len(expected.keys()), "chaos_distinct_keys": len(delivered.keys()),
                       "missing": sorted(missing - superseded), "superseded_by_resolve": len(superseded),
                       "unexpected": sorted(delivered.keys() - expected.keys()),
                       "raw_repeats_same_key": sum(len(b) - 1 for b in delivered.by_key.values()),
                       "alerts_under_two_keys": under_two_keys,
                       "log_stuck_retrying": stuck_state},
    }
    (tmp_path / "chaos-summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))

    lost_obs = sorted(feed.observations - stored.keys())
    assert lost_obs == [], f"{len(lost_obs)} observations lost, e.g. {lost_obs[:5]}"
    assert stored.keys() - feed.observations == set(), "observations that no message carried"
    assert len(baseline_ids) >= 20, "the baseline raised too few alerts to prove anything"
    assert max(baseline_ids.values()) == 1, "the baseline itself emitted an alert id twice"
    assert set(baseline_ids) - set(alert_ids) == set(), "alerts lost in the chaos run"
    assert set(alert_ids) - set(baseline_ids) == set(), "alerts the baseline never raised"
    assert missing - superseded == set(), f"baseline deliveries that never reached the primary: {summary['deliveries']}"
    assert delivered.keys() - expected.keys() == set(), "deliveries the baseline never made"
    assert under_two_keys == [], "an alert delivered under two keys (a visible duplicate)"
    # a `retrying` entry that no replica works on is re-sent by whichever replica adopts it (after a restart)
    assert stuck == [], f"notification-log entries left `retrying` for good: {stuck_state}"
