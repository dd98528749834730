"""Issue #20: `make run`'s supervisor restarts a crashed worker with back-off and says so."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from devstack import runner
from devstack.supervisor import ManagedProcess, RestartPolicy


def test_restart_delays_double_up_to_the_cap_and_reset_after_a_stable_run() -> None:
    policy = RestartPolicy(base_s=1.0, max_s=8.0, stable_after_s=60.0)
    assert [policy.next_delay(ran_for_s=0.5) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.next_delay(ran_for_s=120.0) == 1.0  # it had been healthy: the crash is new
    assert policy.next_delay(ran_for_s=2.0) == 2.0


class _NoPages:
    def pages(self) -> list[object]:
        return []


def test_supervise_restarts_a_crashed_worker_and_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A real child that dies at once (as a worker that lost its broker used to), next to one that keeps running.
    crashing = ManagedProcess("detect", [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "detect.log")
    steady = ManagedProcess("notify", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "notify.log")
    plans = [runner.WorkerPlan("detect", crashing.argv, {}, None, ""),
             runner.WorkerPlan("notify", steady.argv, {}, None, "")]
    started = list(zip(plans, [crashing, steady], strict=True))
    for _, proc in started:
        proc.start()
    stop = runner._Stop()
    options = runner.RunOptions(duration_s=60, replay=False)  # safety net; normally stopped below

    def stop_after_second_restart() -> None:
        while crashing.restarts < 2 and not stop.event.wait(0.1):
            pass
        stop.event.set()

    threading.Thread(target=stop_after_second_restart, daemon=True).start()
    try:
        died = runner._supervise(options, started, None, _NoPages(), stop)  # type: ignore[arg-type]
    finally:
        for _, proc in started:
            proc.stop(5.0)
    out = capsys.readouterr().out
    assert died is True
    # back-off 1 s, then 2 s; the steady worker is left alone
    assert crashing.restarts == 2, out
    assert steady.restarts == 0
    assert "detect exited with code 3; restarting it in 1 s (restart #1)" in out
    assert "detect exited with code 3; restarting it in 2 s (restart #2)" in out
    assert "restarted detect (pid" in out
    assert crashing.log_path.read_text().count("start detect") == 3


def test_stop_request_ends_supervision_at_once(tmp_path: Path) -> None:
    steady = ManagedProcess("notify", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "n.log")
    steady.start()
    stop = runner._Stop()
    threading.Timer(0.3, stop.event.set).start()
    try:
        died = runner._supervise(runner.RunOptions(replay=False), [(runner.WorkerPlan("notify", steady.argv, {}, None,
                                                                                     ""), steady)],
                                 None, _NoPages(), stop)  # type: ignore[arg-type]
    finally:
        steady.stop(5.0)
    assert died is False
