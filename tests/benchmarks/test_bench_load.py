"""The load benchmark's process setup (no load is run)."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.bench_load import _set_own_niceness


def test_a_worker_started_with_a_niceness_runs_every_thread_at_it() -> None:
    # A positive niceness needs no privilege; the child reads its own value back from a thread it starts after
    # exec, as the notifier's Kafka and HTTP threads are.
    script = ("import os, threading; out = []\n"
              "t = threading.Thread(target=lambda: out.append(os.getpriority(os.PRIO_PROCESS, 0)))\n"
              "t.start(); t.join(); print(os.getpriority(os.PRIO_PROCESS, 0), out[0])")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    shown = subprocess.run([sys.executable, "-c", script], preexec_fn=_set_own_niceness(base + 3),
                           capture_output=True, text=True, check=True).stdout.split()
    assert shown == [str(base + 3), str(base + 3)]

