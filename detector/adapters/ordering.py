"""Observations wait for the patient events and care events written before them (detector stream, step 1).

Kafka orders records within one partition only, so a fetch may hand the detector a patient's observations before
the admission that precedes them in time (and a restarted detector would then attach a different location to the
same alert than an uninterrupted one). An observation partition is therefore paused, its records in the batch
seeked back unprocessed, while the patient-event or care-event partition with the same number has records the
detector has not read yet (kafka_stream.py's module docstring has the whole processing guarantee).
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from sepsis_alert.kafka.consumer import position_within

__all__ = ["defer_observations_behind_control_events"]


def defer_observations_behind_control_events(
        consumer: KafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord]], observations: str,
        end_offsets: dict[TopicPartition, int | None], timeout_ms: int,
) -> dict[TopicPartition, list[ConsumerRecord]]:
    """The batch without the observation partitions whose patient-event / care-event partition is not drained.

    A held partition is paused (so fetches go to the control topics) and its records in this batch are seeked
    back, so they are read again, unchanged, once it is resumed. `end_offsets` caches the control partitions'
    end offsets asked of the broker (cleared by the caller on a rebalance)."""
    assignment = consumer.assignment()
    control = [tp for tp in assignment if tp.topic != observations]
    # The client learns a partition's high watermark from fetch responses, but an incremental fetch
    # session omits unchanged (e.g. empty) partitions, so it can stay unknown: ask the broker once.
    unknown = [tp for tp in control if consumer.highwater(tp) is None and tp not in end_offsets]
    if unknown:
        end_offsets.update(consumer.end_offsets(unknown, timeout_ms=timeout_ms))
    held: set[int] = set()
    for tp in control:
        highwater = consumer.highwater(tp)
        if highwater is None:
            highwater = end_offsets.get(tp) or 0
        # Unknown within the bound (a partition just assigned, the broker slow): hold, and look again next poll.
        position = position_within(consumer, tp, timeout_ms)
        if position is None or position < highwater:
            held.add(tp.partition)
    to_pause = [tp for tp in assignment if tp.topic == observations and tp.partition in held]
    to_resume = [tp for tp in consumer.paused() if tp.topic == observations and tp.partition not in held]
    if to_pause:
        consumer.pause(*to_pause)
    if to_resume:
        consumer.resume(*to_resume)
    if not held:
        return batch
    kept: dict[TopicPartition, list[ConsumerRecord]] = {}
    for tp, records in batch.items():
        if tp.topic == observations and tp.partition in held and records:
            consumer.seek(tp, records[0].offset)
        else:
            kept[tp] = records
    return kept
