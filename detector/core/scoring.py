"""One scoring of one patient: selected inputs -> every score -> the §3.4 ladder assessment.

The score formulas live in detector/core/scores (owned by the scores module); this module only decides
which `ScoreInputs` each score reads (see timing.py) and how the results feed the ladder.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

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

__all__ = ["SCORE_VIEWS", "Scoring", "render_reasons", "score_selected"]

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


def score_selected(selected: SelectedInputs, infection: InfectionStatus, sofa_baseline: int,
                   previous_anchor_s: int | None, config: DetectorConfig) -> Scoring:
    """Score the selected inputs and place the patient on the §3.4 ladder.

    `sofa_baseline`: lowest SOFA in the 72 h before the window, 0 when unknown (§3.2, Sepsis-3).
    `previous_anchor_s`: the observation-set anchor of the previous scoring (a new set when it moved).
    """
    infected = infection.suspected
    obs_set = selected.observation_set
    crit = selected.criteria
    news = news2(obs_set)
    pair = selected.shock_index_pair
    si = shock_index(fast_inputs(hr=pair[0], sbp=pair[1]) if pair is not None else _EMPTY)
    sofa_result = sofa(selected.sofa)
    sofa_now = int(sofa_result.value)  # type: ignore[arg-type]
    severe = sep1_severe_sepsis(crit, infected)
    shock = sep1_septic_shock(crit, infected)
    s3 = sepsis3(sofa_now, sofa_baseline, infected)
    s3_shock = sepsis3_septic_shock(selected.sofa, sofa_now, sofa_baseline, infected)
    sirs = sirs_bone(crit)
    q = qsofa(crit)
    scores = {
        "news2": news, "mews": mews(obs_set), "shock_index": si, "sirs": sirs, "sirs_sep1": sirs_sep1(crit),
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
        elif trigger in scores:
            texts.append(scores[trigger].reason)
        else:
            texts.append(TRIGGER_TEXTS.get(trigger, trigger))
    return tuple(dict.fromkeys(texts))


_EMPTY = ScoreInputs()
