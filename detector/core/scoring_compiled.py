"""Compiled (numba) fast path of one scoring: the numbers the §3.4 ladder and the learned model read, straight from
the window scan, without building ScoreInputs / ScoreResult objects.

The Python code stays the REFERENCE: timing.selected_from_scan builds the inputs, the score functions in
detector/core/scores compute the results, scoring.score_selected places them on the ladder, and
risk.compiled.compiled_tail reads the model's score features from the results. `classic_numbers` computes the
same numbers from the same scan (tests/detector/core/test_scoring_compiled.py compares them with `==` on random
windows, and the engine's alerts are compared with the fast path on and off):

* NEWS2 (total, band, incomplete, points), MEWS, shock index from the observation set; qSOFA and SIRS (Bone)
  from the criteria inputs; SOFA (total and points) from the SOFA inputs; the trailing-6 h lactate; the set's
  SBP and MAP (measured, else (SBP + 2 DBP) / 3 unrounded, as score_selected gives the ladder);
* the model's 27 score and context features written into the feature vector (compiled_tail's order);
* the SOFA baseline read from the patient's hourly SOFA history, then this hour's SOFA recorded into it
  (`sofa_baseline_of` / `record_sofa_into`: PatientState.sofa_baseline / record_sofa on the same bytearray).

Scope: every scoring; with suspected infection the kernel also decides SIRS, SEP-1 severe sepsis and septic
shock and Sepsis-3 septic shock, which then join the ladder. GCS, respiratory support, P/F, vasopressors and
urine come from the Python selection itself (timing.selected_from_scan with the window and care log, only when
the window holds any of them: timing.needs_window_extras) and reach the kernel as numbers (`extras_of`).
Floats: every value is the scan's integer divided by VALUE_SCALE (int / int, as the reference's
`r / VALUE_SCALE`), compared with the same constants in the same way; the rounded values (shock index, derived
MAP, P/F) mirror round2_fast, and where it would defer a near-tie to Decimal the kernel says so (`ok` false)
and the caller takes the reference path. Integer offsets of the scan layout and the score constants are copied
here and checked against their owners at import, and the rounding kernel mirrors round2_fast here as
timing_compiled's does there: numba's cache only notices edits of a kernel's own file, so kernels are not
called across files.
"""

from __future__ import annotations

import math
from importlib import import_module

import numpy as np

from detector.core import timing_compiled as scan
from detector.core.jit import kernel
from detector.core.scores import ScoreInputs, _rounding
from detector.core.window import VALUE_SCALE
from schemas.measures import CONSCIOUSNESS_LEVELS

# the score modules themselves (the package re-exports their score functions under the same names)
news2 = import_module("detector.core.scores.news2")
mews = import_module("detector.core.scores.mews")
qsofa = import_module("detector.core.scores.qsofa")

__all__ = ["BANDS", "NO_EXTRAS", "NO_HOUR", "classic_numbers", "extras_of", "record_sofa_into",
           "score_params", "sofa_baseline_of"]

# ---------------------------------------------------------------- the scan layout (timing_compiled O_*), checked
_O_SET, _O_ANCHOR, _O_OXYGEN, _O_SPO2_SCALE = 0, 24, 27, 30
_O_TWO_SIDED, _O_CRIT_ONLY, _O_SHARED, _O_LACTATE, _O_ACVPU = 33, 45, 66, 84, 87
_O_MAP_CRIT, _O_MAP_SOFA = 90, 94
if (_O_SET, _O_ANCHOR, _O_OXYGEN, _O_SPO2_SCALE, _O_TWO_SIDED, _O_CRIT_ONLY, _O_SHARED, _O_LACTATE, _O_ACVPU,
        _O_MAP_CRIT, _O_MAP_SOFA) != (scan.O_SET, scan.O_ANCHOR, scan.O_OXYGEN, scan.O_SPO2_SCALE, scan.O_TWO_SIDED,
                                      scan.O_CRIT_ONLY, scan.O_SHARED, scan.O_LACTATE, scan.O_ACVPU, scan.O_MAP_CRIT,
                                      scan.O_MAP_SOFA):
    raise ImportError("scoring_compiled mirrors timing_compiled's output layout: update its offsets")
