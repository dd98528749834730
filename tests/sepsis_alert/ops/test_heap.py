"""settle_heap, in a child interpreter: freezing is process-wide and must not leak into the test session."""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = """
import gc, json
from sepsis_alert.ops.heap import FULL_COLLECTION_EVERY, settle_heap
class Node:
    pass
alive = [Node() for _ in range(5000)]
before = gc.get_freeze_count()
frozen = settle_heap()
tracked_after = len(gc.get_objects())
survivor = alive[0]
del alive  # reference counting frees frozen objects that are dropped
young, middle, old = gc.get_threshold()
print(json.dumps({"before": before, "frozen": frozen, "tracked_after": tracked_after, "old": old,
                  "expected_old": FULL_COLLECTION_EVERY, "survivor": type(survivor).__name__}))
"""


def test_settle_heap_freezes_the_start_up_heap_and_spaces_out_full_collections() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60)
    figures = json.loads(out.stdout)
    assert figures["before"] == 0
    assert figures["frozen"] >= 5000  # at least the objects the child made, plus its imports
    assert figures["tracked_after"] < 1000  # what the collector still walks: next to nothing
    assert figures["old"] == figures["expected_old"] == 100
    assert figures["survivor"] == "Node"
