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

`context` is a `RiskContext(age_years, male, admitted_s)` from the admission `PatientEvent`. `score` runs the
window features, the trees and (for an alert) the explanation in numba kernels (risk/compiled.py), the same
floats as the plain-Python reference `score_reference` (tests/detector/core/risk/test_compiled.py). They are
kept for one target only: detector >= 20,000 observations per CPU-second per process with the model on, which
the Python reference misses (docs/benchmarks.md, `risk_python_reference_*` figures). The explanation is computed
only when read, i.e. for alerts the model raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from detector.core.risk.compiled import CompiledRisk
from detector.core.risk.explain import SignalContribution, top_signals, top_signals_from_sums
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

# (bias, per-feature contributions) of a feature vector, log-odds scale (RiskModel.contributions' signature)
Contributions = Callable[[Sequence[float]], tuple[float, Sequence[float]]]
# (per-signal sums, first contributing feature per signal) of a float64 feature vector (CompiledRisk.signal_sums)
SignalSums = Callable[[Any], tuple[list[float], list[int]]]


class RiskResult:
    """One risk prediction. `top_contributions` and `explanation` are computed on first access."""

    __slots__ = ("_contributions", "_signal_sums", "_top", "features", "margin", "model", "probability")

    def __init__(self, model: RiskModel, features: Sequence[float], margin: float, probability: float,
                 contributions: Contributions | None = None, signal_sums: SignalSums | None = None) -> None:
        """`contributions`: computes (bias, per-feature contributions) of `features`, the same floats as
        `model.contributions` (the default), e.g. the compiled `CompiledRisk.contributions`. `signal_sums`
        (`CompiledRisk.signal_sums`, for a float64 feature vector): the per-signal sums of those contributions,
        which the explanation then ranks without the per-feature list."""
        self.model = model
        self.features = features
        self.margin = margin
        self.probability = probability
        self._contributions = contributions
        self._signal_sums = signal_sums
        self._top: list[SignalContribution] | None = None

    @property
    def level_hint(self) -> int:
        """Highest ladder level whose threshold in the artifact the probability meets (0 = none)."""
        return self.model.level_hint(self.probability)

    @property
    def top_contributions(self) -> list[SignalContribution]:
        """The (up to 3) clinical signals that raised the risk most, with log-odds contributions and text."""
        if self._top is None:
            features = self.features
            tolist = getattr(features, "tolist", None)  # a float64 vector (a list after the int64 fallback)
            if self._signal_sums is not None and tolist is not None:  # contributions summed per signal natively
                sums, first = self._signal_sums(features)
                self._top = top_signals_from_sums(tolist(), sums, first, limit=3)
            else:
                _, contributions = (self._contributions or self.model.contributions)(features)
                self._top = top_signals(features, contributions, limit=3)
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
        self._compiled: CompiledRisk | None = None  # the numba kernels, built at load (prepare_compiled)

    @classmethod
    def load(cls, path: Path | str) -> RiskScorer:
        """Load and check the artifact; raises RiskModelError (missing/corrupt) or RiskModelMismatch.

        Serving also builds the numba kernels and the explanation path now, so the first scoring and the first
        alert do not wait for them."""
        model = RiskModel.load(path)
        model.prepare_explanations()
        scorer = cls(model)
        scorer.prepare_compiled()
        return scorer

    def score(self, window: PatientWindow, scores: Mapping[str, ScoreResult], sofa_baseline: int | None,
              context: RiskContext, now_s: int) -> RiskResult:
        """Risk at event time `now_s` (seconds since 2000-01-01) from the window and the scoring's results.

        One numba call computes the window features and the trees from the packed window (risk/compiled.py);
        the same floats as `score_reference`, which the tests compare it with. `features` is a float64 numpy
        vector; the explanation uses the compiled contributions kernel (same floats as the Python explainer)."""
        compiled = self._compiled or self.prepare_compiled()
        x, margin = compiled.score(window.data, window.lengths, window.first_s, scores, sofa_baseline, context, now_s)
        features = cast("Sequence[float]", x)  # a float64 ndarray indexes like the list `score_reference` returns
        return RiskResult(self.model, features, margin, self.model.calibrate(margin), compiled.contributions,
                          compiled.signal_sums)

    def score_reference(self, window: PatientWindow, scores: Mapping[str, ScoreResult], sofa_baseline: int | None,
                        context: RiskContext, now_s: int) -> RiskResult:
        """`score` by the plain-Python reference: features.extract_features and the generated-Python trees."""
        x = extract_features(window, scores, sofa_baseline, context, now_s)
        margin = self.model.margin(x)
        return RiskResult(self.model, x, margin, self.model.calibrate(margin))

    def prepare_compiled(self) -> CompiledRisk:
        """Build the numba kernels now (JIT, or load numba's on-disk cache) instead of on the first `score`;
        idempotent."""
        if self._compiled is None:
            compiled = CompiledRisk(self.model)
            compiled.warm_up()
            self._compiled = compiled
        return self._compiled
