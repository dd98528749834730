"""detector.gc_tuning.BatchCollector, in a child interpreter: freezing is process-wide and must not leak into the
test session.

What it must do: after a batch, the batch's survivors leave the collected generations (so later young
collections do not walk them), a reference cycle that died within the batch is freed at once, and a cycle that
was frozen alive and dropped later is freed by the next full collection, which is due only after its interval.
"""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = """
import gc, json, weakref
from detector.gc_tuning import BatchCollector

class Node:
    def __init__(self):
        self.other = self

now = [0.0]
collector = BatchCollector(full_every_s=60.0, clock=lambda: now[0])
gc.collect()
figures = {}

# a batch: states that survive it, and a cycle that is garbage by its end
states = [Node() for _ in range(3000)]
dead_in_batch = Node()
dead_ref = weakref.ref(dead_in_batch)
del dead_in_batch
collector.after_batch()
figures["dead_in_batch_freed"] = dead_ref() is None
figures["survivors_frozen"] = gc.get_freeze_count() >= 3000
figures["young_left"] = len(gc.get_objects(0)) + len(gc.get_objects(1)) + len(gc.get_objects(2))

# a cycle frozen alive, dropped in a later batch: only a full collection frees it
late = states.pop()
late_ref = weakref.ref(late)
del late
now[0] = 30.0
collector.after_batch()
figures["late_cycle_alive_before_full"] = late_ref() is not None
now[0] = 61.0
collector.after_batch()
figures["late_cycle_freed_by_full"] = late_ref() is None
figures["states_still_alive"] = all(isinstance(s, Node) for s in states)
figures["refrozen_after_full"] = gc.get_freeze_count() >= 2999
print(json.dumps(figures))
"""


def test_batch_collector_frees_batch_garbage_freezes_survivors_and_frees_frozen_cycles_when_the_full_is_due() \
        -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60)
    figures = json.loads(out.stdout)
    assert figures["dead_in_batch_freed"]
    assert figures["survivors_frozen"]
    assert figures["young_left"] < 100  # what later young collections would walk: next to nothing
    assert figures["late_cycle_alive_before_full"]  # the price of freezing, bounded by the full collection
    assert figures["late_cycle_freed_by_full"]
    assert figures["states_still_alive"]
    assert figures["refrozen_after_full"]
