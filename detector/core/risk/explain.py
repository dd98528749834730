"""Human explanation of one risk prediction: the top contributing signals, in a clinician's words (pure).

Per-feature contributions (model.RiskModel.contributions) are summed per clinical signal (every feature of
respiratory rate - latest value, trend, min, max - is one signal), the signals that raised the risk most are
kept, and each is described from the feature vector itself, e.g.

    "respiratory rate 28/min, rising from 18 over 6 h; lactate 3.1 mmol/L; NEWS2 7"

so the text shows the values the model actually saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

from detector.core.risk.features import (
    FEATURE_NAMES,
    LAB_MEASURES,
    TREND_HOURS,
    VITAL_MEASURES,
    feature_index,
)

__all__ = ["SIGNALS", "SIGNAL_INDEX", "SignalContribution", "describe_signal", "explain", "signal_of", "top_signals",
           "top_signals_from_sums"]

_DISPLAY: dict[str, tuple[str, str]] = {
    "hr": ("heart rate", "/min"), "rr": ("respiratory rate", "/min"), "temp": ("temperature", " °C"),
    "sbp": ("systolic BP", " mmHg"), "dbp": ("diastolic BP", " mmHg"), "map": ("MAP", " mmHg"),
    "spo2": ("SpO2", "%"), "fio2": ("FiO2", ""), "wbc": ("WBC", " ×10⁹/L"), "lactate": ("lactate", " mmol/L"),
    "creatinine": ("creatinine", " mg/dL"), "bilirubin": ("bilirubin", " mg/dL"),
    "platelets": ("platelets", " ×10⁹/L"), "bun": ("BUN", " mg/dL"), "hco3": ("bicarbonate", " mmol/L"),
    "ph": ("pH", ""), "paco2": ("PaCO2", " mmHg"), "base_excess": ("base excess", " mmol/L"),
    "glucose": ("glucose", " mg/dL"), "hgb": ("haemoglobin", " g/dL"), "hct": ("haematocrit", "%"),
    "potassium": ("potassium", " mmol/L"), "chloride": ("chloride", " mmol/L"), "calcium": ("calcium", " mg/dL"),
    "magnesium": ("magnesium", " mg/dL"), "phosphate": ("phosphate", " mg/dL"), "ast": ("AST", " U/L"),
    "alk_phos": ("alkaline phosphatase", " U/L"), "aptt": ("aPTT", " s"), "inr": ("INR", ""),
}
_VITALS = {p for _, p in VITAL_MEASURES}
_LABS = {p for _, p in LAB_MEASURES}
assert set(_DISPLAY) == _VITALS | _LABS, "every measure prefix needs a display name"
_PREFIXES = sorted(_DISPLAY, key=len, reverse=True)  # longest first: "base_excess" before any shorter prefix


def signal_of(feature: str) -> str:
    """The clinical signal a feature belongs to (a measure prefix, or news2/sofa/sirs/qsofa/mews/...)."""
    for prefix in ("news2_pts_", "sofa_pts_", "sirs_pts_"):
        if feature.startswith(prefix):
            return prefix.split("_")[0]
    if feature.startswith("score_"):
        name = feature.removeprefix("score_")
        return "sofa" if name == "sofa_rise" else name
    if feature == "pulse_pressure":
        return "sbp"
    if feature == "shock_index_last":
        return "shock_index"
    if feature == "bun_creatinine_ratio":
        return "bun"
    if feature in ("age_years", "sex_male", "hours_since_admission"):
        return feature
    for prefix in _PREFIXES:
        if feature.startswith(prefix + "_"):
            return prefix
    return feature


_SIGNAL_OF = tuple(signal_of(name) for name in FEATURE_NAMES)
SIGNALS: tuple[str, ...] = tuple(dict.fromkeys(_SIGNAL_OF))
"""The clinical signals, in the order of their first feature."""
SIGNAL_INDEX: tuple[int, ...] = tuple(SIGNALS.index(signal) for signal in _SIGNAL_OF)
"""Per feature (FEATURE_NAMES order), the position of its signal in SIGNALS."""


@dataclass(frozen=True, slots=True)
class SignalContribution:
    """A clinical signal's summed contribution (log-odds) and its description."""

    signal: str
    contribution: float
    text: str


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}"


def _get(x: Sequence[float], name: str) -> float:
    return x[feature_index(name)]


