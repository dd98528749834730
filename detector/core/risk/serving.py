"""The learned risk model as the engine serves it: the loaded scorer, its ladder levels and the per-process cache.

The artifact is read once per process and file version (the evaluation builds an engine per stay).
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.core.config import RiskModelConfig
from detector.core.risk import RISK_SCORE_NAME, RiskResult, RiskScorer
from detector.core.scores import ScoreResult
from detector.core.scores.inputs import make_result

__all__ = ["RiskServing", "load_risk_serving"]


@dataclass(frozen=True, slots=True)
class RiskServing:
    """A loaded risk model and the ladder levels its probability triggers (highest level first)."""

    scorer: RiskScorer
    levels: tuple[tuple[int, float], ...]  # (ladder level, probability threshold), highest level first

    def level_of(self, probability: float) -> int:
        """The highest ladder level whose threshold `probability` reaches (0 = none)."""
        for level, threshold in self.levels:
            if probability >= threshold:
                return level
        return 0

    def score_result(self, result: RiskResult, level: int) -> ScoreResult:
        """Score `risk_model`: value = calibrated probability, band "elevated" when it triggers a level.

        Its reason is built only when read (i.e. for an alert). When the model triggers, it is the explanation
        naming the top contributing features (tree-path contributions, ~0.1 ms); below its thresholds only the
        probability is stated, so an alert raised by the rules alone does not pay for an explanation."""
        if level:
            return make_result(RISK_SCORE_NAME, result.probability, "elevated", {}, (), (),
                               lambda: result.explanation)
        return self.below_thresholds(result.probability)

    def below_thresholds(self, probability: float) -> ScoreResult:
        """Score `risk_model` for a probability below every level threshold (no explanation needed)."""
        version = self.scorer.model.version
        return make_result(RISK_SCORE_NAME, probability, "normal", {}, (), (),
                           lambda: f"risk {probability:.1%} (model {version}), below the model's alert thresholds")


# One loaded model per (file, modification time, size) and process: the evaluation builds an engine per stay.
_LOADED: dict[tuple[str, int, int], RiskScorer] = {}


def load_risk_serving(config: RiskModelConfig) -> RiskServing:
    """Load (or reuse) the configured model and resolve its level thresholds.

    Thresholds: `config.thresholds`, else the artifact's suggested `level_thresholds`, else its
    `alert_threshold` at level 2 (urgent). Raises RiskModelError / RiskModelMismatch (subclasses of ValueError)
    with a message naming the file and what is wrong.
    """
    path = config.resolved_path()
    try:
        stat = path.stat()
    except OSError:
        stat = None
    cache_key = (str(path), stat.st_mtime_ns, stat.st_size) if stat is not None else None
    scorer = _LOADED.get(cache_key) if cache_key is not None else None
    if scorer is None:
        scorer = RiskScorer.load(path)
        if cache_key is not None:
            _LOADED[cache_key] = scorer
    thresholds = config.thresholds
    if thresholds is None:
        thresholds = scorer.model.level_thresholds or {2: scorer.model.alert_threshold}
    return RiskServing(scorer, tuple(sorted(thresholds.items(), reverse=True)))
