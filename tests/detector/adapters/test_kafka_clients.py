"""The detector's rebalance listener waits for its restore without blocking kafka-python's network loop.

Pure: kafka-python's own loop (`NetworkSelector`, driven on this thread as a consumer's poll drives it), no broker.
A second task on the loop stands for the heartbeat; the broker-level check is in test_kafka_stream.py.
"""

from __future__ import annotations

import time

import pytest
from kafka.net.selector import NetworkSelector

from detector.adapters.kafka_clients import beside_the_loop


def test_other_tasks_of_the_loop_run_while_the_work_runs_in_its_thread() -> None:
    loop = NetworkSelector()
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            beats.append(time.monotonic())
            await loop.sleep(0.05)

    done: list[set[int]] = []

    def restore(partitions: set[int]) -> None:
        time.sleep(0.6)  # a blocking read, as a changelog restore is
        done.append(partitions)

    loop.call_soon(heartbeat)
    started = time.monotonic()
    loop.run(beside_the_loop(restore, {0, 3}))
    elapsed = time.monotonic() - started
    assert done == [{0, 3}]  # the wait ended only once the work had
    assert elapsed >= 0.6
    during = [t for t in beats if started <= t <= started + 0.6]
    assert len(during) >= 6, f"the loop ran {len(during)} heartbeats in 0.6 s"
    loop.close()


def test_what_the_work_raised_is_raised_in_the_listener() -> None:
    loop = NetworkSelector()

    def restore(partitions: set[int]) -> None:
        raise TimeoutError(f"partitions {sorted(partitions)} did not reach their end")

    with pytest.raises(TimeoutError, match=r"partitions \[2\]"):
        loop.run(beside_the_loop(restore, {2}))
    loop.close()
