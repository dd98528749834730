"""The Kafka readiness probe on a real broker: one kept admin client while the cluster answers, a fresh one after a
failure, and readiness that follows a broker kill and return.

Why the client is kept (sepsis_alert/ops/kafka_probe.py): a client built per probe cost a new connection, three
times the CPU and cyclic garbage every 2 s in every worker.
"""

from __future__ import annotations

import time

import pytest

from devstack.broker import LocalBroker
from sepsis_alert.kafka import topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops import kafka_probe
from sepsis_alert.ops.kafka_probe import KafkaProbe
from sepsis_alert.ops.readiness import ReadinessRegistry


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every admin client the probe opens (the real one: this test talks to a real broker)."""
    opened: list[object] = []

    def open_and_count(settings: KafkaSettings) -> object:
        admin = topics.open_admin_client(settings)
        opened.append(admin)
        return admin

    monkeypatch.setattr(kafka_probe, "open_admin_client", open_and_count)
    return opened


def test_probes_of_a_healthy_cluster_share_one_admin_client(kafka_settings: KafkaSettings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _counting_opens(monkeypatch)
    readiness = ReadinessRegistry()
    probe = KafkaProbe(kafka_settings, readiness, interval_s=2.0)
    try:
        assert all(probe.probe_once() for _ in range(5))
        assert readiness.is_ready()
        assert len(opened) == 1
    finally:
        probe.stop()


def test_a_killed_broker_turns_the_probe_false_and_its_return_true_again_with_a_new_client(
        own_broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _counting_opens(monkeypatch)
    settings = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    readiness = ReadinessRegistry()
    probe = KafkaProbe(settings, readiness, interval_s=2.0)
    try:
        assert probe.probe_once()
        own_broker.kill()
        started = time.monotonic()
        assert not probe.probe_once()
        assert not readiness.is_ready()
        # the bound of probe_settings (5 s at this interval) plus scheduling slack, never the client's 30 s default
        assert time.monotonic() - started < 10.0
        own_broker.start(180)
        deadline = time.monotonic() + 60
        while not probe.probe_once():
            assert time.monotonic() < deadline, "the probe never saw the broker come back"
        assert readiness.is_ready()
        assert len(opened) >= 2  # the client that failed was dropped, not reused
    finally:
        probe.stop()


def test_a_held_write_failure_outlasts_probes_of_a_healthy_cluster_until_released(
        kafka_settings: KafkaSettings) -> None:
    """A notifier whose offset commits fail is not ready even though the cluster answers metadata: the next probe
    (every 5 s) must not turn it green again. A later successful commit releases it."""
    readiness = ReadinessRegistry()
    probe = KafkaProbe(kafka_settings, readiness, interval_s=2.0)
    try:
        assert probe.probe_once()
        probe.hold("commit", "flush/commit failed: CommitFailedError")
        assert not readiness.is_ready()
        assert not probe.probe_once()
        assert readiness.report().as_dict()["checks"]["kafka_connected"]["detail"] == \
            "flush/commit failed: CommitFailedError"
        probe.release("commit")
        assert not readiness.is_ready()  # releasing makes no request: the next probe decides
        assert probe.probe_once() and readiness.is_ready()
    finally:
        probe.stop()