def describe_signal(signal: str, x: Sequence[float]) -> str:
    """Short text for one signal from the feature vector, e.g. "respiratory rate 28/min, rising from 18 over 6 h"."""
    if signal in _VITALS:
        label, unit = _DISPLAY[signal]
        last = _get(x, f"{signal}_last")
        if math.isnan(last):
            return f"{label} not measured in 24 h"
        text = f"{label} {_num(last)}{unit}"
        for hours in TREND_HOURS:
            delta = _get(x, f"{signal}_delta_{hours}h")
            if not math.isnan(delta) and abs(delta) >= max(abs(last) * 0.05, 1e-9):
                word = "rising" if delta > 0 else "falling"
                return f"{label} {word} {_num(last - delta)}→{_num(last)}{unit} over {hours} h"
        return text
    if signal in _LABS:
        label, unit = _DISPLAY[signal]
        last = _get(x, f"{signal}_last")
        if math.isnan(last):
            return f"{label} not measured in 24 h"
        prev = _get(x, f"{signal}_delta_prev")
        text = f"{label} {_num(last)}{unit}"
        if not math.isnan(prev) and prev != 0:
            text += f" (previous {_num(last - prev)})"
        return text
    if signal == "sofa":
        value, rise = _get(x, "score_sofa"), _get(x, "score_sofa_rise")
        if math.isnan(value):
            return "SOFA unknown"
        return f"SOFA {value:.0f}" + (f" (+{rise:.0f} from baseline)" if not math.isnan(rise) and rise > 0 else "")
    if signal in ("news2", "mews", "sirs", "qsofa"):
        value = _get(x, f"score_{signal}")
        return f"{signal.upper().replace('Q', 'q', 1)} {value:.0f}" if not math.isnan(value) else f"{signal} unknown"
    if signal == "shock_index":
        value = _get(x, "score_shock_index")
        if math.isnan(value):
            value = _get(x, "shock_index_last")
        return f"shock index {value:.2f}" if not math.isnan(value) else "shock index unknown"
    if signal == "age_years":
        value = _get(x, "age_years")
        return f"age {value:.0f}" if not math.isnan(value) else "age unknown"
    if signal == "sex_male":
        value = _get(x, "sex_male")
        return "male" if value == 1 else "female" if value == 0 else "sex unknown"
    if signal == "hours_since_admission":
        value = _get(x, "hours_since_admission")
        return f"{value:.0f} h since ICU admission" if not math.isnan(value) else "admission time unknown"
    return signal


def top_signals(x: Sequence[float], contributions: Sequence[float], limit: int = 3) -> list[SignalContribution]:
    """The `limit` signals whose features raised the risk most (summed contributions > 0), largest first."""
    if len(contributions) != len(_SIGNAL_OF):
        raise ValueError(f"contributions: {len(_SIGNAL_OF)} values expected (one per feature), "
                         f"got {len(contributions)}")
    by_signal: dict[str, float] = {}
    signal_of = _SIGNAL_OF
    # Feature order, non-zero only (most features are off every tree path): same sums, a fraction of the work.
    for i in compress(range(len(contributions)), contributions):
        signal = signal_of[i]
        by_signal[signal] = by_signal.get(signal, 0.0) + contributions[i]
    ranked = sorted((item for item in by_signal.items() if item[1] > 0), key=lambda item: item[1], reverse=True)
    return [SignalContribution(s, c, describe_signal(s, x)) for s, c in ranked[:limit]]


def top_signals_from_sums(x: Sequence[float], sums: Sequence[float], first: Sequence[int],
                          limit: int = 3) -> list[SignalContribution]:
    """`top_signals` from the per-signal sums already made (SIGNALS order): `sums[s]` adds signal s's non-zero
    feature contributions in feature order (the floats `top_signals` adds), `first[s]` is the feature index of
    the first of them (-1: none), which orders equal sums as `top_signals`' dict does."""
    ranked = sorted((item for item in zip(sums, first, SIGNALS, strict=True) if item[0] > 0),
                    key=lambda item: (-item[0], item[1]))
    return [SignalContribution(signal, c, describe_signal(signal, x)) for c, _, signal in ranked[:limit]]


def explain(x: Sequence[float], contributions: Sequence[float], limit: int = 3) -> str:
    """One line naming the top contributing signals, '; '-separated (empty when nothing raised the risk)."""
    return "; ".join(s.text for s in top_signals(x, contributions, limit))
