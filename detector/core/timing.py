"""Which values each score reads: the §3.2 timing defaults, applied to a patient's window.

Given a `PatientWindow`, the care log and the event time `now_s` (seconds since 2000-01-01, the patient's
newest event time), `select_inputs` builds three `ScoreInputs` (clinical-scores.md §3.2):

* `observation_set`: NEWS2 / MEWS. The newest vital sign is the anchor; a parameter comes from the values
  within `observation_set_minutes` of it, else it is carried forward from a value at most
  `carry_forward_hours` older (listed in `carried_forward`). The shock index pairs the set's HR and SBP
  only when they are within `shock_index_pair_minutes` of each other.
* `criteria`: SIRS, qSOFA, SEP-1. A criterion counts if ANY valid value in the trailing
  `criteria_window_hours` meets it, so each field holds the value that meets it best (highest HR, lowest
  SBP, ...; for the two-sided temperature and WBC the low side when it meets < 36.0 / < 4.0, else the high).
* `sofa`: the worst value in the trailing `sofa_lab_window_hours` (vitals capped at `vital_stale_hours`),
  the worst PaO2/FiO2 pair (FiO2 nearest before the gas within `pf_fio2_before_hours`, room air 0.21 when
  no oxygen is recorded, unknown when on oxygen without an FiO2), respiratory support at the time of that
  gas, catecholamine doses that have run >= `vasopressor_min_run_minutes` (µg/min divided by the latest
  weight), and the 24 h urine output when the window covers 24 h.

GCS totals come from recorded totals, or E + V + M recorded at the same time (§1.2). `on_oxygen` comes from
the newest of: an on-oxygen flag, an O2 flow (> 0 means oxygen), an FiO2 (> 0.21 means oxygen) (§1.3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from detector.core import window_scans as scans
from detector.core._frozen import fast_builder
from detector.core.config import TimingConfig
from detector.core.infection import CARE_KIND_CODE, DRUG_CODE, RATE_SCALE, RATE_UNIT_CODE, CareLog
from detector.core.rules.kinds import Outside
from detector.core.rules.tables import OXYGEN, SIRS_BONE
from detector.core.scores.inputs import ScoreInputs
from detector.core.window import MEASURE_INDEX, PatientWindow
from schemas.care_event import CareEventKind, Vasopressor
from schemas.measures import CONSCIOUSNESS_LEVELS, Measure

__all__ = ["SelectedInputs", "fast_inputs", "select_inputs", "vasopressor_doses"]

_M = MEASURE_INDEX
HR, RR, TEMP = _M[Measure.HEART_RATE], _M[Measure.RESPIRATORY_RATE], _M[Measure.TEMPERATURE]
SBP, DBP, MAP, SPO2 = _M[Measure.SYSTOLIC_BP], _M[Measure.DIASTOLIC_BP], _M[Measure.MEAN_BP], _M[Measure.SPO2]
ON_O2, O2_FLOW, FIO2, SCALE = _M[Measure.ON_OXYGEN], _M[Measure.O2_FLOW], _M[Measure.FIO2], _M[Measure.SPO2_SCALE]
ACVPU, GCS = _M[Measure.CONSCIOUSNESS], _M[Measure.GCS]
GCS_E, GCS_V, GCS_M = _M[Measure.GCS_EYE], _M[Measure.GCS_VERBAL], _M[Measure.GCS_MOTOR]
SUPPORT, URINE = _M[Measure.RESP_SUPPORT], _M[Measure.URINE_OUTPUT]
WBC, BANDS, LACTATE = _M[Measure.WBC], _M[Measure.BANDS], _M[Measure.LACTATE]
CREAT, BILI, PLT = _M[Measure.CREATININE], _M[Measure.BILIRUBIN], _M[Measure.PLATELETS]
PAO2, PACO2, INR, APTT = _M[Measure.PAO2], _M[Measure.PACO2], _M[Measure.INR], _M[Measure.APTT]

_SET_VITALS = (HR, RR, TEMP, SBP, SPO2, ACVPU)
_MINUTE, _HOUR = 60, 3600
_VENT_ON = CARE_KIND_CODE[CareEventKind.VENTILATION_STARTED]
_VENT_OFF = CARE_KIND_CODE[CareEventKind.VENTILATION_STOPPED]
_PRESSOR_STOP = CARE_KIND_CODE[CareEventKind.VASOPRESSOR_STOPPED]
_UG = RATE_UNIT_CODE["ug/min"]
_SOFA_DRUGS = {DRUG_CODE[d]: d.value for d in (Vasopressor.NOREPINEPHRINE, Vasopressor.EPINEPHRINE,
                                               Vasopressor.DOPAMINE, Vasopressor.DOBUTAMINE,
                                               Vasopressor.VASOPRESSIN)}


# ScoreInputs is a frozen slots dataclass: its constructor sets 29 fields through object.__setattr__ (~4 µs).
# This unfrozen twin has the same slots in the same order; an instance is built and then re-classed, which
# CPython allows between identical slot layouts (the scores module uses the same trick for ScoreResult).
_InputsBuilder = dataclasses.make_dataclass(
    "_InputsBuilder", [(f.name, object, dataclasses.field(default=f.default)) for f in dataclasses.fields(ScoreInputs)],
    slots=True)


def fast_inputs(**values: object) -> ScoreInputs:
    """`ScoreInputs(**values)` about 5x faster (trusted values from the window only)."""
    built: ScoreInputs = _InputsBuilder(**values)  # a make_dataclass class: untyped for mypy
    built.__class__ = ScoreInputs
    return built


@dataclass(frozen=True, slots=True)
class SelectedInputs:
    """The inputs of one scoring at event time `now_s`, with the event time of every value used.

    `*_times` map a ScoreInputs key to the event time (seconds since 2000) of the value it holds; `*_values` are
    what each ScoreInputs was built from (`ScoreInputs(**values)`): equal dicts mean equal inputs, and comparing
    them is cheaper than comparing the 29-field dataclasses (incremental scoring does it at every scoring).
    """

    now_s: int
    observation_set: ScoreInputs
    set_anchor_s: int | None
    carried_forward: tuple[str, ...]
    shock_index_pair: tuple[float, float] | None  # (hr, sbp) of the same set, else None
    criteria: ScoreInputs
    sofa: ScoreInputs
    set_times: dict[str, int]
    criteria_times: dict[str, int]
    sofa_times: dict[str, int]
    set_values: dict[str, object]
    criteria_values: dict[str, object]
    sofa_values: dict[str, object]


_new_selected = fast_builder(SelectedInputs)


def _gcs_totals(window: PatientWindow, start: int, end: int) -> list[tuple[int, float]]:
    """Recorded GCS totals plus E+V+M sums of components recorded at the same time (§1.2)."""
    totals = list(window.between(GCS, start, end))
    if window.has(GCS_E) and window.has(GCS_V) and window.has(GCS_M):
        have = {t for t, _ in totals}
        verbal = dict(window.between(GCS_V, start, end))
        motor = dict(window.between(GCS_M, start, end))
        for t, eye in window.between(GCS_E, start, end):
            if t not in have and t in verbal and t in motor:
                totals.append((t, eye + verbal[t] + motor[t]))
    return totals


def _oxygen_at(window: PatientWindow, t: int, not_before: int) -> tuple[int, bool] | None:
    """Newest oxygen evidence at or before t (flag, O2 flow > 0, FiO2 > 0.21), with its time."""
    best: tuple[int, bool] | None = None
    if window.has(ON_O2):
        found = window.latest(ON_O2, not_before, t)
        if found is not None:
            best = (found[0], found[1] >= 0.5)
    if window.has(O2_FLOW):
        found = window.latest(O2_FLOW, not_before, t)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], found[1] > 0)
    if window.has(FIO2):
        found = window.latest(FIO2, not_before, t)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], found[1] > OXYGEN["room_air_fio2"])
    return best


def _support_at(window: PatientWindow, care: CareLog, t: int, not_before: int) -> bool:
    """Respiratory support (invasive or non-invasive ventilation) in force at time t."""
    best_t, best = -(2**62), False
    found = window.latest(SUPPORT, not_before, t)
    if found is not None:
        best_t, best = found[0], found[1] >= 0.5
    for e in care.events:
        if e[0] > t:
            break
        if (e[1] == _VENT_ON or e[1] == _VENT_OFF) and e[0] >= best_t:
            best_t, best = e[0], e[1] == _VENT_ON
    return best


def vasopressor_doses(care: CareLog, now_s: int, lookback_s: int, min_run_s: int,
                      weight_kg: float | None) -> dict[str, float | None]:
    """Highest dose of each drug sustained for >= `min_run_s` within [now - lookback, now].

    Doses in µg/kg/min (µg/min divided by `weight_kg`; None when the weight is unknown), vasopressin in U/min.
    Only drugs with care events appear; 0.0 means known not running (long enough).
    """
    by_drug: dict[int, list[tuple[int, int, int, int]]] = {}
    for t, kind, _h, drug, rate, unit in care.events:
        if drug < 0 or t > now_s or drug not in _SOFA_DRUGS:
            continue
        by_drug.setdefault(drug, []).append((t, 0 if kind == _PRESSOR_STOP else max(rate, 0), unit, kind))
    doses: dict[str, float | None] = {}
    start_limit = now_s - lookback_s
    for drug, changes in by_drug.items():
        best: int = 0
        best_unit = unit_seen = -1
        # Sustained dose at x = min rate over [x - min_run, x] while running throughout. Piecewise constant,
        # so its maximum is reached at a change time, a change time + min_run, or now.
        candidates = {now_s}
        for t, _, _, _ in changes:
            candidates.add(t)
            candidates.add(t + min_run_s)
        for x in candidates:
            if x < start_limit or x > now_s:
                continue
            lowest: int | None = None
            for i, (t, rate, unit, _) in enumerate(changes):
                end = changes[i + 1][0] if i + 1 < len(changes) else now_s + 1
                if end <= x - min_run_s or t > x:
                    continue
                if t > x - min_run_s and i == 0:
                    lowest = 0  # the infusion started less than min_run before x
                    break
                lowest = rate if lowest is None else min(lowest, rate)
                unit_seen = unit
            if lowest is not None and lowest > best:
                best, best_unit = lowest, unit_seen
        if best == 0:
            doses[_SOFA_DRUGS[drug]] = 0.0
        elif best_unit == _UG:
            doses[_SOFA_DRUGS[drug]] = None if not weight_kg else round(best / RATE_SCALE / weight_kg, 4)
        else:  # µg/kg/min, or U/min for vasopressin
            doses[_SOFA_DRUGS[drug]] = best / RATE_SCALE
    return doses


@dataclass(frozen=True, slots=True)
class _Spans:
    """The TimingConfig durations in whole seconds (computed once per config)."""

    vital: int
    lab: int
    set: int
    carry: int
    pair: int
    criteria: int
    lactate: int
    sofa: int
    vaso_run: int


_SPANS: dict[int, tuple[TimingConfig, _Spans]] = {}


def _spans(config: TimingConfig) -> _Spans:
    cached = _SPANS.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    spans = _Spans(int(config.vital_stale_hours * _HOUR), int(config.lab_stale_hours * _HOUR),
                   int(config.observation_set_minutes * _MINUTE), int(config.carry_forward_hours * _HOUR),
                   int(config.shock_index_pair_minutes * _MINUTE), int(config.criteria_window_hours * _HOUR),
                   int(config.lactate_window_hours * _HOUR), int(config.sofa_lab_window_hours * _HOUR),
                   int(config.vasopressor_min_run_minutes * _MINUTE))
    _SPANS[id(config)] = (config, spans)
    return spans



_SET_KEYS = (("hr", HR), ("rr", RR), ("temp_c", TEMP), ("sbp", SBP), ("spo2", SPO2), ("consciousness", ACVPU),
             ("dbp", DBP), ("map", MAP))  # the first six are the anchor vitals (_SET_VITALS)
_CRITERIA_ONLY = (("hr", HR, True), ("rr", RR, True), ("paco2", PACO2, False), ("bands_pct", BANDS, True),
                  ("sbp", SBP, False), ("inr", INR, True), ("aptt", APTT, True))
_SHARED_LABS = (("creatinine", CREAT, True), ("bilirubin", BILI, True), ("platelets", PLT, False))


def _shock_index_pair(set_times: dict[str, int], set_values: dict[str, object], pair_s: int
                      ) -> tuple[float, float] | None:
    """(HR, SBP) of the set when both were measured within `pair_s` seconds of each other, else None."""
    if "hr" in set_times and "sbp" in set_times and abs(set_times["hr"] - set_times["sbp"]) <= pair_s:
        return set_values["hr"], set_values["sbp"]  # type: ignore[return-value]
    return None


def select_inputs(window: PatientWindow, care: CareLog, now_s: int, config: TimingConfig,
                  weight_kg: float | None = None) -> SelectedInputs:
    """Build the NEWS2/MEWS set, the 6 h criteria inputs and the 24 h SOFA inputs at event time `now_s`
    (seconds since 2000-01-01)."""
    w = window
    series = w.data
    b = w.bounds()  # measure `slot` holds the triples series[b[slot]:b[slot + 1]]
    sp = _spans(config)
    vital_from = now_s - sp.vital
    lab_from = now_s - sp.lab

    # --- observation set (NEWS2 / MEWS / shock index): newest vital = anchor; older values carried forward
    newest: list[tuple[str, int, int, float]] = []
    anchor: int | None = None
    for n, (key, slot) in enumerate(_SET_KEYS):
        found = w.latest(slot, vital_from, now_s)
        if found is None:
            continue
        t = found[0]
        newest.append((key, slot, t, found[1]))
        if n < 6 and (anchor is None or t > anchor):
            anchor = t
    set_times: dict[str, int] = {}
    carried: list[str] = []
    set_values: dict[str, object] = {}
    if anchor is not None:
        set_from = anchor - sp.set
        carry_from = max(anchor - sp.carry, vital_from)
        for key, slot, t, value in newest:
            if t < carry_from:
                continue
            if t < set_from:
                carried.append(key)
            set_times[key] = t
            set_values[key] = CONSCIOUSNESS_LEVELS[int(value)] if slot == ACVPU else value
        oxygen = _oxygen_at(w, anchor, carry_from)
        if oxygen is not None:
            set_times["on_oxygen"] = oxygen[0]
            set_values["on_oxygen"] = oxygen[1]
    scale = w.latest(SCALE, lab_from, now_s)
    if scale is not None and scale[1] == 2:
        set_values["spo2_scale"] = 2
    observation_set = fast_inputs(**set_values)
    si_pair = _shock_index_pair(set_times, set_values, sp.pair)

    # --- criteria (SIRS / qSOFA / SEP-1): the value meeting each criterion best in the trailing window
    c_from = now_s - sp.criteria
    s_from = max(now_s - sp.sofa, lab_from)  # SOFA labs
    s_vital_from = max(s_from, vital_from)  # SOFA vitals (staleness cap)
    c_times: dict[str, int] = {}
    c_values: dict[str, object] = {}
    s_times: dict[str, int] = {}
    s_values: dict[str, object] = {}
    temperature, white_cells = SIRS_BONE["temperature"], SIRS_BONE["wbc"]
    assert isinstance(temperature, Outside) and isinstance(white_cells, Outside)
    for key, slot, rule in (("temp_c", TEMP, temperature), ("wbc", WBC, white_cells)):
        # two-sided: the low side (< 36.0 / < 4.0) meets both SIRS variants, so prefer it when it meets
        chosen = w.extreme(slot, c_from, now_s, False)
        if chosen is not None:
            if not rule.low_met(chosen[1]):  # the low side does not meet: the highest value in the same range
                chosen = w.extreme(slot, c_from, now_s, True) or chosen
            c_times[key], c_values[key] = chosen
    for key, slot, highest in _CRITERIA_ONLY:
        found = w.extreme(slot, c_from, now_s, highest)
        if found is not None:
            c_times[key], c_values[key] = found
    for key, slot, highest in _SHARED_LABS:  # one pass gives the 24 h (SOFA) and 6 h (criteria) extremes
        if b[slot] != b[slot + 1]:
            whole, recent = scans.scan(series, b[slot], b[slot + 1], min(s_from, c_from), max(s_from, c_from),
                                       now_s, highest)
            sofa_found, crit_found = (whole, recent) if s_from <= c_from else (recent, whole)
            if sofa_found is not None:
                s_times[key], s_values[key] = sofa_found
            if crit_found is not None:
                c_times[key], c_values[key] = crit_found
    found = w.extreme(LACTATE, now_s - sp.lactate, now_s, True)  # lactate follows SEP-1 in both (§3.2)
    if found is not None:
        c_times["lactate"], c_values["lactate"] = s_times["lactate"], s_values["lactate"] = found
    worst = w.extreme(ACVPU, c_from, now_s, True)
    if worst is not None:
        c_times["consciousness"], c_values["consciousness"] = worst[0], CONSCIOUSNESS_LEVELS[int(worst[1])]
    map_whole, map_recent = scans.worst_maps(series, b, min(s_vital_from, c_from), max(s_vital_from, c_from), now_s)
    map_sofa, map_crit = (map_whole, map_recent) if s_vital_from <= c_from else (map_recent, map_whole)
    if map_crit is not None:
        c_times["map"], c_values["map"] = map_crit
    if map_sofa is not None:
        s_times["map"], s_values["map"] = map_sofa
    criteria, sofa_inputs = _criteria_and_sofa(w, care, now_s, config, weight_kg, c_from, s_from, s_vital_from,
                                                c_times, c_values, s_times, s_values)
    return _new_selected(now_s, observation_set, anchor, tuple(carried), si_pair, criteria, sofa_inputs,
                         set_times, c_times, s_times, set_values, c_values, s_values)


def _worst_pf(w: PatientWindow, care: CareLog, start: int, now_s: int, config: TimingConfig,
              times: dict[str, int], values: dict[str, object]) -> None:
    """Pick the PaO2 with the worst P/F ratio, its FiO2 and the respiratory support at the time of the gas."""
    before = int(config.pf_fio2_before_hours * _HOUR)
    best_ratio: float | None = None
    unknown_pao2: tuple[int, float] | None = None
    for t, pao2 in w.between(PAO2, start, now_s):
        fio2_found = w.latest(FIO2, t - before, t)
        if fio2_found is not None:
            fio2 = fio2_found[1]
        else:
            oxygen = _oxygen_at(w, t, t - before)
            if oxygen is None:
                # No oxygen status within 4 h (§3.2): room air only if nothing ever showed oxygen (§1.3);
                # an older record of oxygen makes the FiO2 at the gas unknown.
                older = _oxygen_at(w, t, start - before)
                oxygen = (t, True) if older is not None and older[1] else None
            if oxygen is not None and oxygen[1]:
                unknown_pao2 = (t, pao2)  # on oxygen without FiO2: P/F unknown (§1.3)
                continue
            fio2 = OXYGEN["room_air_fio2"]
        ratio = pao2 / fio2
        if best_ratio is None or ratio < best_ratio:
            best_ratio = ratio
            times["pao2"], values["pao2"] = t, pao2
            values["fio2"] = fio2
            if fio2_found is not None:
                times["fio2"] = fio2_found[0]
            values["resp_support"] = _support_at(w, care, t, t - int(config.lab_stale_hours * _HOUR))
    if best_ratio is None and unknown_pao2 is not None:
        times["pao2"], values["pao2"] = unknown_pao2
        values["on_oxygen"] = True  # FiO2 unknown: SOFA respiration scores 0 and is flagged incomplete


def _criteria_and_sofa(w: PatientWindow, care: CareLog, now_s: int, config: TimingConfig, weight_kg: float | None,
                       c_from: int, s_from: int, s_vital_from: int, c_times: dict[str, int],
                       c_values: dict[str, object], s_times: dict[str, int], s_values: dict[str, object]
                       ) -> tuple[ScoreInputs, ScoreInputs]:
    """After the scans: GCS, respiratory support, the criteria inputs, then P/F,
    vasopressors, urine and the SOFA inputs. Adds to the dicts; times are event seconds since 2000."""
    n = w.lengths  # a measure holds values <=> its length is not 0
    if n[GCS] or n[GCS_E]:
        gcs_all = _gcs_totals(w, min(s_vital_from, c_from), now_s)
        for times, values, start in ((c_times, c_values, c_from), (s_times, s_values, s_vital_from)):
            chosen = min((item for item in gcs_all if item[0] >= start), key=lambda item: (item[1], -item[0]),
                         default=None)
            if chosen is not None:
                times["gcs"], values["gcs"] = chosen[0], int(chosen[1])
    if (care.events and _support_at(w, care, now_s, c_from)) or (
            n[SUPPORT] and any(v >= 0.5 for _, v in w.between(SUPPORT, c_from, now_s))):
        c_values["resp_support"] = True
    criteria = fast_inputs(**c_values)

    # --- SOFA: worst in the trailing 24 h (vitals no older than the staleness cap)
    if n[PAO2]:
        _worst_pf(w, care, s_from, now_s, config, s_times, s_values)
    if care.events:
        s_values.update(vasopressor_doses(care, now_s, now_s - s_from, _spans(config).vaso_run, weight_kg))
    if n[URINE] and w.first_s is not None and w.first_s <= s_from:
        s_values["urine_ml_24h"] = sum(v for _, v in w.between(URINE, s_from + 1, now_s))
    return criteria, fast_inputs(**s_values)