_TIE_MARGIN, _FAST_LIMIT = 1e-6, 1e6
if (_TIE_MARGIN, _FAST_LIMIT) != (_rounding._TIE_MARGIN, _rounding._FAST_LIMIT):
    raise ImportError("scoring_compiled mirrors scores._rounding.round2_fast: update its constants")

BANDS: tuple[str, ...] = ("low", "low-medium", "medium", "high")
"""NEWS2 band by the code `classic_numbers` returns (news2.band_for's names)."""
if tuple(news2.band_for(total, red) for total, red in ((0, False), (0, True), (5, False), (7, False))) != BANDS:
    raise ImportError("scoring_compiled mirrors news2.band_for: update BANDS")

# params (int64): value scale, shock index pair seconds, SOFA window and baseline hours, then per ACVPU code
# (CONSCIOUSNESS_LEVELS order) the NEWS2 points, the MEWS points and whether qSOFA counts it as altered mentation
_P_SCALE, _P_PAIR, _P_WINDOW_HOURS, _P_BASELINE_HOURS, _P_NEWS_ACVPU = 0, 1, 2, 3, 4
_P_MEWS_ACVPU = _P_NEWS_ACVPU + len(CONSCIOUSNESS_LEVELS)
_P_QSOFA_ACVPU = _P_MEWS_ACVPU + len(CONSCIOUSNESS_LEVELS)


def score_params(shock_index_pair_s: int, sofa_window_hours: float, baseline_hours: float) -> np.ndarray:
    """The kernel's parameters (the SOFA baseline's hours as PatientState.sofa_baseline truncates them), the
    consciousness tables taken from the score modules themselves."""
    return np.array([VALUE_SCALE, shock_index_pair_s, int(sofa_window_hours), int(baseline_hours),
                     *(news2.consciousness_points(level) for level in CONSCIOUSNESS_LEVELS),
                     *(mews.avpu_points(level) for level in CONSCIOUSNESS_LEVELS),
                     *(int(qsofa.consciousness_met(level)) for level in CONSCIOUSNESS_LEVELS)], dtype=np.int64)


# extras (float64, NaN = not recorded): criteria GCS, SOFA GCS, PaO2, FiO2, on oxygen (1/0), respiratory support
# (1/0), norepinephrine, epinephrine, dopamine, dobutamine, urine over 24 h, any vasopressor field recorded (1/0),
# respiratory support in the criteria window (1/0), vasopressin
_E_C_GCS, _E_S_GCS, _E_PAO2, _E_FIO2, _E_ON_O2, _E_SUPPORT = range(6)
_E_NE, _E_EPI, _E_DOPA, _E_DOBU, _E_URINE, _E_VASO, _E_C_SUPPORT, _E_VASOPRESSIN = range(6, 14)
NO_EXTRAS = np.array([math.nan] * 5 + [0.0] + [math.nan] * 5 + [0.0, 0.0, math.nan])
"""The extras of a window without GCS, respiratory support, PaO2, urine or care events (shared: never write)."""


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def extras_of(criteria: ScoreInputs, sofa: ScoreInputs) -> np.ndarray:
    """The kernel's extras from the criteria and SOFA inputs the Python selection built."""
    return np.array([_number(criteria.gcs), _number(sofa.gcs), _number(sofa.pao2), _number(sofa.fio2),
                     _number(sofa.on_oxygen), 1.0 if sofa.resp_support else 0.0, _number(sofa.norepinephrine),
                     _number(sofa.epinephrine), _number(sofa.dopamine), _number(sofa.dobutamine),
                     _number(sofa.urine_ml_24h), 1.0 if sofa.has_vasopressor_data else 0.0,
                     1.0 if criteria.resp_support else 0.0, _number(sofa.vasopressin)])


