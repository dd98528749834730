"""Inputs and results of the pure clinical scores (clinical-scores.md §1, §3.3, §6).

`ScoreInputs` holds ONE set of values in canonical units (§1), already chosen by
the caller (latest set for NEWS2/MEWS, worst value in the window for SOFA labs, ...).
The scores never look at time: windowing and staleness are the engine's job.

`ScoreInputs(...)` is the fast, trusted constructor (no checks: the engine builds it
from `Observation`s that ingest already converted and range-checked).
`ScoreInputs.from_mapping(d)` is the validating constructor for untrusted JSON
(the `sepsis-alert score` command, test vectors): it raises `ScoreInputError`
naming the key and the bad value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from detector.core.rules.tables import OXYGEN
from detector.core.scores._rounding import round2_fast
from schemas.measures import CONSCIOUSNESS_LEVELS, MEASURES, Measure

__all__ = [
    "INPUT_KEYS",
    "VASOPRESSOR_KEYS",
    "Consciousness",
    "ScoreInputError",
    "ScoreInputs",
    "ScoreResult",
    "derived_map",
    "effective_fio2",
    "effective_map",
    "effective_on_oxygen",
    "make_result",
    "pf_ratio",
]

Consciousness = Literal["A", "C", "V", "P", "U"]

class ScoreInputError(ValueError):
    """An input of a score is malformed: unknown key, wrong type or out of the plausible range.

    `key` is the offending JSON key (§6), `message` says what is wrong and shows the bad value.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """One set of score inputs in canonical units (§1, §6). `None` means missing (§3.3).

    Time basis: none. The caller decides which value (latest set, worst in a window) each field holds.
    """

    hr: float | None = None
    """Heart rate, /min (plausible 0-300)."""
    rr: float | None = None
    """Respiratory rate, /min (0-80)."""
    temp_c: float | None = None
    """Body temperature, °C (25.0-45.0), already rounded per §0 if converted from °F."""
    sbp: float | None = None
    """Systolic blood pressure, mmHg (20-300, > dbp)."""
    dbp: float | None = None
    """Diastolic blood pressure, mmHg (10-250). Used only to derive MAP when `map` is missing."""
    map: float | None = None
    """Measured mean arterial pressure, mmHg (15-250). Wins over MAP derived from sbp/dbp (§1.1)."""
    spo2: float | None = None
    """SpO2 by pulse oximetry, % (50-100)."""
    on_oxygen: bool | None = None
    """Supplemental oxygen in use. None = not recorded (NEWS2 then scores air and is incomplete,
    unless `fio2` > 0.21 shows oxygen, §1.3)."""
    spo2_scale: int = 1
    """NEWS2 SpO2 scale: 2 only with an explicit current 88-92% target order (§1.3), else 1."""
    consciousness: Consciousness | None = None
    """ACVPU: A alert, C new confusion, V voice, P pain, U unresponsive (§1.2)."""
    gcs: int | None = None
    """Glasgow coma scale total, integer 3-15. Never converted from ACVPU (§1.2)."""
    wbc: float | None = None
    """White cells, 10^9/L (0-500)."""
    bands_pct: float | None = None
    """Band neutrophils, % of leukocytes (0-100)."""
    lactate: float | None = None
    """Lactate, mmol/L (0-30)."""
    creatinine: float | None = None
    """Creatinine, mg/dL (0.05-30)."""
    bilirubin: float | None = None
    """Total bilirubin, mg/dL (0-70)."""
    platelets: float | None = None
    """Platelets, 10^9/L (0-2000)."""
    pao2: float | None = None
    """Arterial PaO2, mmHg (10-800). Venous/capillary pO2 must not be used (§1.4)."""
    fio2: float | None = None
    """Inspired O2 fraction (0.21-1.00), describing conditions when `pao2` was drawn (§3.2)."""
    paco2: float | None = None
    """Arterial PaCO2, mmHg (5-200)."""
    resp_support: bool = False
    """Invasive ventilation or NIV/CPAP/BiPAP (not high-flow nasal O2) (§1.5)."""
    inr: float | None = None
    """INR (0.5-20). SEP-1 organ dysfunction only."""
    aptt: float | None = None
    """aPTT, s (10-200). SEP-1 organ dysfunction only."""
    urine_ml_24h: float | None = None
    """Urine output over the last 24 h, mL (0-20000) [ENG range]. SOFA renal only."""
    norepinephrine: float | None = None
    """Norepinephrine, µg/kg/min, only if it has run >= 1 h (§2.5). 0 = known not running."""
    epinephrine: float | None = None
    """Epinephrine, µg/kg/min, run >= 1 h."""
    dopamine: float | None = None
    """Dopamine, µg/kg/min, run >= 1 h."""
    dobutamine: float | None = None
    """Dobutamine, µg/kg/min, run >= 1 h."""
    vasopressin: float | None = None
    """Vasopressin, U/min. Not in the SOFA table; counts as a vasopressor for Sepsis-3 septic shock."""

    @property
    def has_vasopressor_data(self) -> bool:
        """True when any vasopressor/inotrope field is recorded (0 included)."""
        return not (self.norepinephrine is None and self.epinephrine is None and self.dopamine is None
                    and self.dobutamine is None and self.vasopressin is None)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ScoreInputs:
        """Validate untrusted key/value pairs (§6 keys, canonical units) and build the inputs.

        JSON `null` means missing. Raises ScoreInputError(key, message) on an unknown key, a
        wrong type (booleans are not numbers), NaN/infinity, or a value outside the plausible range.
        """
        values: dict[str, object] = {}
        for key, raw in data.items():
            validator = _VALIDATORS.get(key) if isinstance(key, str) else None
            if validator is None:
                raise ScoreInputError(str(key), f"unknown input key (known: {', '.join(INPUT_KEYS)})")
            if raw is None:
                continue  # missing (spo2_scale/resp_support then take their defaults)
            values[key] = validator(key, raw)
        sbp, dbp = values.get("sbp"), values.get("dbp")
        if sbp is not None and dbp is not None and not sbp > dbp:  # type: ignore[operator]
            raise ScoreInputError("sbp", f"systolic {sbp} must be greater than diastolic {dbp}")
        return cls(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validation

_KEY_TO_MEASURE: dict[str, Measure] = {
    "hr": Measure.HEART_RATE, "rr": Measure.RESPIRATORY_RATE, "temp_c": Measure.TEMPERATURE,
    "sbp": Measure.SYSTOLIC_BP, "dbp": Measure.DIASTOLIC_BP, "map": Measure.MEAN_BP, "spo2": Measure.SPO2,
    "wbc": Measure.WBC, "bands_pct": Measure.BANDS, "lactate": Measure.LACTATE,
    "creatinine": Measure.CREATININE, "bilirubin": Measure.BILIRUBIN, "platelets": Measure.PLATELETS,
    "pao2": Measure.PAO2, "fio2": Measure.FIO2, "paco2": Measure.PACO2, "inr": Measure.INR,
    "aptt": Measure.APTT, "gcs": Measure.GCS,
}

# Ranges for inputs that schemas.measures does not carry [ENG]: generous upper bounds that
# still catch unit mistakes (µg/min instead of µg/kg/min, mL/h instead of mL/24 h totals).
_EXTRA_RANGES: dict[str, tuple[float, float]] = {
    "urine_ml_24h": (0.0, 20000.0),
    "norepinephrine": (0.0, 10.0),
    "epinephrine": (0.0, 10.0),
    "dopamine": (0.0, 100.0),
    "dobutamine": (0.0, 100.0),
    "vasopressin": (0.0, 1.0),
}

VASOPRESSOR_KEYS: tuple[str, ...] = ("norepinephrine", "epinephrine", "dopamine", "dobutamine", "vasopressin")


def _range_of(key: str) -> tuple[float, float]:
    if key in _EXTRA_RANGES:
        return _EXTRA_RANGES[key]
    spec = MEASURES[_KEY_TO_MEASURE[key]]
    assert spec.low is not None and spec.high is not None
    return float(spec.low), float(spec.high)


def _number(key: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ScoreInputError(key, f"must be a number, got {type(raw).__name__} {raw!r}")
    if not math.isfinite(raw):
        raise ScoreInputError(key, f"must be a finite number, got {raw!r}")
    low, high = _range_of(key)
    if not low <= raw <= high:
        hint = " (a fraction, not a percentage)" if key == "fio2" and raw > 1 else ""
        raise ScoreInputError(key, f"{raw!r} is outside the plausible range {low:g}..{high:g}{hint}")
    return raw


def _integer(key: str, raw: object) -> int:
    value = _number(key, raw)
    if isinstance(value, float):
        if not value.is_integer():
            raise ScoreInputError(key, f"must be an integer, got {raw!r}")
        return int(value)
    return value


def _flag(key: str, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise ScoreInputError(key, f"must be true or false, got {type(raw).__name__} {raw!r}")
    return raw


def _scale(key: str, raw: object) -> int:
    if isinstance(raw, bool) or raw not in (1, 2):
        raise ScoreInputError(key, f"must be 1 or 2, got {raw!r}")
    return int(raw)


def _acvpu(key: str, raw: object) -> str:
    if not isinstance(raw, str) or raw.strip().upper() not in CONSCIOUSNESS_LEVELS:
        raise ScoreInputError(key, f"must be one of {'/'.join(CONSCIOUSNESS_LEVELS)}, got {raw!r}")
    return raw.strip().upper()


_VALIDATORS: dict[str, Callable[[str, object], object]] = {f.name: _number for f in fields(ScoreInputs)}
_VALIDATORS.update({"on_oxygen": _flag, "resp_support": _flag, "spo2_scale": _scale,
                    "consciousness": _acvpu, "gcs": _integer})

INPUT_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ScoreInputs))
"""Every accepted input key, in declaration order."""


# --------------------------------------------------------------------------- derived values

def derived_map(sbp: float | None, dbp: float | None) -> float | None:
    """MAP = (SBP + 2 × DBP) / 3 in mmHg, rounded 2 dp half-up (§0, §1.1); None if either is missing.

    Both pressures must come from the same reading (the caller pairs them).
    """
    if sbp is None or dbp is None:
        return None
    return round2_fast((sbp + 2 * dbp) / 3)


def effective_map(inputs: ScoreInputs) -> float | None:
    """The measured MAP if present (it always wins, §1.1), else the MAP derived from sbp/dbp."""
    if inputs.map is not None:
        return inputs.map
    return derived_map(inputs.sbp, inputs.dbp)


def effective_on_oxygen(inputs: ScoreInputs) -> bool | None:
    """`on_oxygen` if recorded; else True when a recorded FiO2 > 0.21 shows oxygen (§1.3); else None."""
    if inputs.on_oxygen is not None:
        return inputs.on_oxygen
    if inputs.fio2 is not None and inputs.fio2 > OXYGEN["room_air_fio2"]:
        return True
    return None


def effective_fio2(fio2: float | None, on_oxygen: bool | None) -> float | None:
    """FiO2 for the P/F ratio (§1.3): the recorded value; 0.21 if absent and not on oxygen; None if unknown."""
    if fio2 is not None:
        return fio2
    return None if on_oxygen is True else OXYGEN["room_air_fio2"]


def pf_ratio(pao2: float | None, fio2: float | None) -> float | None:
    """PaO2/FiO2 in mmHg, rounded 2 dp half-up (§0); None if either is unknown."""
    if pao2 is None or not fio2:
        return None
    return round2_fast(pao2 / fio2)


# --------------------------------------------------------------------------- results

Explanation = str | Callable[[], str] | tuple[Any, ...]
"""A reason text, or how to build it when read: a function of no arguments, or a tuple `(function, *arguments)`
(cheaper to create than a closure; the score functions use it on every scoring)."""


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of one score on one `ScoreInputs`.

    * `name`: "sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa", "shock_index",
      "sep1_severe_sepsis", "sep1_septic_shock", "sepsis3", "sepsis3_septic_shock".
    * `value`: int points, float (shock index), bool (definitions), or None (cannot be computed/decided).
    * `band`: NEWS2 risk band ("low", "low-medium", "medium", "high"); "positive"/"negative" for SIRS/qSOFA
      (>= 2); "elevated"/"normal" for MEWS (>= 5, Subbe) and shock index (>= 1.0 [ENG]); else None.
    * `points`: points per component/criterion (criteria score 0 or 1). Treat as read-only.
    * `met`: names of the components/criteria that scored (points > 0), in table order.
    * `missing`: input keys that were missing and could have changed the value (§3.3).
    * `incomplete`: True when `missing` is not empty (an unknown FiO2 shows up as missing "fio2").
    * `reason` (property): short human text for alerts and audit, no patient identifiers, e.g.
      "NEWS2 8 (high): RR 26 (3), SpO2 91 (3); missing temp_c". It is built on access from `explanation`
      (a string, a function producing it, or a `(function, *arguments)` tuple) because formatting costs more
      than scoring; it is not part of equality or repr. The text is kept once built (`_reason`): an alert reads
      a trigger's reason for its reasons and again for its score snapshot, and a result that the next scorings
      reuse (unchanged inputs) is shown by the episode's later alerts too.
    """

    name: str
    value: int | float | bool | None
    band: str | None
    points: dict[str, int]
    met: tuple[str, ...]
    missing: tuple[str, ...]
    incomplete: bool
    explanation: Explanation = field(default="", compare=False, repr=False)
    _reason: str | None = field(default=None, compare=False, repr=False)

    @property
    def reason(self) -> str:
        """The human-readable reason text (see the class docstring)."""
        text = self._reason
        if text is not None:
            return text
        explanation = self.explanation
        if isinstance(explanation, str):
            return explanation
        text = explanation[0](*explanation[1:]) if isinstance(explanation, tuple) else explanation()
        _set_attr(self, "_reason", text)  # a cache of a pure function of the result: not a change of it
        return text


@dataclass(slots=True)
class _ResultBuilder:
    """Same slots, in the same order, as ScoreResult but not frozen (see `make_result`)."""

    name: str
    value: int | float | bool | None
    band: str | None
    points: dict[str, int]
    met: tuple[str, ...]
    missing: tuple[str, ...]
    incomplete: bool
    explanation: Explanation = ""
    _reason: str | None = None


_set_attr = object.__setattr__


def make_result(name: str, value: int | float | bool | None, band: str | None, points: dict[str, int],
                met: tuple[str, ...], missing: tuple[str, ...], explanation: Explanation) -> ScoreResult:
    """Build a ScoreResult (incomplete = bool(missing)) about 4x faster than the frozen constructor.

    A frozen dataclass sets each field through object.__setattr__ (~1.6 µs for 8 fields). The result is built
    as the unfrozen twin and then re-classed; CPython allows __class__ assignment between classes with the
    same slot layout, and the object is from then on an ordinary, immutable ScoreResult.
    """
    built = _ResultBuilder(name, value, band, points, met, missing, bool(missing), explanation)
    built.__class__ = ScoreResult  # type: ignore[assignment]
    return built  # type: ignore[return-value]
