"""`sepsis-alert eval physionet`: the production detector over every stay, offline, in event time.

Each stay is replayed into a fresh `detector.core.engine.DetectorEngine` (the same
code the streaming detector runs), hour by hour. The engine's `on_scored` hook
records every scoring (patient, event time, scores, alert level); per row of the
file we keep the last scoring at or before that hour, carried forward through hours
without data (what a live screen would show). From those per-hour series:

* single rules (`RULES`: a score and a threshold, e.g. NEWS2 >= 5) give hourly 0/1
  predictions, and every continuous score gets hour-level AUROC/AUPRC;
* the ladder gives "an alert at or above level L is active" per hour, L = 1..4;
* evaluation.metrics turns them into the challenge utility, sensitivity, PPV, alert
  burden and lead time, built by evaluation.report and written by evaluation.report_files (JSON, Markdown,
  plots). The rules and the per-hour series are evaluation.series.

Learned models (issue #8) plug in through `EvalOptions.extra_scores` (or
`--predictions FILE`): out-of-fold hourly risks per patient and row, reported beside
the rules as a continuous score and as `<name> >= threshold`.

Work is split over processes in chunks of stays (no shared state between stays).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from evaluation.dataset import DEFAULT_CACHE_DIR, list_patient_files
from evaluation.paging import PagingReplay, StayPaging
from evaluation.physionet import ConversionCounts, admit_event, hour_fields, read_psv
from evaluation.replay import DEFAULT_BASE_TIME
from evaluation.series import MODEL_SCORE, HourlySeries, Rule
from schemas.observation import ResultStatus

__all__ = [
    "EvalOptions",
    "eval_config",
    "evaluate_files",
    "evaluate_physionet",
    "load_predictions",
    "paging_replay",
    "stay_alerts",
]


DEFAULT_NOTIFIER_CONFIG = Path(__file__).resolve().parent.parent / "notifier" / "config" / "example.yaml"
"""The shipped routing and paging policy: what `paged` in the report measures by default."""

@dataclass(frozen=True, slots=True)
class EvalOptions:
    """Evaluation settings: processes, detector config, learned-model predictions, progress bar."""

    workers: int = 2
    config_path: Path | None = None
    predictions: Path | None = None
    prediction_name: str = MODEL_SCORE
    prediction_threshold: float | None = None  # None: the configured risk model's own alert threshold
    extra_scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    progress: bool = True
    chunk_size: int = 128
    reminders: bool = False  # keep the config's `repeated` reminders (identical levels, much slower)
    # Run the shipped learned model inside the engine. Off by default: it was trained on PhysioNet set A, so
    # in-stream scores on set A are in-sample; report its out-of-fold predictions with --predictions instead.
    in_stream_model: bool = False
    # The notifier configuration whose paging policy and routing decide what is paged (report.json `paged`).
    notifier_config: Path = DEFAULT_NOTIFIER_CONFIG


# ----------------------------------------------------------------------------- worker side

_WORKER_CONFIG: Any = None
_WORKER_PAGING: PagingReplay | None = None
_WORKER_RISKS: dict[str, np.ndarray] | None = None


def paging_replay(notifier_config: Path) -> PagingReplay:
    """The paging policy and routing of a notifier configuration file (secrets are not read)."""
    from notifier.config import load_config as load_notifier_config

    config = load_notifier_config(notifier_config)
    pagers = [r.name for r in config.receivers if r.type == "pagerduty"]
    return PagingReplay(config.paging, config.route, config.policies(), pagers)


def eval_config(config_path: Path | None, reminders: bool = False, in_stream_model: bool = False) -> Any:
    """The detector configuration an evaluation runs: the given file (default: the packaged one), without
    reminders unless asked, and without the shipped model unless `in_stream_model`."""
    from detector.core.config import load_config

    config = load_config(config_path)
    if not reminders:
        # `repeated` reminders never change the alert level (escalation.decide only re-announces the same
        # level), so no metric depends on them; building their Alert objects is most of the engine's cost.
        escalation = config.escalation.model_copy(update={"repeat_minutes": dict.fromkeys(range(1, 5))})
        config = config.model_copy(update={"escalation": escalation})
    if not in_stream_model and config.risk_model.enabled:
        config = config.model_copy(update={"risk_model": config.risk_model.model_copy(update={"enabled": False})})
    return config


def _init_worker(config_path: Path | None, reminders: bool, in_stream_model: bool = False,
                 notifier_config: Path = DEFAULT_NOTIFIER_CONFIG,
                 risks: dict[str, np.ndarray] | None = None) -> None:
    global _WORKER_CONFIG, _WORKER_PAGING, _WORKER_RISKS
    from detector.core.config import load_config

    _WORKER_CONFIG = eval_config(config_path, reminders, in_stream_model)
    _WORKER_PAGING = paging_replay(notifier_config)
    # recorded predictions stand in for the model only where the configuration runs one
    _WORKER_RISKS = risks if load_config(config_path).risk_model.enabled else None


def stay_alerts(path: Path, options: EvalOptions = EvalOptions(),
                risks: dict[str, np.ndarray] | None = None) -> list[tuple[int, Any]]:
    """One stay's alerts exactly as the evaluation's engine emits them: (row, alert), in order."""
    config = eval_config(options.config_path, options.reminders, options.in_stream_model)
    alerts: list[tuple[int, Any]] = []
    _evaluate_stay(path, config, ConversionCounts(), Counter(), risks, keep=alerts)
    return alerts


def _forward_fill(has: np.ndarray) -> np.ndarray:
    """Index of the last row at or before each row that has a scoring (-1 before the first)."""
    idx = np.where(has, np.arange(has.size), -1)
    return np.maximum.accumulate(idx) if has.size else idx


def _evaluate_stay(path: Path, config: Any, counts: ConversionCounts, transitions: Counter[str],
                   risks: dict[str, np.ndarray] | None = None, keep: list[tuple[int, Any]] | None = None
                   ) -> tuple[str, np.ndarray, np.ndarray, dict[str, np.ndarray], int, StayPaging]:
    """One stay through a fresh engine: labels, announced alert level and score values per row."""
    from detector.core.engine import DetectorEngine
    from detector.core.window import event_seconds

    record = read_psv(path)
    key = record.patient_key
    n = record.n_hours
    window_hours, baseline_hours = config.timing.sofa_lab_window_hours, config.window.baseline_hours
    names: list[str] = []  # score names, in the engine's (stable) order, then ladder_level, sofa_delta
    scored: list[list[float]] = []  # one row of values per scoring, in order
    nan = math.nan

    def on_scored(patient_key: str, event_time: Any, scores: dict[str, Any], level: int) -> None:
        if not names:
            names.extend([*scores, "ladder_level", "sofa_delta"])
        row = [nan if (v := result.value) is None else float(v) for result in scores.values()]
        sofa = scores["sofa"].value
        state = engine.patient(patient_key)
        delta = nan
        if state is not None and sofa is not None:
            # SOFA rise from the Sepsis-3 baseline the engine uses (lowest hourly SOFA in the 72 h before
            # the 24 h window, else 0): the hook does not pass it, the patient state computes it.
            delta = sofa - state.sofa_baseline(event_seconds(event_time), window_hours, baseline_hours)
        row += [float(level), delta]  # level: assessed by this scoring, before hysteresis
        scored.append(row)

    engine = DetectorEngine(config, on_scored=on_scored)
    if risks is not None:  # recorded (out-of-fold) predictions of the learned model drive its ladder trigger
        from evaluation.replayed_risk import replayed_risk_serving

        engine.risk = replayed_risk_serving(config, risks.get(key), record, DEFAULT_BASE_TIME)
    alerts: list[tuple[int, Any]] = keep if keep is not None else []
    for alert in engine.process(admit_event(record, DEFAULT_BASE_TIME)):
        transitions[str(alert.transition)] += 1
        alerts.append((0, alert))
    row_scoring = np.full(n, -1, dtype=np.int64)
    announced = np.zeros(n, dtype=np.int8)
    # The fields path is the streaming detector's own (its Kafka adapter decodes records to fields and calls
    # process_fields). Building pydantic Observations instead measured ~30 % more CPU for the same alerts.
    process = engine.process_fields
    final = ResultStatus.FINAL
    for message in hour_fields(record, DEFAULT_BASE_TIME, counts=counts):
        t, parts = message.event_s, len(message.items)
        for part, (measure, value, source_id) in enumerate(message.items):
            for alert in process(key, measure, t, t, value, None, source_id, final, part, parts, None, key):
                transitions[str(alert.transition)] += 1
                alerts.append((message.row, alert))
        if scored:
            row_scoring[message.row] = len(scored) - 1
            state = engine.patient(key)
            announced[message.row] = state.escalation.level if state is not None else 0
    # Each row shows the last scoring at or before it (carried forward through hours without data).
    source = _forward_fill(row_scoring >= 0)
    have = source >= 0
    level = np.where(have, announced[np.maximum(source, 0)], 0).astype(np.int8)
    values: dict[str, np.ndarray] = {}
    if scored:
        table = np.asarray(scored, dtype=np.float32)[row_scoring[source[have]]]
        for j, name in enumerate(names):
            column = np.full(n, np.nan, dtype=np.float32)
            column[have] = table[:, j]
            values[name] = column
    paging = _WORKER_PAGING.stay(alerts, n) if _WORKER_PAGING is not None else StayPaging(np.zeros(n, dtype=bool))
    return key, record.labels, level, values, len(scored), paging


def _evaluate_chunk(paths: Sequence[Path]) -> HourlySeries:
    started = time.process_time()
    counts = ConversionCounts()
    transitions: Counter[str] = Counter()
    keys: list[str] = []
    lengths: list[int] = []
    labels: list[np.ndarray] = []
    levels: list[np.ndarray] = []
    per_patient_scores: list[dict[str, np.ndarray]] = []
    pagings: list[StayPaging] = []
    scorings = 0
    for path in paths:
        key, label, level, values, n_scored, paging = _evaluate_stay(path, _WORKER_CONFIG, counts, transitions,
                                                                     _WORKER_RISKS)
        pagings.append(paging)
        keys.append(key)
        lengths.append(int(label.size))
        labels.append(label)
        levels.append(level)
        per_patient_scores.append(values)
        scorings += n_scored
    names = sorted({name for values in per_patient_scores for name in values})
    scores = {name: np.concatenate([v.get(name, np.full(n, np.nan, dtype=np.float32))
                                    for v, n in zip(per_patient_scores, lengths, strict=True)])
              for name in names}
    # A chunk's series: its wall time is the driver's to measure, its CPU time is this worker's.
    return HourlySeries(keys, lengths, np.concatenate(labels), np.concatenate(levels), scores, counts, transitions,
                        scorings, 0.0, time.process_time() - started, pagings)


# ----------------------------------------------------------------------------- driver side

def evaluate_files(files: Sequence[Path], options: EvalOptions = EvalOptions(),
                   risks: dict[str, np.ndarray] | None = None) -> HourlySeries:
    """Run the detector over `files` (in `options.workers` processes) and collect the hourly series.

    `risks` (patient key -> hourly probability, e.g. out-of-fold predictions): the learned model's trigger on
    the ladder takes these instead of scoring, so the alerts, and what is paged, are those of a model that
    never saw the patient."""
    if not files:
        raise ValueError("no PhysioNet files to evaluate")
    init_args = (options.config_path, options.reminders, options.in_stream_model, options.notifier_config, risks)
    started = time.perf_counter()
    chunks = [list(files[i:i + options.chunk_size]) for i in range(0, len(files), options.chunk_size)]
    results: list[HourlySeries] = []
    with tqdm(total=len(files), unit="patient", disable=not options.progress, desc="eval",
              dynamic_ncols=True) as bar:
        if options.workers <= 1:
            _init_worker(*init_args)
            for chunk in chunks:
                results.append(_evaluate_chunk(chunk))
                bar.update(len(chunk))
        else:
            # fork: workers inherit the imported modules (fast start) and it works from any __main__
            # (`python -c`, notebooks), which spawn/forkserver do not. The workers only run pure code.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            context = mp.get_context(method)
            with context.Pool(options.workers, initializer=_init_worker, initargs=init_args) as pool:
                for result in pool.imap(_evaluate_chunk, chunks):
                    results.append(result)
                    bar.update(len(result.lengths))
    counts = ConversionCounts()
    transitions: Counter[str] = Counter()
    for r in results:
        counts.merge(r.counts)
        transitions.update(r.transitions)
    names = sorted({name for r in results for name in r.scores})
    scores = {name: np.concatenate([r.scores.get(name, np.full(r.labels.size, np.nan, dtype=np.float32))
                                    for r in results]) for name in names}
    return HourlySeries(
        patient_keys=[k for r in results for k in r.patient_keys],
        lengths=[n for r in results for n in r.lengths],
        labels=np.concatenate([r.labels for r in results]),
        level=np.concatenate([r.level for r in results]),
        scores=scores,
        counts=counts,
        transitions=transitions,
        scorings=sum(r.scorings for r in results),
        wall_s=time.perf_counter() - started,
        engine_cpu_s=sum(r.engine_cpu_s for r in results),
        paging=[p for r in results for p in r.paging],
    )


def load_predictions(path: Path) -> dict[str, np.ndarray]:
    """Hourly risks of a learned model: patient key -> risk per row (NaN where not given).

    `.npz` with arrays `patient` (str), `row` (int, 0-based) and `risk` (float), or a
    `.csv` with a header `patient,row,risk`.
    """
    if path.suffix == ".npz":
        data = np.load(path, allow_pickle=False)
        patients, rows, risks = data["patient"].astype(str), data["row"].astype(np.int64), data["risk"]
    else:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
        patients = np.asarray(table["patient"]).astype(str)
        rows = np.asarray(table["row"]).astype(np.int64)
        risks = np.asarray(table["risk"]).astype(np.float64)
    out: dict[str, list[tuple[int, float]]] = {}
    for p, r, v in zip(patients.tolist(), rows.tolist(), risks.tolist(), strict=True):
        out.setdefault(p, []).append((r, v))
    result: dict[str, np.ndarray] = {}
    for p, pairs in out.items():
        size = max(r for r, _ in pairs) + 1
        series = np.full(size, np.nan)
        for r, v in pairs:
            series[r] = v
        result[p] = series
    return result


def model_alert_threshold(config_path: Path | None) -> float:
    """The alert threshold (calibrated probability) stored in the configured risk model artifact.

    Training chose it for utility on out-of-fold predictions (learning/), so the report judges the model at
    the operating point the detector would alert at, not at an arbitrary 0.5.
    """
    import json

    from detector.core.config import load_config

    artifact = load_config(config_path).risk_model.resolved_path()
    return float(json.loads(artifact.read_text(encoding="utf-8"))["alert_threshold"])


def attach_extra_scores(series: HourlySeries, extra: dict[str, dict[str, np.ndarray]]) -> None:
    """Lay per-patient extra score series (e.g. out-of-fold model risks) end to end beside the others."""
    for name, by_patient in extra.items():
        parts = []
        for key, n in zip(series.patient_keys, series.lengths, strict=True):
            values = np.full(n, np.nan, dtype=np.float32)
            given = by_patient.get(key)
            if given is not None:
                m = min(n, given.size)
                values[:m] = given[:m]
            parts.append(values)
        series.scores[name] = np.concatenate(parts)


def evaluate_physionet(data: Path | str, out_dir: Path | str, *, patients: int | None = None, sample: bool = False,
                       seed: int = 2019, options: EvalOptions = EvalOptions(),
                       cache_dir: Path = DEFAULT_CACHE_DIR) -> Any:
    """Evaluate on a PhysioNet folder/tarball and write report.json, report.md and the plots to `out_dir`.

    Returns the evaluation.report.EvalReport.
    """
    from evaluation.report import build_report  # report and plots import matplotlib: only when writing one
    from evaluation.report_files import write_report

    started = time.perf_counter()
    files = list_patient_files(Path(data), patients=patients, sample=sample, seed=seed, cache_dir=cache_dir)
    extra = dict(options.extra_scores)
    risks = None
    if options.predictions is not None:
        risks = extra[options.prediction_name] = load_predictions(options.predictions)
    series = evaluate_files(files, options, risks=risks)
    attach_extra_scores(series, extra)
    model_scores = set(extra)
    if options.in_stream_model and MODEL_SCORE in series.scores:
        model_scores.add(MODEL_SCORE)
    threshold = options.prediction_threshold
    if model_scores and threshold is None:
        threshold = model_alert_threshold(options.config_path)
    extra_rules = [Rule(f"{name} >= {threshold:.4g}", name, float(threshold))  # type: ignore[arg-type]
                   for name in sorted(model_scores)]
    report_started = time.perf_counter()
    report = build_report(series, extra_rules=extra_rules, data_label=str(data), workers=options.workers)
    report.summary["metrics_s"] = round(time.perf_counter() - report_started, 2)
    report.summary["total_wall_s"] = round(time.perf_counter() - started, 2)
    write_report(report, series, Path(out_dir))
    return report
