"""`--to kafka` against the session's real broker: every replayed event lands, keyed by patient."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from evaluation.physionet import ConversionCounts
from evaluation.replay import ReplayOptions, replay_items, replay_physionet
from schemas import Observation, PatientEvent, Topics, decode_event
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all

REAL = Path(__file__).parent / "data" / "physionet_sample"

pytestmark = pytest.mark.integration


def test_replay_to_kafka_produces_every_event(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> None:
    assert Topics.OBSERVATIONS in kafka_topics
    prefix = f"it-{uuid.uuid4().hex[:8]}-"
    options = ReplayOptions(key_prefix=prefix)
    stats = replay_physionet(REAL, to="kafka", patients=3, options=options, settings=kafka_settings)
    assert stats.patients == 3 and stats.extra["records"] == stats.observations + 3

    observations = [r for r in read_all(kafka_settings, Topics.OBSERVATIONS, timeout_s=60)
                    if r.key is not None and r.key.decode().startswith(prefix)]
    admissions = [r for r in read_all(kafka_settings, Topics.PATIENT_EVENTS, timeout_s=60)
                  if r.key is not None and r.key.decode().startswith(prefix)]
    assert len(observations) == stats.observations
    assert len(admissions) == 3
    decoded = [decode_event(r.value) for r in observations]
    assert all(isinstance(e, Observation) and e.patient_key == r.key.decode()
               for e, r in zip(decoded, observations, strict=True))
    assert all(isinstance(decode_event(r.value), PatientEvent) for r in admissions)

    # Exactly the events the offline replay generates (same ids, values, times), per patient in order.
    expected = [e for e in replay_items(sorted(REAL.glob("*.psv"))[:3], options, ConversionCounts())]
    expected_obs = [o for item in expected if not isinstance(item, PatientEvent) for o in item.observations]
    by_key = sorted(decoded, key=lambda e: (e.patient_key, e.effective_at, e.part or 0))
    assert by_key == sorted(expected_obs, key=lambda e: (e.patient_key, e.effective_at, e.part or 0))