NO_HOUR = -(1 << 62)
"""`last_hour` of a SOFA ring nothing was recorded in yet (PatientState.sofa_hour None)."""


@kernel
def sofa_baseline_of(ring: np.ndarray, last_hour: int, now_s: int, window_hours: int, baseline_hours: int) -> int:
    """PatientState.sofa_baseline on the ring (bytearray, 1 + worst SOFA per hour, 0 = none) whose newest hour is
    `last_hour` (NO_HOUR: none): the lowest hourly SOFA in the `baseline_hours` before the `window_hours` window
    that ends at `now_s`, else 0. `window_hours` / `baseline_hours` are the config's hours as int() gives them."""
    if last_hour == NO_HOUR:
        return 0
    size = len(ring)
    hour = now_s // 3600
    end = min(hour - window_hours, last_hour + 1)
    start = max(hour - window_hours - baseline_hours, last_hour - size + 1)
    lowest = 0
    for h in range(start, end):
        stored = ring[h % size]
        if stored and (lowest == 0 or stored < lowest):
            lowest = stored
    return lowest - 1 if lowest else 0


@kernel
def record_sofa_into(ring: np.ndarray, last_hour: int, now_s: int, total: int) -> int:
    """PatientState.record_sofa on the ring: the hour's worst SOFA total; returns the ring's newest hour."""
    size = len(ring)
    hour = now_s // 3600
    if last_hour == NO_HOUR or hour - last_hour >= size:
        for k in range(size):
            ring[k] = 0
    elif hour > last_hour:
        for h in range(last_hour + 1, hour + 1):
            ring[h % size] = 0
    elif last_hour - hour >= size:
        return last_hour
    if last_hour == NO_HOUR or hour > last_hour:
        last_hour = hour
    slot = hour % size
    if total + 1 > ring[slot]:
        ring[slot] = min(total + 1, 255)
    return last_hour


@kernel
def _round2(value: float) -> float:
    """round2_fast where it does not defer to Decimal; NaN where it would (the caller takes the reference)."""
    if 0.0 <= value < _FAST_LIMIT:
        scaled = value * 100.0
        whole = math.floor(scaled)
        fraction = scaled - whole
        if fraction < 0.5 - _TIE_MARGIN:
            return whole / 100.0
        if fraction > 0.5 + _TIE_MARGIN:
            return (whole + 1) / 100.0
    return np.nan


@kernel
def _value(r: np.ndarray, at: int, scale: int) -> float:
    """The scan's value at `at` as the reference reads it (`r[at] / VALUE_SCALE`); NaN when not present."""
    return r[at] / scale


@kernel
def _news2_rr(rr: float) -> int:
    if rr != rr:
        return 0
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


@kernel
def _news2_spo2(spo2: float, scale2: bool, on_oxygen: bool) -> int:
    if spo2 != spo2:
        return 0
    if scale2:
        if spo2 <= 83:
            return 3
        if spo2 <= 85:
            return 2
        if spo2 <= 87:
            return 1
        if spo2 <= 92 or not on_oxygen:
            return 0
        if spo2 <= 94:
            return 1
        if spo2 <= 96:
            return 2
        return 3
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


@kernel
def _news2_sbp(sbp: float) -> int:
    if sbp != sbp:
        return 0
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


@kernel
def _news2_hr(hr: float) -> int:
    if hr != hr:
        return 0
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3


@kernel
def _news2_temp(temp: float) -> int:
    if temp != temp:
        return 0
    if temp <= 35.0:
        return 3
    if temp <= 36.0:
        return 1
    if temp <= 38.0:
        return 0
    if temp <= 39.0:
        return 1
    return 2


@kernel
def _mews_points(sbp: float, hr: float, rr: float, temp: float) -> int:
    total = 0
    if sbp == sbp:
        total += 3 if sbp <= 70 else 2 if sbp <= 80 else 1 if sbp <= 100 else 0 if sbp < 200 else 2
    if hr == hr:
        total += 2 if hr <= 40 else 1 if hr <= 50 else 0 if hr <= 100 else 1 if hr <= 110 else 2 if hr < 130 else 3
    if rr == rr:
        total += 2 if rr < 9 else 0 if rr < 15 else 1 if rr <= 20 else 2 if rr < 30 else 3
    if temp == temp:
        total += 2 if temp < 35.0 else 0 if temp < 38.5 else 2
    return total


