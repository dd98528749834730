"""One scoring of one patient: selected inputs -> every score -> the §3.4 ladder assessment.

The score formulas live in detector/core/scores (owned by the scores module); this module only decides
which `ScoreInputs` each score reads (see timing.py) and how the results feed the ladder.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.core._frozen import fast_builder
from detector.core.config import DetectorConfig
from detector.core.escalation import RISK_TRIGGER, TRIGGER_TEXTS, Assessment, ladder_triggers
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

__all__ = ["LADDER_OPTIONAL", "RISK_TRIGGER", "SCORE_ORDER", "SCORE_VIEWS", "Scoring", "ScoringBasis",
           "basis_of", "complete_scoring", "render_reasons", "risk_on_ladder", "score_selected", "with_risk"]


SCORE_VIEWS: dict[str, str] = {
    "news2": "set", "mews": "set", "shock_index": "set",
    "sirs": "criteria", "sirs_sep1": "criteria", "qsofa": "criteria",
    "sep1_severe_sepsis": "criteria", "sep1_septic_shock": "criteria",
    "sofa": "sofa", "sepsis3": "sofa", "sepsis3_septic_shock": "sofa",
}
"""Which selected input set ("set", "criteria" or "sofa", see timing.SelectedInputs) each score reads."""


@dataclass(frozen=True, slots=True)
class Scoring:
    """Everything one scoring produced: the scores by name, the baseline used and the ladder assessment.

    `complete` is False for a scoring made with `score_selected(..., complete=False)` without suspected
    infection: `scores` then lacks the scores the §3.4 ladder does not read in that case (`LADDER_OPTIONAL`);
    `complete_scoring` adds them (from `selected`), equal to what a complete scoring gives.
    """

    scores: dict[str, ScoreResult]
    sofa_baseline: int
    infection: InfectionStatus
    assessment: Assessment
    lactate: float | None = None  # trailing 6 h maximum, mmol/L (level 4 reason text)
    complete: bool = True
    selected: SelectedInputs | None = None  # the inputs, kept only while the scoring is not complete


@dataclass(frozen=True, slots=True)
class ScoringBasis:
    """What the previous scoring of a patient computed its scores from (for `score_selected(previous=...)`).

    Score functions are pure and their results immutable, so when a view's inputs are equal to the previous
    scoring's, its results can be reused unchanged: NEWS2/MEWS/shock index read only the newest set, the
    criteria scores the 6 h extremes, SOFA the 24 h worst values, which a new message often leaves as they were.
    `scores` may lack the `LADDER_OPTIONAL` scores (a scoring that was not complete).
    """

    set_values: dict[str, object]  # SelectedInputs.*_values: what each view's ScoreInputs was built from
    shock_index_pair: tuple[float, float] | None
    criteria_values: dict[str, object]
    sofa_values: dict[str, object]
    infected: bool
    sofa_baseline: int
    scores: dict[str, ScoreResult]


SCORE_ORDER: tuple[str, ...] = ("news2", "mews", "shock_index", "sirs", "sirs_sep1", "qsofa", "sofa",
                                "sep1_severe_sepsis", "sep1_septic_shock", "sepsis3", "sepsis3_septic_shock")
"""The order of `Scoring.scores` (what `on_scored` hooks and alerts see)."""

LADDER_OPTIONAL: frozenset[str] = frozenset({"mews", "sirs", "sirs_sep1", "sep1_severe_sepsis", "sep1_septic_shock",
                                             "sepsis3", "sepsis3_septic_shock"})
"""Scores the §3.4 ladder does not read when infection is not suspected: MEWS is not on the ladder; SIRS counts
only with infection; SEP-1 severe sepsis / septic shock and Sepsis-3 require it (their values are False)."""

_new_scoring = fast_builder(Scoring)
_new_basis = fast_builder(ScoringBasis)
_new_assessment = fast_builder(Assessment)


def score_selected(selected: SelectedInputs, infection: InfectionStatus, sofa_baseline: int,
                   previous_anchor_s: int | None, config: DetectorConfig,
                   previous: ScoringBasis | None = None, complete: bool = True,
                   model_inputs: bool = False) -> Scoring:
    """Score the selected inputs and place the patient on the §3.4 ladder.

    `sofa_baseline`: lowest SOFA in the 72 h before the window, 0 when unknown (§3.2, Sepsis-3).
    `previous_anchor_s`: the observation-set anchor of the previous scoring (a new set when it moved).
    `previous`: the basis of the patient's previous scoring (`basis_of`); the results of every score whose
    inputs did not change are reused (identical to recomputing them, see the differential tests).
    `complete=False`: without suspected infection, skip the `LADDER_OPTIONAL` scores (same assessment; the
    engine completes the scoring when an alert, a hook or a reader needs every score).
    `model_inputs=True` (an incomplete scoring that the learned risk model reads): MEWS and SIRS (Bone) are
    computed too, the SEP-1 and Sepsis-3 definitions still wait for completion.
    """
    infected = infection.suspected
    full = complete or infected
    obs_set = selected.observation_set
    crit = selected.criteria
    sofa_in = selected.sofa
    pair = selected.shock_index_pair
    old = previous.scores if previous is not None else None
    news_mews: ScoreResult | None = None
    if (old is not None and previous.set_values == selected.set_values  # type: ignore[union-attr]
            and previous.shock_index_pair == pair):  # type: ignore[union-attr]
        news, si = old["news2"], old["shock_index"]
        news_mews = old.get("mews")
    else:
        news = news2(obs_set)
        si = shock_index(fast_inputs(hr=pair[0], sbp=pair[1]) if pair is not None else _EMPTY)
    if news_mews is None and (full or model_inputs):
        news_mews = mews(obs_set)
    same_infection = old is not None and previous.infected == infected  # type: ignore[union-attr]
    sirs = sirs2 = severe = shock = None
    if same_infection and previous.criteria_values == selected.criteria_values:  # type: ignore[union-attr]
        q = old["qsofa"]  # type: ignore[index]
        sirs, sirs2 = old.get("sirs"), old.get("sirs_sep1")  # type: ignore[union-attr]
        severe, shock = old.get("sep1_severe_sepsis"), old.get("sep1_septic_shock")  # type: ignore[union-attr]
    else:
        q = qsofa(crit)
    if sirs is None and (full or model_inputs):
        sirs = sirs_bone(crit)
    if sirs2 is None and full:  # a model-inputs scoring may have left SIRS (Bone) without the SEP-1 family
        sirs2 = sirs_sep1(crit)
        # each definition gets the results it builds on (they are not recomputed; see the differential tests)
        severe = sep1_severe_sepsis(crit, infected, sirs=sirs2)
        shock = sep1_septic_shock(crit, infected, severe=severe)
    same_sofa = old is not None and previous.sofa_values == selected.sofa_values  # type: ignore[union-attr]
    sofa_result = old["sofa"] if same_sofa else sofa(sofa_in)  # type: ignore[index]
    sofa_now = int(sofa_result.value)  # type: ignore[arg-type]
    s3 = s3_shock = None
    if same_sofa and same_infection and previous.sofa_baseline == sofa_baseline:  # type: ignore[union-attr]
        s3, s3_shock = old.get("sepsis3"), old.get("sepsis3_septic_shock")  # type: ignore[union-attr]
    if s3 is None and full:
        s3 = sepsis3(sofa_now, sofa_baseline, infected)
        s3_shock = sepsis3_septic_shock(sofa_in, sofa_now, sofa_baseline, infected, sepsis=s3)
    if full:
        scores = {
            "news2": news, "mews": news_mews, "shock_index": si, "sirs": sirs, "sirs_sep1": sirs2,
            "qsofa": q, "sofa": sofa_result, "sep1_severe_sepsis": severe, "sep1_septic_shock": shock,
            "sepsis3": s3, "sepsis3_septic_shock": s3_shock,
        }
        septic_shock = bool(shock.value) or s3_shock.value is True  # type: ignore[union-attr]
        sirs_value, severe_met = sirs.value, bool(severe.value)  # type: ignore[union-attr]
    else:  # not infected: both septic shock definitions and SEP-1 severe sepsis are False, SIRS is not read
        scores = {"news2": news, "shock_index": si, "qsofa": q, "sofa": sofa_result}
        if model_inputs:
            scores["mews"], scores["sirs"] = news_mews, sirs
        septic_shock = severe_met = False
        sirs_value = None
    set_map = obs_set.map
    if set_map is None and obs_set.sbp is not None and obs_set.dbp is not None:
        set_map = (obs_set.sbp + 2 * obs_set.dbp) / 3
    level, triggers = ladder_triggers(
        news2=news.value, news2_band=news.band, qsofa=q.value, sirs=sirs_value,  # type: ignore[arg-type]
        infection=infected, sep1_severe=severe_met, sofa_rise=sofa_now - sofa_baseline,
        septic_shock=septic_shock, lactate=crit.lactate, shock_index=si.value,
        sbp=obs_set.sbp, map_mmhg=set_map, config=config.ladder)
    anchor = selected.set_anchor_s
    new_set = anchor is not None and (previous_anchor_s is None or anchor > previous_anchor_s)
    assessment = _new_assessment(level, triggers, new_set, news.band == "low" and news.incomplete)
    if full:
        return _new_scoring(scores, sofa_baseline, infection, assessment, crit.lactate, True, None)
    return _new_scoring(scores, sofa_baseline, infection, assessment, crit.lactate, False, selected)


def complete_scoring(scoring: Scoring) -> Scoring:
    """The scoring with every score (`scores` in `SCORE_ORDER`); the scoring itself when already complete."""
    if scoring.complete:
        return scoring
    selected = scoring.selected
    assert selected is not None  # kept by score_selected for exactly this
    have = scoring.scores
    infected = scoring.infection.suspected
    crit, sofa_in = selected.criteria, selected.sofa
    sirs2 = sirs_sep1(crit)
    severe = sep1_severe_sepsis(crit, infected, sirs=sirs2)
    sofa_now = int(have["sofa"].value)  # type: ignore[arg-type]
    s3 = sepsis3(sofa_now, scoring.sofa_baseline, infected)
    scores = {
        "news2": have["news2"], "mews": mews(selected.observation_set), "shock_index": have["shock_index"],
        "sirs": sirs_bone(crit), "sirs_sep1": sirs2, "qsofa": have["qsofa"], "sofa": have["sofa"],
        "sep1_severe_sepsis": severe, "sep1_septic_shock": sep1_septic_shock(crit, infected, severe=severe),
        "sepsis3": s3,
        "sepsis3_septic_shock": sepsis3_septic_shock(sofa_in, sofa_now, scoring.sofa_baseline, infected, sepsis=s3),
    }
    for name, result in have.items():  # e.g. risk_model, added after the classic scores
        if name not in scores:
            scores[name] = result
    return _new_scoring(scores, scoring.sofa_baseline, scoring.infection, scoring.assessment, scoring.lactate,
                        True, None)


def basis_of(selected: SelectedInputs, scoring: Scoring) -> ScoringBasis:
    """The basis to pass as `previous` to the patient's next `score_selected`."""
    return _new_basis(selected.set_values, selected.shock_index_pair, selected.criteria_values,
                      selected.sofa_values, scoring.infection.suspected, scoring.sofa_baseline, scoring.scores)


def risk_on_ladder(level: int, triggers: tuple[str, ...], risk_level: int) -> tuple[int, tuple[str, ...]]:
    """The rules' ladder level and triggers with the learned model's level (> 0) added: the higher level wins,
    and the model's trigger comes first when it sets the level (the alert's first reason says what drove it)."""
    ranked = (RISK_TRIGGER, *triggers) if risk_level >= level else (*triggers, RISK_TRIGGER)
    return max(level, risk_level), ranked


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
        level, triggers = risk_on_ladder(assessment.level, assessment.reasons, risk_level)
        assessment = _new_assessment(level, triggers, assessment.new_set, assessment.incomplete_low)
    # _new_scoring: dataclasses.replace(scoring, scores=..., assessment=...) without its cost
    return _new_scoring(scores, scoring.sofa_baseline, scoring.infection, assessment, scoring.lactate,
                        scoring.complete, scoring.selected)


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
