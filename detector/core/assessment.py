"""What one scoring's ladder level is worth before the episode state machine sees it (pure).

Three corrections on top of the §3.4 triggers, each measured or argued in docs/paging.md:
* the shock-index-with-hypotension trigger counts once it holds on `ladder.shock_index_confirm_sets` consecutive
  observation sets (escalation.confirm_shock_index);
* when heart rate, respiratory rate or systolic BP is older than `timing.cannot_rule_out_hours` (or missing), the
  assessment is `stale`: a low level cannot resolve an episode (charting.stale_vitals);
* an incomplete NEWS2 `low` whose missing parameters are not charted at all in the window counts towards
  resolution (charting.uncharted_only, `escalation.incomplete_low_uncharted_counts`).
"""

from __future__ import annotations

from detector.core._frozen import fast_builder
from detector.core.charting import stale_vitals, uncharted_only
from detector.core.config import DetectorConfig
from detector.core.escalation import Assessment, confirm_shock_index
from detector.core.patient import PatientState
from detector.core.scoring import Scoring, complete_scoring

__all__ = ["adjust_assessment"]

_new_assessment = fast_builder(Assessment)
_new_scoring = fast_builder(Scoring)


def adjust_assessment(scoring: Scoring, state: PatientState, now_s: int, config: DetectorConfig,
                      risk_level: int) -> tuple[Scoring, tuple[str, ...]]:
    """(the scoring with its corrected assessment, the 'cannot rule out' reasons). Updates `state.shock_sets`.

    `risk_level`: the ladder level the learned model's probability reaches in this scoring (0 without it)."""
    assessment = scoring.assessment
    stale = stale_vitals(state.window, now_s, int(config.timing.cannot_rule_out_hours * 3600))
    if stale:
        assessment = _new_assessment(assessment.level, assessment.reasons, assessment.new_set,
                                     assessment.incomplete_low, True)
    if state.shock_sets or "shock_index" in assessment.reasons:
        assessment, state.shock_sets = confirm_shock_index(
            assessment, state.shock_sets, config.ladder.shock_index_confirm_sets, config.ladder.trigger_levels,
            risk_level)
    if (assessment.incomplete_low and state.escalation.opened_s is not None
            and config.escalation.incomplete_low_uncharted_counts):
        scoring = complete_scoring(scoring)  # the NEWS2 result names what it lacks
        if uncharted_only(scoring.scores["news2"].missing, state.window):
            assessment = _new_assessment(assessment.level, assessment.reasons, assessment.new_set, False,
                                         assessment.stale)
    if assessment is not scoring.assessment:
        scoring = _new_scoring(scoring.scores, scoring.sofa_baseline, scoring.infection, assessment,
                               scoring.lactate, scoring.complete, scoring.selected)
    return scoring, stale
