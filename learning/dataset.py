"""The hourly feature matrix of a PhysioNet 2019 set, built by replaying every stay through the detector.

Each stay goes through a fresh `DetectorEngine` (the production core) exactly as `sepsis-alert eval` feeds it:
the admission event, then one message per hour (evaluation.physionet.hour_messages). After each hour's
message the engine has scored the patient; `detector.core.risk.features.extract_features` then reads the
engine's own window and scores. Rows of the file without a message carry the previous row's features forward
(the stream shows the last risk until new data arrive); rows before the first scoring are NaN and are left
out of training.

The matrix is cached under .local/risk/ keyed by the feature-set hash, the file list and the detector config,
so a second `train` run skips the replay. Work is split over processes by chunks of stays (2 by default).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from detector.core.config import DetectorConfig, load_config
from detector.core.engine import DetectorEngine
from detector.core.risk.features import FEATURE_NAMES, FEATURE_SET_HASH, RiskContext, extract_features
from detector.core.window import event_seconds
from evaluation.physionet import admit_event, hour_messages, read_psv
from evaluation.replay import DEFAULT_BASE_TIME
from schemas.patient_event import Sex

__all__ = ["DEFAULT_CACHE_DIR", "FeatureMatrix", "build_feature_matrix", "stay_features"]

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".local" / "risk"


@dataclass(slots=True)
class FeatureMatrix:
    """Every stay's rows laid end to end in file order.

    `features` rows x len(FEATURE_NAMES) float32 (NaN before the first scoring), `labels` SepsisLabel per row,
    `lengths` rows per stay, `scored` True where features exist (at or after the first scoring).
    """

    patient_keys: list[str]
    lengths: np.ndarray
    labels: np.ndarray
    features: np.ndarray
    scored: np.ndarray
    build_s: float = 0.0

    @property
    def groups(self) -> np.ndarray:
        """Stay index of every row (for patient-grouped folds)."""
        return np.repeat(np.arange(len(self.patient_keys)), self.lengths)

    def per_patient(self, values: np.ndarray) -> list[np.ndarray]:
        """Split a row-aligned array into one array per stay."""
        return np.split(values, np.cumsum(self.lengths)[:-1])


def _engine_config(config: DetectorConfig) -> DetectorConfig:
    """The config without `repeated` reminders (they never change scores and only cost time offline) and
    without the in-stream model: training must not load the artifact it is about to replace."""
    escalation = config.escalation.model_copy(update={"repeat_minutes": dict.fromkeys(range(1, 5))})
    risk = config.risk_model.model_copy(update={"enabled": False})
    return config.model_copy(update={"escalation": escalation, "risk_model": risk})


def stay_features(path: Path, config: DetectorConfig) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """One stay through a fresh engine: (patient key, labels, features rows x F float32, scored mask)."""
    record = read_psv(path)
    key = record.patient_key
    n = record.n_hours
    engine = DetectorEngine(config)
    admit = admit_event(record, DEFAULT_BASE_TIME)
    engine.process(admit)
    context = RiskContext(age_years=record.age_years,
                          male=None if record.sex is Sex.UNKNOWN else record.sex is Sex.MALE,
                          admitted_s=event_seconds(admit.event_time))
    window_hours = config.timing.sofa_lab_window_hours
    baseline_hours = config.window.baseline_hours
    features = np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    has = np.zeros(n, dtype=bool)
    for message in hour_messages(record, DEFAULT_BASE_TIME):
        for obs in message.observations:
            engine.process(obs)
        state = engine.patient(key)
        if state is None:
            continue
        scores = engine.current_scores(key)
        if not scores:
            continue
        now_s = state.window.newest_s
        baseline = state.sofa_baseline(now_s, window_hours, baseline_hours)
        features[message.row] = extract_features(state.window, scores, baseline, context, now_s)
        has[message.row] = True
    # carry forward through hours without a message
    idx = np.where(has, np.arange(n), -1)
    idx = np.maximum.accumulate(idx)
    scored = idx >= 0
    features[scored] = features[idx[scored]]
    return key, record.labels, features, scored


_WORKER_CONFIG: DetectorConfig | None = None


def _init_worker(config_path: Path | None) -> None:
    global _WORKER_CONFIG
    _WORKER_CONFIG = _engine_config(load_config(config_path))


def _chunk(paths: Sequence[Path]) -> tuple[list[str], list[int], np.ndarray, np.ndarray, np.ndarray]:
    assert _WORKER_CONFIG is not None
    keys, lengths, labels, feats, scored = [], [], [], [], []
    for path in paths:
        key, label, x, s = stay_features(path, _WORKER_CONFIG)
        keys.append(key)
        lengths.append(label.size)
        labels.append(label)
        feats.append(x)
        scored.append(s)
    return keys, lengths, np.concatenate(labels), np.concatenate(feats), np.concatenate(scored)


def _cache_path(files: Sequence[Path], config_path: Path | None, cache_dir: Path) -> Path:
    digest = hashlib.sha256()
    digest.update(FEATURE_SET_HASH.encode())
    config = load_config(config_path)
    # Only what features depend on: window and timing rules (scores) and infection (Sepsis-3 flags).
    # Ladder and escalation settings change alert levels, never a feature, so editing them keeps the cache.
    for part in (config.window, config.timing, config.infection):
        digest.update(part.model_dump_json().encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return cache_dir / f"features-{FEATURE_SET_HASH}-{digest.hexdigest()[:12]}.npz"


def build_feature_matrix(files: Sequence[Path], *, workers: int = 2, config_path: Path | None = None,
                         cache_dir: Path | None = DEFAULT_CACHE_DIR, progress: bool = True,
                         chunk_size: int = 64) -> FeatureMatrix:
    """Replay `files` through the detector and extract features at every hour (cached; see module doc)."""
    if not files:
        raise ValueError("no PhysioNet files to build features from")
    cache = _cache_path(files, config_path, cache_dir) if cache_dir is not None else None
    if cache is not None and cache.exists():
        data = np.load(cache, allow_pickle=False)
        return FeatureMatrix(data["patient_keys"].astype(str).tolist(), data["lengths"], data["labels"],
                             data["features"], data["scored"], float(data["build_s"]))
    started = time.perf_counter()
    chunks = [list(files[i:i + chunk_size]) for i in range(0, len(files), chunk_size)]
    results = []
    with tqdm(total=len(files), unit="patient", desc="features", disable=not progress, dynamic_ncols=True) as bar:
        if workers <= 1:
            _init_worker(config_path)
            for chunk in chunks:
                results.append(_chunk(chunk))
                bar.update(len(chunk))
        else:
            context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            with context.Pool(workers, initializer=_init_worker, initargs=(config_path,)) as pool:
                for result in pool.imap(_chunk, chunks):
                    results.append(result)
                    bar.update(len(result[0]))
    matrix = FeatureMatrix(
        patient_keys=[k for r in results for k in r[0]],
        lengths=np.array([n for r in results for n in r[1]], dtype=np.int64),
        labels=np.concatenate([r[2] for r in results]).astype(np.int8),
        features=np.concatenate([r[3] for r in results]),
        scored=np.concatenate([r[4] for r in results]),
        build_s=time.perf_counter() - started,
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npz")
        np.savez(partial, patient_keys=np.array(matrix.patient_keys), lengths=matrix.lengths, labels=matrix.labels,
                 features=matrix.features, scored=matrix.scored, build_s=np.float64(matrix.build_s))
        partial.rename(cache)
    return matrix
