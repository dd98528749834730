"""Features of the learned risk score, read from the detector's OWN patient window (pure: no I/O, no clock).

Training (learning/dataset.py) replays each stay through `DetectorEngine` and calls `extract_features` at every
scoring; the streaming detector calls the same function. There is no second implementation, so what is trained
is exactly what runs.

Time basis: `now_s` is the scoring time, event seconds since 2000-01-01 (window.event_seconds), normally the
patient's newest event time. Trend windows end at `now_s` and reach back 6, 12 and 24 h (the detector window
holds 24 h by default; a longer history is never seen, in training or in production).

Feature choices (issue #8: "think about what carries over between hospitals"):

* Physiology first: the latest value of each vital sign and lab, and trends over 6/12/24 h (least-squares slope
  per hour, change from the oldest value in the span, min and max). Absolute levels and their direction are
  what a clinician reads, and they transfer between sites better than charting habits.
* The classic scores exactly as the engine computed them (NEWS2, MEWS, SIRS, qSOFA, SOFA and its rise from the
  Sepsis-3 baseline, shock index) with their per-parameter points, so the model starts from known physiology.
* Missingness is kept deliberately thin: hours since each measure was last seen (needed to know a value is
  old) and vital-sign counts over 6 h, but no per-lab counts and no "was ordered" flags. How often a lab is
  drawn is mostly a local ordering habit (the PhysioNet winners leaned on it and lost most of their edge on
  the hidden hospital: Reyna et al. 2020).
* Demographics (age, sex) and hours since ICU admission. These come from the admission event, which
  `PatientState` does not hold yet; they arrive in a `RiskContext` (see detector/core/risk/__init__.py).

Missing values are NaN (the gradient-boosting model routes them down a learned branch).
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass

from detector.core.scores import ScoreResult
from detector.core.window import MEASURE_INDEX, VALUE_SCALE, PatientWindow
from schemas.measures import Measure

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SET_HASH",
    "FEATURE_SET_VERSION",
    "LAB_MEASURES",
    "NEWS2_PARAMETERS",
    "SOFA_SYSTEMS",
    "TREND_HOURS",
    "VITAL_MEASURES",
    "RiskContext",
    "extract_features",
    "feature_index",
]

FEATURE_SET_VERSION = "1"
"""Bumped whenever the meaning of a feature changes while its name stays (the hash covers names only)."""

_HOUR = 3600
NAN = math.nan

VITAL_MEASURES: tuple[tuple[Measure, str], ...] = (
    (Measure.HEART_RATE, "hr"),
    (Measure.RESPIRATORY_RATE, "rr"),
    (Measure.TEMPERATURE, "temp"),
    (Measure.SYSTOLIC_BP, "sbp"),
    (Measure.DIASTOLIC_BP, "dbp"),
    (Measure.MEAN_BP, "map"),
    (Measure.SPO2, "spo2"),
)
"""Vital signs with full trend features (measure, short feature prefix)."""

TREND_HOURS: tuple[int, ...] = (6, 12, 24)
"""Trend spans, hours before `now_s`; nested, shortest first."""

LAB_MEASURES: tuple[tuple[Measure, str], ...] = (
    (Measure.FIO2, "fio2"),
    (Measure.WBC, "wbc"),
    (Measure.LACTATE, "lactate"),
    (Measure.CREATININE, "creatinine"),
    (Measure.BILIRUBIN, "bilirubin"),
    (Measure.PLATELETS, "platelets"),
    (Measure.BUN, "bun"),
    (Measure.BICARBONATE, "hco3"),
    (Measure.PH, "ph"),
    (Measure.PACO2, "paco2"),
    (Measure.BASE_EXCESS, "base_excess"),
    (Measure.GLUCOSE, "glucose"),
    (Measure.HEMOGLOBIN, "hgb"),
    (Measure.HEMATOCRIT, "hct"),
    (Measure.POTASSIUM, "potassium"),
    (Measure.CHLORIDE, "chloride"),
    (Measure.CALCIUM, "calcium"),
    (Measure.MAGNESIUM, "magnesium"),
    (Measure.PHOSPHATE, "phosphate"),
    (Measure.AST, "ast"),
    (Measure.ALKALINE_PHOSPHATASE, "alk_phos"),
    (Measure.APTT, "aptt"),
    (Measure.INR, "inr"),
)
"""Labs and settings with latest value, hours since, change from the previous value, 24 h min and max.

