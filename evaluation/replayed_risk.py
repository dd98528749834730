"""The learned model's trigger on the detector's ladder, fed by recorded predictions instead of the model.

An evaluation on the data the model was trained on must not score it with the shipped model (in-sample). Each
patient-hour's out-of-fold probability (written by `sepsis-alert train`, from the fold that never saw the patient)
takes the model's place in the engine, so the ladder, the alerts and what is paged are those of a model that never
saw the patient. The engine calls `score(...)` at each scoring (the reference path, which an evaluation takes);
the probability of the hour being scored is returned.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np

from detector.core.config import DetectorConfig
from detector.core.risk.serving import RiskServing
from detector.core.window import event_seconds
from evaluation.physionet import PatientRecord

__all__ = ["ReplayedRisk", "replayed_risk_serving"]


class _Model:
    version = "out-of-fold"


class _Result:
    __slots__ = ("probability",)

    def __init__(self, probability: float) -> None:
        self.probability = probability

    @property
    def explanation(self) -> str:
        return f"risk {self.probability:.1%} (out-of-fold prediction)"


class ReplayedRisk:
    """Stands in for detector.core.risk.RiskScorer: the recorded probability of the hour being scored."""

    model = _Model()

    def __init__(self, by_event_s: dict[int, float]) -> None:
        self._by_event_s = by_event_s

    def score(self, window: Any, scores: Any, baseline: int, context: Any, now_s: int) -> _Result:
        return _Result(self._by_event_s.get(now_s, 0.0))


def _levels(config: DetectorConfig) -> tuple[tuple[int, float], ...]:
    thresholds = config.risk_model.thresholds
    if thresholds is None:
        artifact = json.loads(config.risk_model.resolved_path().read_text(encoding="utf-8"))
        thresholds = {int(k): float(v) for k, v in artifact["level_thresholds"].items()}
    return tuple(sorted(thresholds.items(), reverse=True))


def replayed_risk_serving(config: DetectorConfig, risks: np.ndarray | None, record: PatientRecord,
                          base_time: datetime) -> RiskServing:
    """A RiskServing whose probabilities are `risks[row]` at each row's event time (0 where none is given)."""
    base_s = event_seconds(base_time)
    by_event_s: dict[int, float] = {}
    if risks is not None:
        for row, hour in enumerate(record.iculos.tolist()):
            if row < risks.size and not math.isnan(value := float(risks[row])):
                by_event_s[base_s + hour * 3600] = value
    return RiskServing(ReplayedRisk(by_event_s), _levels(config))  # type: ignore[arg-type]
