"""Detector SIGKILLed in the middle of a replay and restarted: the alerts topic ends with exactly the alert
ids of an uninterrupted run over the same input (duplicates only as exact repeats of the same id).

Real processes (`sepsis-alert detect`), real broker, real ICU data (PhysioNet 2019 set A, replayed in
event time). Every topic is private to this test, so the two runs and other tests cannot mix.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluation.dataset import list_patient_files
from evaluation.replay import ReplayOptions, run_replay
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.kafka.topics import create_topic
from tests.faults.procs import TopicReplaySink, WorkerProcess, group_lag, read_json, wait_until

pytestmark = pytest.mark.integration

PHYSIONET = Path(__file__).resolve().parents[3] / "shared" / "data" / "physionet2019"
PATIENTS = 40
CATCH_UP_S = 240.0


def _detector(name: str, kafka: KafkaSettings, topics: dict[str, str], group: str, alerts: str, state: str,
              log_dir: Path) -> WorkerProcess:
    env = {
        "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SEPSIS_DETECTOR_GROUP_ID": group,
        "SEPSIS_DETECTOR_OBSERVATIONS_TOPIC": topics["obs"],
        "SEPSIS_DETECTOR_PATIENT_EVENTS_TOPIC": topics["pe"],
        "SEPSIS_DETECTOR_CARE_EVENTS_TOPIC": topics["care"],
        "SEPSIS_DETECTOR_ALERTS_TOPIC": alerts,
        "SEPSIS_DETECTOR_STATE_TOPIC": state,
        "SEPSIS_DETECTOR_DEAD_LETTER_TOPIC": topics["dl"],
        # small batches: more commits, so the kill lands between produce and commit more often
        "SEPSIS_DETECTOR_MAX_POLL_RECORDS": "100",
    }
    return WorkerProcess(name, ["detect"], env, log_dir)


def _without_processing_time(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != "emitted_at"}


@pytest.fixture(scope="module")
def runs(kafka_settings: KafkaSettings, kafka_topics: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(alerts of the killed-and-restarted run, alerts of the uninterrupted run) over the same input."""
    tmp_path = tmp_path_factory.mktemp("detector-kill")
    run_id = uuid.uuid4().hex[:8]

    def make_topic(configs: dict[str, str] | None = None) -> str:
        name = f"t.faults-kill.{run_id}.{uuid.uuid4().hex[:6]}"
        create_topic(kafka_settings, name, 6, configs)
        return name

    compacted = {"cleanup.policy": "compact"}
    inputs = {"obs": make_topic(), "pe": make_topic(), "care": make_topic(), "dl": make_topic()}
    alerts_killed, state_killed = make_topic(), make_topic(configs=compacted)
    alerts_ref, state_ref = make_topic(), make_topic(configs=compacted)
    input_topics = [inputs["obs"], inputs["pe"], inputs["care"]]
    files = list_patient_files(PHYSIONET, patients=PATIENTS)
    first, second = files[: PATIENTS // 2], files[PATIENTS // 2:]
    producer = EventProducer(kafka_settings)
    options = ReplayOptions(key_prefix="kill-")
    group = f"faults-detector-{run_id}"

    victim = _detector("detector-victim", kafka_settings, inputs, group, alerts_killed, state_killed, tmp_path)
    reference = _detector("detector-reference", kafka_settings, inputs, group + "-ref", alerts_ref, state_ref,
                          tmp_path)
    try:
        victim.start()
        run_replay(first, TopicReplaySink(producer, inputs["obs"], inputs["pe"]), options, progress=False)
        total_first = group_lag(kafka_settings, group, input_topics)
        assert total_first > 0
        wait_until(lambda: group_lag(kafka_settings, group, input_topics) < total_first, 120,
                   f"the detector to commit its first batch\n{victim.log_tail()}", interval_s=0.05)
        lag_at_kill = group_lag(kafka_settings, group, input_topics)
        victim.kill()
        assert lag_at_kill > 0, "the detector finished before it could be killed mid-stream (make the input larger)"

        run_replay(second, TopicReplaySink(producer, inputs["obs"], inputs["pe"]), options, progress=False)
        victim.start()
        reference.start()
        for process, grp in ((victim, group), (reference, group + "-ref")):
            wait_until(lambda p=process, g=grp: group_lag(kafka_settings, g, input_topics) == 0 or not p.alive,
                       CATCH_UP_S, f"{process.name} to consume everything\n{process.log_tail()}", interval_s=1.0)
            assert process.alive, f"{process.name} died\n{process.log_tail()}"
    finally:
        victim.stop()
        reference.stop()
        producer.close()
    yield read_json(kafka_settings, alerts_killed), read_json(kafka_settings, alerts_ref)


def test_detector_killed_mid_replay_emits_exactly_the_uninterrupted_alert_ids(
        runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    killed, uninterrupted = runs
    assert len(uninterrupted) >= 10, "the reference run raised too few alerts to prove anything"
    reference_ids = Counter(a["alert_id"] for a in uninterrupted)
    assert max(reference_ids.values()) == 1, "the uninterrupted run itself emitted an alert id twice"
    killed_ids = Counter(a["alert_id"] for a in killed)
    assert set(killed_ids) - set(reference_ids) == set(), "alerts that the uninterrupted run never raised"
    assert set(reference_ids) - set(killed_ids) == set(), "alerts lost by the kill"
    # a re-emitted id must be the same alert: the notifier drops it as a duplicate by id
    first_seen: dict[str, dict[str, object]] = {}
    for alert in killed:
        again = first_seen.setdefault(alert["alert_id"], _without_processing_time(alert))
        assert again == _without_processing_time(alert), f"alert {alert['alert_id']} re-emitted with other content"


def test_detector_alert_content_does_not_depend_on_the_kill(
        runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """Event time drives everything: the same input gives the same alerts, field for field."""
    killed, uninterrupted = runs
    by_id = {a["alert_id"]: _without_processing_time(a) for a in uninterrupted}
    differing = {}
    for alert in killed:
        mine, theirs = _without_processing_time(alert), by_id.get(alert["alert_id"])
        if theirs is not None and mine != theirs:
            differing[alert["alert_id"]] = sorted(k for k in mine if mine[k] != theirs.get(k))
    assert differing == {}, f"{len(differing)} alerts differ from the uninterrupted run (fields): " \
                            f"{dict(list(differing.items())[:5])}"