Left out: troponin, fibrinogen and direct bilirubin (rarely drawn, and drawn for reasons other than sepsis),
EtCO2 (present only for ventilated patients at some sites), PaO2 (the PhysioNet data have none, so the model
could never learn it)."""

NEWS2_PARAMETERS = ("rr", "spo2", "on_oxygen", "sbp", "hr", "consciousness", "temp_c")
SOFA_SYSTEMS = ("respiration", "coagulation", "liver", "cardiovascular", "cns", "renal")
SIRS_CRITERIA = ("temperature", "heart_rate", "respiration", "white_cells")
SCORE_VALUES = ("news2", "mews", "sirs", "qsofa", "sofa", "shock_index")


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for _, p in VITAL_MEASURES:
        names += [f"{p}_last", f"{p}_hours_since", f"{p}_count_6h"]
        for h in TREND_HOURS:
            names += [f"{p}_slope_{h}h", f"{p}_delta_{h}h", f"{p}_min_{h}h", f"{p}_max_{h}h"]
    for _, p in LAB_MEASURES:
        names += [f"{p}_last", f"{p}_hours_since", f"{p}_delta_prev", f"{p}_min_24h", f"{p}_max_24h"]
    names += ["pulse_pressure", "shock_index_last", "bun_creatinine_ratio"]
    names += [f"score_{s}" for s in SCORE_VALUES]
    names += ["score_sofa_rise"]
    names += [f"news2_pts_{k}" for k in NEWS2_PARAMETERS]
    names += [f"sofa_pts_{k}" for k in SOFA_SYSTEMS]
    names += [f"sirs_pts_{k}" for k in SIRS_CRITERIA]
    names += ["age_years", "sex_male", "hours_since_admission"]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()
"""Every feature, in vector order. A model artifact must carry exactly this list (model.py checks it)."""

FEATURE_SET_HASH: str = hashlib.sha256(
    ("v" + FEATURE_SET_VERSION + "\n" + "\n".join(FEATURE_NAMES)).encode()).hexdigest()[:16]
"""Short content hash of the version and the feature list: stored in the artifact, compared on load."""

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def feature_index(name: str) -> int:
    """Position of a feature in the vector (KeyError naming the feature if unknown)."""
    return _INDEX[name]


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the admission event says about the stay (not held by the window).

    `admitted_s`: ICU admission, event seconds since 2000-01-01; None falls back to the first value the window
    ever accepted (window.first_s), which is the best the detector knows without an admission event.
    """

    age_years: float | None = None
    male: bool | None = None
    admitted_s: int | None = None


_VITAL_SLOTS = tuple(MEASURE_INDEX[m] for m, _ in VITAL_MEASURES)
_LAB_SLOTS = tuple(MEASURE_INDEX[m] for m, _ in LAB_MEASURES)
_SPAN_6_S, _SPAN_12_S, _SPAN_24_S = (h * _HOUR for h in TREND_HOURS)
assert TREND_HOURS == (6, 12, 24), "_vital_features closes exactly these three nested spans"
_SCALE = float(VALUE_SCALE)
_I_HR, _I_SBP, _I_DBP = _INDEX["hr_last"], _INDEX["sbp_last"], _INDEX["dbp_last"]
_I_BUN, _I_CREAT = _INDEX["bun_last"], _INDEX["creatinine_last"]
_EMPTY_VITAL = [NAN] * (3 + 4 * len(TREND_HOURS))
_EMPTY_VITAL[2] = 0.0  # count over 6 h of a measure never seen
_EMPTY_LAB = [NAN] * 5


def _span_stats(n: int, s_t: int, s_v: int, s_tt: int, s_tv: int, delta: int, v_min: int, v_max: int
                ) -> tuple[float, float, float, float]:
    """(slope per hour, delta, min, max) of the n values of one span (NaN when none; slope needs two times).

    Sums are exact integers of (seconds before now) and (value x VALUE_SCALE): no rounding drift, and integer
    adds are cheaper per value than float ones."""
    if n == 0:
        return _NO_SPAN
    denom = n * s_tt - s_t * s_t
    slope = (n * s_tv - s_t * s_v) * _HOUR / (denom * _SCALE) if n >= 2 and denom > 0 else NAN
    return slope, delta / _SCALE, v_min / _SCALE, v_max / _SCALE


_NO_SPAN = (NAN, NAN, NAN, NAN)


def _vital_features(series: array[int], lo: int, hi: int, now_s: int) -> list[float]:
    """last, hours since, count 6 h, then per span: slope (/h), delta, min, max. One backward pass.

    The slope is the least-squares slope of value against time (per hour) over the values in the span; with a
    single value (or all at one time) it is NaN. Delta is the latest value minus the oldest value in the span.
    `series[lo:hi]` are the measure's interleaved (t, value x VALUE_SCALE, hash) triples, oldest first.

    Speed (this runs 7 times per scoring): the loop body does only the sums and the min/max; the count and the
    oldest value of a span are read from the scan position when the span closes.
    """
    base = hi - 3
    while base >= lo and series[base] > now_s:
        base -= 3
    stop = now_s - _SPAN_24_S
    if base < lo or series[base] < stop:
        return _EMPTY_VITAL
    t_last = series[base]
    v_last = series[base + 1]
    s_t = s_v = s_tt = s_tv = 0
    v_min = v_max = v_last
    out = [v_last / _SCALE, (now_s - t_last) / _HOUR, 0.0]
    limit = now_s - _SPAN_6_S  # the 6 h span closes at the first value older than this
    closed = 0  # spans closed so far (6 h, then 12 h; the 24 h span closes after the scan)
    i = base
    while i >= lo:
        t = series[i]
        if t < limit:
            if t < stop:
                break
            while t < limit:  # spans are nested, shortest first: close every span this value is older than
                n = (base - i) // 3  # values scanned so far: base down to i + 3
                out += _span_stats(n, s_t, s_v, s_tt, s_tv, v_last - series[i + 4], v_min, v_max) if n else _NO_SPAN
                if closed == 0:
                    out[2] = float(n)
                closed += 1
                limit = now_s - _SPAN_12_S if closed == 1 else stop
        v = series[i + 1]
        x = t - now_s  # seconds before now (<= 0): keeps the exact integer sums small
        s_t += x
        s_v += v
        s_tt += x * x
        s_tv += x * v
        if v < v_min:
            v_min = v
        elif v > v_max:
            v_max = v
        i -= 3
    n = (base - i) // 3  # >= 1: the latest value is always in the 24 h span
    last_span = _span_stats(n, s_t, s_v, s_tt, s_tv, v_last - series[i + 4], v_min, v_max)
    while closed < 3:
        out += last_span
        if closed == 0:
            out[2] = float(n)
        closed += 1
    return out