@kernel
def _sofa_platelets(platelets: float) -> int:
    if platelets != platelets:
        return 0
    return 4 if platelets < 20 else 3 if platelets < 50 else 2 if platelets < 100 else 1 if platelets < 150 else 0


@kernel
def _sofa_bilirubin(bilirubin: float) -> int:
    if bilirubin != bilirubin:
        return 0
    return (4 if bilirubin >= 12.0 else 3 if bilirubin >= 6.0 else 2 if bilirubin >= 2.0
            else 1 if bilirubin >= 1.2 else 0)


@kernel
def _sofa_creatinine(creatinine: float) -> int:
    if creatinine != creatinine:
        return 0
    return (4 if creatinine >= 5.0 else 3 if creatinine >= 3.5 else 2 if creatinine >= 2.0
            else 1 if creatinine >= 1.2 else 0)


@kernel
def _scan_map(r: np.ndarray, at: int, scale: int) -> float:
    """The MAP the scan chose (measured, or derived from its SBP/DBP and rounded as derived_map); NaN: none;
    -1.0: a derived near-tie (reference path)."""
    kind = r[at]
    if kind == 0:
        return np.nan
    if kind == 1:
        return r[at + 2] / scale
    derived = _round2((r[at + 2] / scale + 2 * (r[at + 3] / scale)) / 3)
    return -1.0 if derived != derived else derived


