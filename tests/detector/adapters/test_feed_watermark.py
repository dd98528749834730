"""The stream's per-partition watermarks and the sweep they drive (no broker: the engine is the real one)."""

from __future__ import annotations

from detector.adapters.feed_watermark import PartitionWatermarks
from detector.core.config import DetectorConfig, RiskModelConfig
from detector.core.engine import DetectorEngine
from detector.core.window import event_seconds
from tests.detector.builders import NORMAL, at, feed, message
from tests.detector.core.test_engine import _deteriorating


def _w(hours: float) -> int:
    return event_seconds(at(hours))


def test_a_record_counts_at_most_up_to_its_receive_time_plus_the_tolerance() -> None:
    marks = PartitionWatermarks(future_tolerance_s=300)
    marks.observe(0, _w(2), _w(2))
    marks.observe(0, _w(1), _w(1))  # late: the watermark never goes back
    marks.observe(1, _w(50), _w(3))  # a wrong clock: counted as received + 5 min
    assert marks.newest == {0: _w(2), 1: _w(3) + 300}
    marks.forget([1])
    assert marks.newest == {0: _w(2)}


def test_only_moved_partitions_are_swept_and_patients_of_the_batch_wait() -> None:
    engine = DetectorEngine(DetectorConfig(risk_model=RiskModelConfig(enabled=False)))
    feed(engine, _deteriorating("stopped")[: 8 * 6])  # level 4 from hour 4, last vitals at hour 5
    engine.changed_keys()
    partition_of = {"stopped": 3}
    marks = PartitionWatermarks(300)
    marks.advance(3, _w(9.5))
    assert feed(engine, message("stopped", at(9.5), tag="lab", lactate=1.0)) == []  # its data in this batch
    assert marks.sweep(engine, partition_of, None) == []
    engine.changed_keys()  # the batch was published
    assert marks.sweep(engine, partition_of, None) == []  # the watermark did not move: not swept again
    marks.advance(2, _w(12))  # another partition moved: the patient's partition is not its
    assert marks.sweep(engine, partition_of, None) == []
    marks.advance(3, _w(10))
    notices = marks.sweep(engine, partition_of, None)
    assert [n.patient_key for n in notices] == ["stopped"] and notices[0].cannot_rule_out
    feed(engine, message("calm", at(10), **NORMAL))
    marks.advance(3, _w(11))
    assert marks.sweep(engine, {**partition_of, "calm": 3}, None) == []  # once per gap; no episode for calm


def test_the_stream_follows_the_feed_gap_setting_unless_told_otherwise() -> None:
    from detector.adapters.kafka_stream import DetectorStream
    from detector.core.config import EscalationConfig, load_config
    from sepsis_alert.kafka.config import KafkaSettings

    settings = KafkaSettings(bootstrap_servers="127.0.0.1:9")  # never contacted: nothing is started
    assert load_config().escalation.feed_gap_notices is False  # opt-in: docs/paging.md section 5
    assert DetectorStream(settings).feed_gaps is False
    on = DetectorConfig(escalation=EscalationConfig(feed_gap_notices=True))
    assert DetectorStream(settings, on).feed_gaps is True
    assert DetectorStream(settings, on, feed_gaps=False).feed_gaps is False
