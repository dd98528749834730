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

`context` is a `RiskContext(age_years, male, admitted_s)` from the admission `PatientEvent`. Cost per scoring
(benchmarks/bench_risk.py on the shared 2-core machine, min of runs): features ~54 µs, compiled trees ~35 µs
; the explanation (tree-path contributions over precomputed leaf
paths, ~0.12 ms, plus the text) only when read, i.e. for alerts the model raised. `score_packed` (the numba
path, detector/core/risk/compiled.py) also explains with a compiled kernel: the same floats, ~20 µs instead of
~0.2-0.35 ms for the Python explainer on its float64 vector.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from detector.core.risk.explain import SignalContribution, top_signals, top_signals_from_sums
from detector.core.risk.features import FEATURE_NAMES, FEATURE_SET_HASH, RiskContext, extract_features
from detector.core.risk.model import RiskModel, RiskModelError, RiskModelMismatch
from detector.core.scores import ScoreResult
from detector.core.scores.inputs import make_result
from detector.core.window import PatientWindow

if TYPE_CHECKING:
    import numpy as np

    from detector.core.risk.compiled import CompiledRisk

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
        self._compiled: CompiledRisk | None = None  # numba fast path, built on first use (prepare_compiled)

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

    def prepare_compiled(self) -> CompiledRisk:
        """Build the numba fast path now (JIT, or load numba's on-disk cache) instead of on the first
        `score_packed`; idempotent. Imports numba only here, so the Python path never needs it."""
        if self._compiled is None:
            from detector.core.risk.compiled import CompiledRisk

            compiled = CompiledRisk(self.model)
            compiled.warm_up()
            self._compiled = compiled
        return self._compiled

    def margin_filled(self, data: array, lengths: array, x: np.ndarray, now_s: int) -> float | None:
        """The margin at `now_s` from the packed window and feature vector `x` (float64) whose score and context
        features are already written (detector.core.scoring_compiled); the window features are written into `x`
        too. The same floats as `score_packed` for the same scores. None in the (never expected) int64 overflow
        case: the caller then scores by the reference."""
        compiled = self._compiled or self.prepare_compiled()
        return compiled.margin_filled(data, lengths, x, now_s)

    def result_filled(self, x: np.ndarray, margin: float, probability: float) -> RiskResult:
        """The RiskResult of a `margin_filled` prediction (`x` its filled vector, not shared: the explanation
        reads it later)."""
        compiled = self._compiled or self.prepare_compiled()
        return RiskResult(self.model, cast("Sequence[float]", x), margin, probability, compiled.contributions,
                          compiled.signal_sums)

    def score_packed(self, data: array, lengths: array, first_s: int | None, scores: Mapping[str, ScoreResult],
                     sofa_baseline: int | None, context: RiskContext, now_s: int) -> RiskResult:
        """Same result as `score` (identical margin and probability) from the PACKED window: `data` array('i') of
        (t, value x 10 000, hash) triples, slots in increasing slot order; `lengths` array('H'), ints per slot
        (3 per value, MEASURE_INDEX order); `first_s` the window's earliest accepted event time. One numba
        call computes the window features and the trees (detector/core/risk/compiled.py); `features` is a
        float64 numpy vector; the explanation uses the compiled contributions kernel
        (`CompiledRisk.contributions`, same floats)."""
        compiled = self._compiled or self.prepare_compiled()
        x, margin = compiled.score(data, lengths, first_s, scores, sofa_baseline, context, now_s)
        features = cast("Sequence[float]", x)  # a float64 ndarray indexes like the list `score` returns
        return RiskResult(self.model, features, margin, self.model.calibrate(margin), compiled.contributions,
                          compiled.signal_sums)