@kernel
def classic_numbers(r: np.ndarray, params: np.ndarray, extras: np.ndarray, infected: bool, ring: np.ndarray,
                    last_hour: int, now_s: int, x: np.ndarray, tail_at: int, age: float, male: float,
                    hours: float) -> tuple:
    """(ok, NEWS2 total, NEWS2 band code (BANDS), NEWS2 incomplete, qSOFA, SOFA, shock index, lactate, set SBP,
    set MAP for the ladder, anchor present, anchor t, SOFA baseline, SOFA ring's newest hour, SIRS (Bone), SEP-1
    severe sepsis (1/0), septic shock by either definition (1/0)) of scan `r` at `now_s`, as floats (NaN =
    None); writes the model's score and context features into x[tail_at:tail_at + 27]. The last three are what
    the ladder reads when infection is suspected (`infected`; without it they are 0 as the definitions say).
    The SOFA baseline is read from the patient's hourly ring (PatientState.sofa_ring, newest hour `last_hour`,
    NO_HOUR when empty) before this scoring's SOFA is recorded into it, as the engine's reference order does.
    `ok` 0: a rounding near-tie, use the reference (nothing was written to the ring)."""
    scale = params[_P_SCALE]
    sofa_baseline = sofa_baseline_of(ring, last_hour, now_s, params[_P_WINDOW_HOURS], params[_P_BASELINE_HOURS])
    nan = np.nan
    # --- observation set (timing._SET_KEYS order: hr, rr, temp_c, sbp, spo2, consciousness, dbp, map)
    anchored = r[_O_ANCHOR] != 0
    hr = rr = temp = sbp = spo2 = dbp = set_map = nan
    acvpu = -1
    hr_t = sbp_t = 0
    on_oxygen_known = False
    on_oxygen = False
    if anchored:
        if r[_O_SET]:
            hr, hr_t = _value(r, _O_SET + 2, scale), r[_O_SET + 1]
        if r[_O_SET + 3]:
            rr = _value(r, _O_SET + 5, scale)
        if r[_O_SET + 6]:
            temp = _value(r, _O_SET + 8, scale)
        if r[_O_SET + 9]:
            sbp, sbp_t = _value(r, _O_SET + 11, scale), r[_O_SET + 10]
        if r[_O_SET + 12]:
            spo2 = _value(r, _O_SET + 14, scale)
        if r[_O_SET + 15]:
            acvpu = int(_value(r, _O_SET + 17, scale))
        if r[_O_SET + 18]:
            dbp = _value(r, _O_SET + 20, scale)
        if r[_O_SET + 21]:
            set_map = _value(r, _O_SET + 23, scale)
        if r[_O_OXYGEN]:
            on_oxygen_known = True
            on_oxygen = r[_O_OXYGEN + 2] == 1
    scale2 = r[_O_SPO2_SCALE] != 0 and _value(r, _O_SPO2_SCALE + 2, scale) == 2
    # NEWS2 (news2.news2; the set has no FiO2, so on_oxygen is the recorded status or unknown)
    p_rr = _news2_rr(rr)
    p_spo2 = _news2_spo2(spo2, scale2, on_oxygen)
    p_o2 = 2 if on_oxygen else 0
    p_sbp = _news2_sbp(sbp)
    p_hr = _news2_hr(hr)
    p_acvpu = params[_P_NEWS_ACVPU + acvpu] if acvpu >= 0 else 0
    p_temp = _news2_temp(temp)
    news = p_rr + p_spo2 + p_o2 + p_sbp + p_hr + p_acvpu + p_temp
    if news >= 7:
        band = 3
    elif news >= 5:
        band = 2
    elif p_rr == 3 or p_spo2 == 3 or p_sbp == 3 or p_hr == 3 or p_acvpu == 3 or p_temp == 3:
        band = 1
    else:
        band = 0
    incomplete = (rr != rr or spo2 != spo2 or not on_oxygen_known or sbp != sbp or hr != hr or acvpu < 0
                  or temp != temp)
    mews_total = _mews_points(sbp, hr, rr, temp) + (params[_P_MEWS_ACVPU + acvpu] if acvpu >= 0 else 0)
    # shock index of the set's HR and SBP when measured within the pair window (shock_index.shock_index_value)
    shock = nan
    if hr == hr and sbp == sbp and abs(hr_t - sbp_t) <= params[_P_PAIR] and sbp > 0:
        shock = _round2(hr / sbp)
        if shock != shock:
            return (0.0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    ladder_map = set_map
    if ladder_map != ladder_map and sbp == sbp and dbp == dbp:
        ladder_map = (sbp + 2 * dbp) / 3
    # --- criteria inputs (timing: two-sided temperature / WBC, criteria-only extremes, shared labs, ACVPU)
    c_temp = c_wbc = nan
    if r[_O_TWO_SIDED]:
        low = _value(r, _O_TWO_SIDED + 2, scale)
        c_temp = low if low < 36.0 else _value(r, _O_TWO_SIDED + 5, scale)
    if r[_O_TWO_SIDED + 6]:
        low = _value(r, _O_TWO_SIDED + 8, scale)
        c_wbc = low if low < 4.0 else _value(r, _O_TWO_SIDED + 11, scale)
    # criteria-only order: hr, rr, paco2, bands_pct, sbp, inr, aptt
    c_hr = _value(r, _O_CRIT_ONLY + 2, scale) if r[_O_CRIT_ONLY] else nan
    c_rr = _value(r, _O_CRIT_ONLY + 5, scale) if r[_O_CRIT_ONLY + 3] else nan
    c_paco2 = _value(r, _O_CRIT_ONLY + 8, scale) if r[_O_CRIT_ONLY + 6] else nan
    c_bands = _value(r, _O_CRIT_ONLY + 11, scale) if r[_O_CRIT_ONLY + 9] else nan
    c_sbp = _value(r, _O_CRIT_ONLY + 14, scale) if r[_O_CRIT_ONLY + 12] else nan
    c_acvpu = int(_value(r, _O_ACVPU + 2, scale)) if r[_O_ACVPU] else -1
    lactate = _value(r, _O_LACTATE + 2, scale) if r[_O_LACTATE] else nan
    # qSOFA
    q_rr = 1 if c_rr == c_rr and c_rr >= 22 else 0
    q_sbp = 1 if c_sbp == c_sbp and c_sbp <= 100 else 0
    c_gcs = extras[_E_C_GCS]
    q_ment = 1 if c_gcs == c_gcs and c_gcs < 15 else params[_P_QSOFA_ACVPU + c_acvpu] if c_acvpu >= 0 else 0
    q_total = q_rr + q_sbp + q_ment
    # SIRS (Bone)
    s_temp = 1 if c_temp == c_temp and (c_temp > 38.0 or c_temp < 36.0) else 0
    s_hr = 1 if c_hr == c_hr and c_hr > 90 else 0
    s_resp = 1 if (c_rr == c_rr and c_rr > 20) or (c_paco2 == c_paco2 and c_paco2 < 32) else 0
    s_wcc = 1 if (c_wbc == c_wbc and (c_wbc > 12.0 or c_wbc < 4.0)) or (c_bands == c_bands and c_bands > 10) else 0
    # --- SOFA inputs: shared labs' 24 h extremes (order creatinine, bilirubin, platelets), the SOFA MAP, and the
    # extras (sofa.sofa: FiO2 0.21 when not recorded and not on oxygen; P/F rounded; vasopressors override MAP)
    creatinine = _value(r, _O_SHARED + 2, scale) if r[_O_SHARED] else nan
    bilirubin = _value(r, _O_SHARED + 8, scale) if r[_O_SHARED + 6] else nan
    platelets = _value(r, _O_SHARED + 14, scale) if r[_O_SHARED + 12] else nan
    sofa_map = _scan_map(r, _O_MAP_SOFA, scale)
    if sofa_map == -1.0 or _scan_map(r, _O_MAP_CRIT, scale) == -1.0:
        return (0.0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    fio2 = extras[_E_FIO2]
    if fio2 != fio2 and extras[_E_ON_O2] != 1.0:
        fio2 = 0.21
    pao2 = extras[_E_PAO2]
    respiration = 0
    if pao2 == pao2 and fio2 == fio2 and fio2 != 0:
        pf = _round2(pao2 / fio2)
        if pf != pf:
            return (0.0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        support = extras[_E_SUPPORT] == 1.0
        respiration = (4 if support and pf < 100 else 3 if support and pf < 200 else 2 if pf < 300
                       else 1 if pf < 400 else 0)
    vaso = 0
    if extras[_E_VASO] == 1.0:
        ne = extras[_E_NE] if extras[_E_NE] == extras[_E_NE] else 0.0
        epi = extras[_E_EPI] if extras[_E_EPI] == extras[_E_EPI] else 0.0
        dopa = extras[_E_DOPA] if extras[_E_DOPA] == extras[_E_DOPA] else 0.0
        dobu = extras[_E_DOBU] if extras[_E_DOBU] == extras[_E_DOBU] else 0.0
        if dopa > 15 or epi > 0.1 or ne > 0.1:
            vaso = 4
        elif dopa > 5 or epi > 0 or ne > 0:
            vaso = 3
        elif dopa > 0 or dobu > 0:
            vaso = 2
    coagulation = _sofa_platelets(platelets)
    liver = _sofa_bilirubin(bilirubin)
    cardiovascular = 1 if vaso == 0 and sofa_map == sofa_map and sofa_map < 70 else vaso
    s_gcs = extras[_E_S_GCS]
    cns = 0
    if s_gcs == s_gcs:
        cns = 0 if s_gcs >= 15 else 1 if s_gcs >= 13 else 2 if s_gcs >= 10 else 3 if s_gcs >= 6 else 4
    renal = _sofa_creatinine(creatinine)
    urine = extras[_E_URINE]
    if urine == urine:
        urine_points = 4 if urine < 200 else 3 if urine < 500 else 0
        if urine_points > renal:
            renal = urine_points
    sofa_total = respiration + coagulation + liver + cardiovascular + cns + renal
    # --- the model's score and context features (risk.compiled.compiled_tail's order)
    k = tail_at
    x[k] = news
    x[k + 1] = mews_total
    x[k + 2] = s_temp + s_hr + s_resp + s_wcc
    x[k + 3] = q_total
    x[k + 4] = sofa_total
    x[k + 5] = shock
    x[k + 6] = sofa_total - sofa_baseline
    x[k + 7] = p_rr
    x[k + 8] = p_spo2
    x[k + 9] = p_o2
    x[k + 10] = p_sbp
    x[k + 11] = p_hr
    x[k + 12] = p_acvpu
    x[k + 13] = p_temp
    x[k + 14] = respiration
    x[k + 15] = coagulation
    x[k + 16] = liver
    x[k + 17] = cardiovascular
    x[k + 18] = cns
    x[k + 19] = renal
    x[k + 20] = s_temp
    x[k + 21] = s_hr
    x[k + 22] = s_resp
    x[k + 23] = s_wcc
    x[k + 24] = age
    x[k + 25] = male
    x[k + 26] = hours
    anchor_t = float(r[_O_ANCHOR + 1]) if anchored else nan
    # --- with suspected infection: SEP-1 severe sepsis and septic shock (criteria inputs), Sepsis-3 septic shock
    # (sepsis_defs: SEP-1 SIRS >= 2 and an organ-dysfunction sign; lactate >= 4; SOFA rise >= 2, a vasopressor
    # running and lactate > 2, undecided when either is unknown)
    severe = septic_shock = 0
    if infected:
        sep1_temp = 1 if c_temp == c_temp and (c_temp > 38.3 or c_temp < 36.0) else 0
        sep1_sirs = sep1_temp + s_hr + (1 if c_rr == c_rr and c_rr > 20 else 0) + s_wcc
        c_map = _scan_map(r, _O_MAP_CRIT, scale)
        c_creatinine = _value(r, _O_SHARED + 5, scale) if r[_O_SHARED + 3] else nan
        c_bilirubin = _value(r, _O_SHARED + 11, scale) if r[_O_SHARED + 9] else nan
        c_platelets = _value(r, _O_SHARED + 17, scale) if r[_O_SHARED + 15] else nan
        c_inr = _value(r, _O_CRIT_ONLY + 17, scale) if r[_O_CRIT_ONLY + 15] else nan
        c_aptt = _value(r, _O_CRIT_ONLY + 20, scale) if r[_O_CRIT_ONLY + 18] else nan
        sign = ((c_sbp == c_sbp and c_sbp < 90) or (c_map == c_map and c_map < 65) or extras[_E_C_SUPPORT] == 1.0
                or (c_creatinine == c_creatinine and c_creatinine > 2.0)
                or (c_bilirubin == c_bilirubin and c_bilirubin > 2.0)
                or (c_platelets == c_platelets and c_platelets < 100) or (c_inr == c_inr and c_inr > 1.5)
                or (c_aptt == c_aptt and c_aptt > 60) or (lactate == lactate and lactate > 2.0))
        if sep1_sirs >= 2 and sign:
            severe = 1
            if lactate == lactate and lactate >= 4.0:
                septic_shock = 1
        if not septic_shock and sofa_total - sofa_baseline >= 2 and lactate == lactate and lactate > 2.0:
            ne, epi = extras[_E_NE], extras[_E_EPI]
            dopa, vasopressin = extras[_E_DOPA], extras[_E_VASOPRESSIN]
            if ((ne == ne and ne > 0) or (epi == epi and epi > 0) or (dopa == dopa and dopa > 0)
                    or (vasopressin == vasopressin and vasopressin > 0)):
                septic_shock = 1
    newest_hour = record_sofa_into(ring, last_hour, now_s, sofa_total)
    return (1.0, float(news), float(band), 1.0 if incomplete else 0.0, float(q_total), float(sofa_total), shock,
            lactate, sbp, ladder_map, 1.0 if anchored else 0.0, anchor_t, float(sofa_baseline), float(newest_hour),
            float(s_temp + s_hr + s_resp + s_wcc), float(severe), float(septic_shock))