def _lab_features(series: array[int], lo: int, hi: int, now_s: int) -> list[float]:
    """last, hours since, last minus the previous value, min and max over 24 h."""
    base = hi - 3
    while base >= lo and series[base] > now_s:
        base -= 3
    start = now_s - _SPAN_24_S
    if base < lo or series[base] < start:
        return _EMPTY_LAB
    last = series[base + 1]
    i = base - 3
    if i < lo or series[i] < start:  # one value in 24 h (the common case for a lab)
        v = last / _SCALE
        return [v, (now_s - series[base]) / _HOUR, NAN, v, v]
    prev = v_min = v_max = series[i + 1]
    if last < v_min:
        v_min = last
    elif last > v_max:
        v_max = last
    i -= 3
    while i >= lo and series[i] >= start:
        v = series[i + 1]
        if v < v_min:
            v_min = v
        elif v > v_max:
            v_max = v
        i -= 3
    return [last / _SCALE, (now_s - series[base]) / _HOUR, (last - prev) / _SCALE, v_min / _SCALE, v_max / _SCALE]


def _value(result: ScoreResult | None) -> float:
    if result is None or result.value is None:
        return NAN
    return float(result.value)


def _points(result: ScoreResult | None, keys: tuple[str, ...]) -> list[float]:
    if result is None:
        return [NAN] * len(keys)
    pts = result.points
    return [float(pts[k]) if k in pts else NAN for k in keys]


def extract_features(window: PatientWindow, scores: Mapping[str, ScoreResult], sofa_baseline: int | None,
                     context: RiskContext, now_s: int) -> list[float]:
    """The feature vector (order of FEATURE_NAMES; NaN = unknown) at event time `now_s`.

    `scores`: the engine's latest scoring of this patient (DetectorEngine.current_scores); `sofa_baseline`:
    the Sepsis-3 baseline the engine used (PatientState.sofa_baseline), None if unknown. Values newer than
    `now_s` are ignored, so a feature never sees the future.
    """
    series = window.data
    b = window.bounds()  # measure `slot` holds the triples series[b[slot]:b[slot + 1]]
    out: list[float] = []
    for slot in _VITAL_SLOTS:
        lo, hi = b[slot], b[slot + 1]
        out += _EMPTY_VITAL if lo == hi else _vital_features(series, lo, hi, now_s)
    for slot in _LAB_SLOTS:
        lo, hi = b[slot], b[slot + 1]
        out += _EMPTY_LAB if lo == hi else _lab_features(series, lo, hi, now_s)
    # derived vitals from the latest values (vector positions are fixed by _names)
    sbp, dbp, hr = out[_I_SBP], out[_I_DBP], out[_I_HR]
    out.append(sbp - dbp if sbp == sbp and dbp == dbp else NAN)
    out.append(hr / sbp if hr == hr and sbp == sbp and sbp > 0 else NAN)
    bun, creat = out[_I_BUN], out[_I_CREAT]
    out.append(bun / creat if bun == bun and creat == creat and creat > 0 else NAN)
    for name in SCORE_VALUES:
        out.append(_value(scores.get(name)))
    sofa_now = out[-2]
    out.append(sofa_now - sofa_baseline if sofa_baseline is not None and sofa_now == sofa_now else NAN)
    out += _points(scores.get("news2"), NEWS2_PARAMETERS)
    out += _points(scores.get("sofa"), SOFA_SYSTEMS)
    out += _points(scores.get("sirs"), SIRS_CRITERIA)
    out.append(NAN if context.age_years is None else float(context.age_years))
    out.append(NAN if context.male is None else (1.0 if context.male else 0.0))
    admitted = context.admitted_s if context.admitted_s is not None else window.first_s
    out.append(NAN if admitted is None else max(now_s - admitted, 0) / _HOUR)
    return out
