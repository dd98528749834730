"""Turn an escalation decision and the scoring behind it into a `schemas.Alert` (only on transitions).

Pydantic models are built here and nowhere on the hot path: a transition is rare compared with a scoring.
The nested snapshots are constructed without validation (`_construct`, what `model_construct` does, faster: the
engine built and checked every value); the Alert itself is validated.
Every snapshot names the inputs it used with their event times, what was missing, and whether NEWS2 /
MEWS values were carried forward from an earlier observation set (§3.2).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from detector.core.escalation import Decision
from detector.core.scoring import RISK_TRIGGER, SCORE_VIEWS, Scoring
from detector.core.timing import SelectedInputs
from detector.core.window import seconds_to_datetime
from schemas.alert import Alert, AlertLevel, ScoreInput, ScoreSnapshot, alert_id_for
from schemas.base import Location

__all__ = ["INPUT_UNITS", "build_alert", "snapshots"]

INPUT_UNITS: dict[str, str] = {
    "hr": "/min", "rr": "/min", "temp_c": "Cel", "sbp": "mm[Hg]", "dbp": "mm[Hg]", "map": "mm[Hg]", "spo2": "%",
    "fio2": "1", "wbc": "10*9/L", "bands_pct": "%", "lactate": "mmol/L", "creatinine": "mg/dL",
    "bilirubin": "mg/dL", "platelets": "10*9/L", "pao2": "mm[Hg]", "paco2": "mm[Hg]", "inr": "{INR}", "aptt": "s",
    "gcs": "{score}", "urine_ml_24h": "mL", "norepinephrine": "ug/kg/min", "epinephrine": "ug/kg/min",
    "dopamine": "ug/kg/min", "dobutamine": "ug/kg/min", "vasopressin": "U/min",
}
"""Canonical unit of each ScoreInputs key shown in alerts."""

_set_attr = object.__setattr__
_INPUT_FIELDS = frozenset(ScoreInput.__pydantic_fields__)
_SNAPSHOT_FIELDS = frozenset(ScoreSnapshot.__pydantic_fields__)


def _construct(cls: Any, field_names: frozenset[str], values: dict[str, Any]) -> Any:
    """`cls.model_construct(**values)` for a model whose every field is given in `values` (in declaration
    order), with no aliases, no extra fields, no private attributes and no post-init (ScoreInput, ScoreSnapshot):
    the same instance state (`__dict__`, fields set, extra None, private None) at a fraction of the cost."""
    model = cls.__new__(cls)
    _set_attr(model, "__dict__", values)
    _set_attr(model, "__pydantic_fields_set__", set(field_names))
    _set_attr(model, "__pydantic_extra__", None)
    _set_attr(model, "__pydantic_private__", None)
    return model


@lru_cache(maxsize=4096)
def _event_datetime(seconds: int) -> datetime:
    """seconds_to_datetime, memoised (datetimes are immutable; the inputs of one alert share a few times)."""
    return seconds_to_datetime(seconds)


_SHOWN = ("news2", "qsofa", "sirs", "sofa", "shock_index", "mews", "sep1_severe_sepsis", "sep1_septic_shock",
          "sepsis3", "sepsis3_septic_shock")


def _inputs(selected: SelectedInputs, view: str) -> list[ScoreInput]:
    if view == "set":
        values, times = selected.observation_set, selected.set_times
    elif view == "criteria":
        values, times = selected.criteria, selected.criteria_times
    else:
        values, times = selected.sofa, selected.sofa_times
    shown: list[ScoreInput] = []
    for key, t in sorted(times.items()):
        value = getattr(values, key, None)
        if isinstance(value, int):  # bool flags and the GCS total: the schema's float (what validation would make)
            value = float(value)
        memo_key = (key, value, t)
        score_input = _INPUT_MEMO.get(memo_key)
        if score_input is None:
            if len(_INPUT_MEMO) >= _INPUT_MEMO_SIZE:
                _INPUT_MEMO.clear()
            score_input = _INPUT_MEMO[memo_key] = _construct(ScoreInput, _INPUT_FIELDS, {
                "measure": key, "value": value, "unit": INPUT_UNITS.get(key), "effective_at": _event_datetime(t)})
        shown.append(score_input)
    return shown


# ScoreInputs are frozen models, so alerts may share them: the alerts of one episode repeat most of their inputs.
_INPUT_MEMO: dict[tuple[str, object, int], ScoreInput] = {}
_INPUT_MEMO_SIZE = 8192


def _view_inputs(cache: dict[str, list[ScoreInput]], selected: SelectedInputs | None, view: str
                 ) -> list[ScoreInput]:
    if selected is None:
        return []
    if view not in cache:
        cache[view] = _inputs(selected, view)
    return cache[view]


def snapshots(scoring: Scoring, selected: SelectedInputs | None) -> list[ScoreSnapshot]:
    """The alert's score snapshots (most relevant first), then `risk_model` (the learned score, when served:
    calibrated probability, band "elevated" at or above its lowest level threshold, reason = its top
    contributing features) and `sofa_delta` (SOFA minus its baseline)."""
    out: list[ScoreSnapshot] = []
    carried = selected.carried_forward if selected is not None else ()
    per_view: dict[str, list[ScoreInput]] = {}  # frozen models: one list per input set, shared by its scores
    for name in _SHOWN:
        result = scoring.scores.get(name)
        if result is None:
            continue
        view = SCORE_VIEWS[name]
        reason = result.reason
        if view == "set" and carried:
            reason = f"{reason}; carried_forward {', '.join(carried)}"
        value = result.value
        out.append(_construct(ScoreSnapshot, _SNAPSHOT_FIELDS, {
            "name": name, "value": float(value) if isinstance(value, int) and not isinstance(value, bool) else value,
            "band": result.band, "incomplete": result.incomplete, "missing": list(result.missing),
            "inputs": _view_inputs(per_view, selected, view), "reason": reason}))
    risk = scoring.scores.get(RISK_TRIGGER)
    if risk is not None:  # the learned score: no window inputs of its own; its reason names the top features
        out.append(_construct(ScoreSnapshot, _SNAPSHOT_FIELDS, {
            "name": RISK_TRIGGER, "value": risk.value, "band": risk.band, "incomplete": False, "missing": [],
            "inputs": [], "reason": risk.reason}))
    sofa = scoring.scores.get("sofa")
    if sofa is not None:
        delta = int(sofa.value) - scoring.sofa_baseline  # type: ignore[arg-type]
        out.append(_construct(ScoreSnapshot, _SNAPSHOT_FIELDS, {
            "name": "sofa_delta", "value": float(delta), "band": None, "incomplete": sofa.incomplete, "missing": [],
            "inputs": [], "reason": f"SOFA {sofa.value} - baseline {scoring.sofa_baseline} = {delta:+d}"}))
    return out


def build_alert(patient_key: str, decision: Decision, event_time: datetime, emitted_at: datetime,
                scoring: Scoring | None, selected: object, location: Location | None, encounter_id: str | None,
                rules_version: str, *, correlation_id: str | None = None,
                cannot_rule_out: tuple[str, ...] = ()) -> Alert:
    """The Alert for one transition; ids are deterministic (episode id, transition sequence).

    `correlation_id` is the triggering input's (an Observation's MLLP control id / FHIR id), so logs can
    follow one message from ingest to the page."""
    episode_id = decision.episode_id or ""
    chosen = selected if isinstance(selected, SelectedInputs) else None
    return Alert(
        patient_key=patient_key,
        alert_id=alert_id_for(episode_id, decision.sequence),
        episode_id=episode_id,
        sequence=decision.sequence,
        level=AlertLevel(decision.level),
        previous_level=AlertLevel(decision.previous_level),
        transition=decision.transition,  # type: ignore[arg-type]
        scores=snapshots(scoring, chosen) if scoring is not None else [],
        reasons=list(decision.reasons) or [decision.reason.value],
        infection_suspected=scoring.infection.suspected if scoring is not None else False,
        treatment_started=scoring.infection.treatment_started if scoring is not None else False,
        event_time=event_time,
        emitted_at=emitted_at,
        location=location,
        encounter_id=encounter_id,
        rules_version=rules_version,
        correlation_id=correlation_id,
        cannot_rule_out=list(cannot_rule_out),
    )
