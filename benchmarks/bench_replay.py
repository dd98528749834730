"""Replay and evaluation speed on real PhysioNet 2019 stays (set A sample).

Figures:
* `replay_read_psv_rows_per_s` (our reader) beside `replay_numpy_loadtxt_rows_per_s` (reference:
  numpy.loadtxt on the same files);
* `replay_generate_events_per_s`: PSV -> validated canonical events (no target);
* `replay_offline_events_per_s`: the same events through the in-process DetectorEngine;
* `eval_*`: `evaluate_files` on a sample with 2 processes, and the projection to all of set A
  (20,336 stays) from the per-stay CPU time;
* `eval_set_a_*`: `make eval` itself (all of set A, 2 workers, report and plots) in a child process: wall time (the
  target: < 2 minutes on 2 cores), the CPU time of all its processes and that CPU time divided by the 2 cores (the
  wall time it needs when both cores are its own: the machine is shared), with the load average around it.

The data folder is $SEPSIS_PHYSIONET_DIR, else ../shared/data/physionet2019 next to the repository.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evaluation.dataset import list_patient_files
from evaluation.evaluate import EvalOptions, evaluate_files
from evaluation.physionet import ConversionCounts, admit_event, hour_messages, read_psv
from evaluation.replay import DEFAULT_BASE_TIME, ReplayOptions, run_replay
from evaluation.sinks import OfflineSink

SET_A_STAYS = 20_336


def _data_dir() -> Path:
    env = os.environ.get("SEPSIS_PHYSIONET_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "physionet2019"


def run() -> dict[str, float | int | str]:
    files = list_patient_files(_data_dir(), patients=400, sample=True, seed=11)
    out: dict[str, float | int | str] = {"replay_sample_stays": len(files)}

    t0 = time.perf_counter()
    rows = sum(read_psv(p).n_hours for p in files)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_rows = sum(np.loadtxt(p, delimiter="|", skiprows=1, ndmin=2).shape[0] for p in files)
    ref = time.perf_counter() - t0
    assert ref_rows == rows
    out["replay_read_psv_rows_per_s"] = round(rows / ours)
    out["replay_numpy_loadtxt_rows_per_s"] = round(rows / ref)

    counts = ConversionCounts()
    t0 = time.perf_counter()
    for path in files:
        record = read_psv(path)
        admit_event(record, DEFAULT_BASE_TIME)
        for _ in hour_messages(record, DEFAULT_BASE_TIME, counts=counts):
            pass
    generate = time.perf_counter() - t0
    out["replay_generate_events_per_s"] = round((counts.accepted + len(files)) / generate)

    stats = run_replay(files[:200], OfflineSink(), ReplayOptions(), progress=False)
    out["replay_offline_events_per_s"] = round(stats.events_per_s)
    out["replay_offline_stays_per_s"] = round(stats.patients / stats.wall_s, 1)

    series = evaluate_files(files, EvalOptions(workers=2, progress=False))
    out["eval_sample_stays"] = len(files)
    out["eval_sample_wall_s"] = round(series.wall_s, 2)
    out["eval_sample_cpu_s"] = round(series.engine_cpu_s, 2)
    out["eval_set_a_projected_wall_s_2_cores"] = round(series.engine_cpu_s / len(files) * SET_A_STAYS / 2, 1)
    out.update(_make_eval())
    return out


_REPO = Path(__file__).resolve().parent.parent
_OOF = _REPO / "evaluation" / "data" / "risk_model_oof_set_a.npz"


def _make_eval() -> dict[str, float | int | str]:
    """What `make eval` runs (the Makefile's command line), timed in a child process."""
    with tempfile.TemporaryDirectory() as out_dir:
        command = [sys.executable, "-m", "sepsis_alert.cli", "eval", "physionet", str(_data_dir()), "--out", out_dir,
                   "--predictions", str(_OOF), "--no-progress"]
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, cwd=_REPO, check=True, capture_output=True, timeout=1800)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"eval_set_a_wall_s": round(wall, 1), "eval_set_a_cpu_s": round(cpu, 1),
            "eval_set_a_cpu_s_per_core_2_cores": round(cpu / 2, 1),
            "eval_set_a_load_average_before": round(load_before, 2),
            "eval_set_a_load_average_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
