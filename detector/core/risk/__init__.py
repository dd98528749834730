"""The learned sepsis risk score (issue #8), served in-stream beside the classic scores. Pure: no I/O but loading.

Integration (the engine owns the wiring):

    scorer = RiskScorer.load(path)                    # RiskModelError / RiskModelMismatch: refuse to start
    ...
    # in DetectorEngine._score, after score_selected():
    result = scorer.score(state.window, scoring.scores, scoring.sofa_baseline, context, now_s)
    result.probability        # calibrated probability, 0..1
    result.level_hint         # 0, or the ladder level the model's suggested thresholds reach (2, 3)
    result.explanation        # "respiratory rate rising 18→28/min over 6 h; lactate 3.1 mmol/L; NEWS2 7" (lazy)
    result.as_score_result()  # a ScoreResult named "risk_model" to put beside the other scores

`context` is a `RiskContext(age_years, male, admitted_s)` from the admission `PatientEvent`. The explanation
(tree-path contributions over precomputed leaf paths, plus the text) is computed only when read, i.e. for alerts
the model raised; benchmarks/bench_risk.py measures each part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from detector.core.risk.explain import SignalContribution, top_signals
from detector.core.risk.features import FEATURE_NAMES, FEATURE_SET_HASH, RiskContext, extract_features
from detector.core.risk.model import RiskModel, RiskModelError, RiskModelMismatch
from detector.core.scores import ScoreResult
from detector.core.scores.inputs import make_result
from detector.core.window import PatientWindow

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SET_HASH",
    "RISK_SCORE_NAME",
    "RiskContext",
    "RiskModel",
    "RiskModelError",
    "RiskModelMismatch",
    "RiskResult",
    "RiskScorer",
    "SignalContribution",
    "extract_features",
]

RISK_SCORE_NAME = "risk_model"

class RiskResult:
    """One risk prediction. `top_contributions` and `explanation` are computed on first access."""

    __slots__ = ("_top", "features", "margin", "model", "probability")

    def __init__(self, model: RiskModel, features: Sequence[float], margin: float, probability: float) -> None:
        self.model = model
        self.features = features
        self.margin = margin
        self.probability = probability
        self._top: list[SignalContribution] | None = None

    @property
    def level_hint(self) -> int:
        """Highest ladder level whose threshold in the artifact the probability meets (0 = none)."""
        return self.model.level_hint(self.probability)

    @property
    def top_contributions(self) -> list[SignalContribution]:
        """The (up to 3) clinical signals that raised the risk most, with log-odds contributions and text."""
        if self._top is None:
            _, contributions = self.model.contributions(self.features)
            self._top = top_signals(self.features, contributions, limit=3)
        return self._top

    @property
    def explanation(self) -> str:
        """Human text of the top contributing signals, e.g. "respiratory rate rising 18→28/min over 6 h"."""
        top = self.top_contributions
        prefix = f"risk {self.probability:.0%} (model {self.model.version})"
        return prefix + (": " + "; ".join(s.text for s in top) if top else "")

    def as_score_result(self) -> ScoreResult:
        """The prediction as a ScoreResult named "risk_model" (value = probability, band "elevated"/"normal")."""
        band = "elevated" if self.probability >= self.model.alert_threshold else "normal"
        met = tuple(s.signal for s in self.top_contributions) if band == "elevated" else ()
        return make_result(RISK_SCORE_NAME, self.probability, band, {}, met, (), lambda: self.explanation)


class RiskScorer:
    """Features from the engine's window + the loaded model."""

    def __init__(self, model: RiskModel) -> None:
        self.model = model

    @classmethod
    def load(cls, path: Path | str) -> RiskScorer:
        """Load and check the artifact; raises RiskModelError (missing/corrupt) or RiskModelMismatch.

        Serving also compiles the explanation path now (~0.2 s), so the first alert does not wait for it."""
        model = RiskModel.load(path)
        model.prepare_explanations()
        return cls(model)

    def score(self, window: PatientWindow, scores: Mapping[str, ScoreResult], sofa_baseline: int | None,
              context: RiskContext, now_s: int) -> RiskResult:
        """Risk at event time `now_s` (seconds since 2000-01-01) from the window and the scoring's results."""
        x = extract_features(window, scores, sofa_baseline, context, now_s)
        margin = self.model.margin(x)
        return RiskResult(self.model, x, margin, self.model.calibrate(margin))
