"""One scoring of one patient: selected inputs -> every score -> the §3.4 ladder assessment.

The score formulas live in detector/core/scores (owned by the scores module); this module only decides
which `ScoreInputs` each score reads (see timing.py) and how the results feed the ladder.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from detector.core.config import DetectorConfig
from detector.core.escalation import TRIGGER_TEXTS, Assessment, ladder_triggers
from detector.core.infection import InfectionStatus
from detector.core.scores import (
    ScoreInputs,
    ScoreResult,
    mews,
    news2,
    qsofa,
    sep1_septic_shock,
    sep1_severe_sepsis,
    sepsis3,
    sepsis3_septic_shock,
    shock_index,
    sirs_bone,
    sirs_sep1,
    sofa,
)
from detector.core.timing import SelectedInputs, fast_inputs

__all__ = ["RISK_TRIGGER", "SCORE_VIEWS", "Scoring", "ScoringBasis", "basis_of", "render_reasons", "score_selected",
           "with_risk"]

RISK_TRIGGER = "risk_model"
"""Trigger id (and score name) of the learned risk score (issue #8) on the ladder."""

SCORE_VIEWS: dict[str, str] = {
    "news2": "set", "mews": "set", "shock_index": "set",
    "sirs": "criteria", "sirs_sep1": "criteria", "qsofa": "criteria",
    "sep1_severe_sepsis": "criteria", "sep1_septic_shock": "criteria",
    "sofa": "sofa", "sepsis3": "sofa", "sepsis3_septic_shock": "sofa",
}
"""Which selected input set ("set", "criteria" or "sofa", see timing.SelectedInputs) each score reads."""


@dataclass(frozen=True, slots=True)
class Scoring:
    """Everything one scoring produced: the scores by name, the baseline used and the ladder assessment."""

    scores: dict[str, ScoreResult]
    sofa_baseline: int
    infection: InfectionStatus
    assessment: Assessment
    lactate: float | None = None  # trailing 6 h maximum, mmol/L (level 4 reason text)


@dataclass(frozen=True, slots=True)
class ScoringBasis:
    """What the previous scoring of a patient computed its scores from (for `score_selected(previous=...)`).

    Score functions are pure and their results immutable, so when a view's inputs are equal to the previous
    scoring's, its results can be reused unchanged: NEWS2/MEWS/shock index read only the newest set, the
    criteria scores the 6 h extremes, SOFA the 24 h worst values, which a new message often leaves as they were.
    """

    observation_set: ScoreInputs
    shock_index_pair: tuple[float, float] | None
    criteria: ScoreInputs
    sofa: ScoreInputs
    infected: bool
    sofa_baseline: int
    scores: dict[str, ScoreResult]


def score_selected(selected: SelectedInputs, infection: InfectionStatus, sofa_baseline: int,
                   previous_anchor_s: int | None, config: DetectorConfig,
                   previous: ScoringBasis | None = None) -> Scoring:
    """Score the selected inputs and place the patient on the §3.4 ladder.

    `sofa_baseline`: lowest SOFA in the 72 h before the window, 0 when unknown (§3.2, Sepsis-3).
    `previous_anchor_s`: the observation-set anchor of the previous scoring (a new set when it moved).
    `previous`: the basis of the patient's previous scoring (`basis_of`); the results of every score whose
    inputs did not change are reused (identical to recomputing them, see the differential tests).
    """
    infected = infection.suspected
    obs_set = selected.observation_set
    crit = selected.criteria
    sofa_in = selected.sofa
    pair = selected.shock_index_pair
    old = previous.scores if previous is not None else None
    if old is not None and previous.observation_set == obs_set and previous.shock_index_pair == pair:  # type: ignore[union-attr]
        news, news_mews, si = old["news2"], old["mews"], old["shock_index"]
    else:
        news, news_mews = news2(obs_set), mews(obs_set)
        si = shock_index(fast_inputs(hr=pair[0], sbp=pair[1]) if pair is not None else _EMPTY)
    same_infection = old is not None and previous.infected == infected  # type: ignore[union-attr]
    if same_infection and previous.criteria == crit:  # type: ignore[union-attr]
        sirs, sirs2, q = old["sirs"], old["sirs_sep1"], old["qsofa"]  # type: ignore[index]
        severe, shock = old["sep1_severe_sepsis"], old["sep1_septic_shock"]  # type: ignore[index]
    else:
        sirs, sirs2, q = sirs_bone(crit), sirs_sep1(crit), qsofa(crit)
        # each definition gets the results it builds on (they are not recomputed; see the differential tests)
        severe = sep1_severe_sepsis(crit, infected, sirs=sirs2)
        shock = sep1_septic_shock(crit, infected, severe=severe)
    same_sofa = old is not None and previous.sofa == sofa_in  # type: ignore[union-attr]
    sofa_result = old["sofa"] if same_sofa else sofa(sofa_in)  # type: ignore[index]
    sofa_now = int(sofa_result.value)  # type: ignore[arg-type]
    if same_sofa and same_infection and previous.sofa_baseline == sofa_baseline:  # type: ignore[union-attr]
        s3, s3_shock = old["sepsis3"], old["sepsis3_septic_shock"]  # type: ignore[index]
    else:
        s3 = sepsis3(sofa_now, sofa_baseline, infected)
        s3_shock = sepsis3_septic_shock(sofa_in, sofa_now, sofa_baseline, infected, sepsis=s3)
    scores = {
        "news2": news, "mews": news_mews, "shock_index": si, "sirs": sirs, "sirs_sep1": sirs2,
        "qsofa": q, "sofa": sofa_result, "sep1_severe_sepsis": severe, "sep1_septic_shock": shock,
        "sepsis3": s3, "sepsis3_septic_shock": s3_shock,
    }
    septic_shock = bool(shock.value) or s3_shock.value is True
    set_map = obs_set.map
    if set_map is None and obs_set.sbp is not None and obs_set.dbp is not None:
        set_map = (obs_set.sbp + 2 * obs_set.dbp) / 3
    level, triggers = ladder_triggers(
        news2=news.value, news2_band=news.band, qsofa=q.value, sirs=sirs.value,  # type: ignore[arg-type]
        infection=infected, sep1_severe=bool(severe.value), sofa_rise=sofa_now - sofa_baseline,
        septic_shock=septic_shock, lactate=crit.lactate, shock_index=si.value,  # type: ignore[arg-type]
        sbp=obs_set.sbp, map_mmhg=set_map, config=config.ladder)
    anchor = selected.set_anchor_s
    new_set = anchor is not None and (previous_anchor_s is None or anchor > previous_anchor_s)
    assessment = Assessment(level, triggers, new_set, news.band == "low" and news.incomplete)
    return Scoring(scores, sofa_baseline, infection, assessment, crit.lactate)


def basis_of(selected: SelectedInputs, scoring: Scoring) -> ScoringBasis:
    """The basis to pass as `previous` to the patient's next `score_selected`."""
    return ScoringBasis(selected.observation_set, selected.shock_index_pair, selected.criteria, selected.sofa,
                        scoring.infection.suspected, scoring.sofa_baseline, scoring.scores)


def with_risk(scoring: Scoring, risk: ScoreResult, risk_level: int) -> Scoring:
    """The scoring with the learned risk score added as score `risk_model` and as a ladder trigger.

    `risk_level` (0-4) is the highest level whose configured probability threshold the model reached
    (config.RiskModelConfig.thresholds). The patient's level is the higher of the rules' and the model's; the
    model's trigger comes first when it sets the level (the alert's first reason says what drove it).
    """
    scores = dict(scoring.scores)
    scores[RISK_TRIGGER] = risk
    assessment = scoring.assessment
    if risk_level > 0:
        level = assessment.level
        triggers = ((RISK_TRIGGER, *assessment.reasons) if risk_level >= level
                    else (*assessment.reasons, RISK_TRIGGER))
        assessment = replace(assessment, level=max(level, risk_level), reasons=triggers)
    return replace(scoring, scores=scores, assessment=assessment)


def render_reasons(triggers: tuple[str, ...], scores: dict[str, ScoreResult], lactate: float | None = None
                   ) -> tuple[str, ...]:
    """Alert texts for ladder trigger ids, from the scores' own reason texts (built only for alerts)."""
    texts: list[str] = []
    for trigger in triggers:
        if trigger in ("news2_emergency", "news2_urgent", "news2_red"):
            texts.append(scores["news2"].reason)
        elif trigger == "septic_shock":
            shock = scores["sep1_septic_shock"]
            texts.append(shock.reason if shock.value else scores["sepsis3_septic_shock"].reason)
        elif trigger == "lactate":
            texts.append(f"lactate {lactate:g} mmol/L (critical)" if lactate is not None else TRIGGER_TEXTS[trigger])
        elif trigger == "shock_index":
            texts.append(scores["shock_index"].reason + " with hypotension")
        elif trigger == "sirs_infection":
            texts.append(scores["sirs"].reason + " with suspected infection")
        elif trigger in scores:  # includes risk_model: its reason is the model's explanation (built here, lazily)
            texts.append(scores[trigger].reason)
        else:
            texts.append(TRIGGER_TEXTS.get(trigger, trigger))
    return tuple(dict.fromkeys(texts))


_EMPTY = ScoreInputs()
