"""Sepsis definitions: CMS SEP-1 severe sepsis / septic shock (§2.8) and Sepsis-3 (§2.7).

These functions judge ONE set of inputs against the limits of detector/core/rules/tables.py (SEP1_*, SEPSIS3).
The engine owns the timing: SEP-1 needs infection documentation,
>= 2 SEP-1 SIRS criteria and one organ-dysfunction sign within 6 h of each other (pass each criterion's worst
value in that window); Sepsis-3 compares the current SOFA with the 72 h baseline (§3.2).
Not automated (clinician judgement, §2.8): an SBP fall > 40 mmHg from baseline, "new" need for ventilation
(`resp_support` is taken as new), urine < 0.5 mL/kg/h for 2 h (needs weight and hourly urine), and values a
clinician documented as chronic or non-infectious.
"""

from __future__ import annotations

from detector.core.rules.tables import SEP1_ORGAN_DYSFUNCTION as _ORGAN
from detector.core.rules.tables import SEP1_SEPTIC_SHOCK, SEPSIS3
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import VASOPRESSOR_KEYS, ScoreInputs, ScoreResult, effective_map, make_result
from detector.core.scores.sirs import sirs_sep1

__all__ = [
    "ORGAN_SIGNS",
    "aptt_met",
    "bilirubin_met",
    "creatinine_met",
    "inr_met",
    "lactate_met",
    "map_met",
    "organ_dysfunction_signs",
    "platelets_met",
    "sbp_met",
    "sep1_septic_shock",
    "sep1_severe_sepsis",
    "sepsis3",
    "sepsis3_lactate_met",
    "sepsis3_septic_shock",
    "septic_shock_lactate_met",
    "vasopressor_running",
]

ORGAN_SIGNS: tuple[str, ...] = (
    "sbp", "map", "ventilation", "creatinine", "bilirubin", "platelets", "inr", "aptt", "lactate",
)
"""SEP-1 organ-dysfunction sign names, in §2.8 order."""

_SIGN_INPUTS = ("sbp", "map", "creatinine", "bilirubin", "platelets", "lactate")  # listed missing when absent


def sbp_met(sbp: float | None) -> bool:
    """SEP-1 (rules.tables.SEP1_ORGAN_DYSFUNCTION): SBP < 90 mmHg."""
    return _ORGAN["sbp"].met(sbp)


def map_met(map_mmhg: float | None) -> bool:
    """SEP-1: MAP < 65 mmHg (measured, else derived from SBP/DBP)."""
    return _ORGAN["map"].met(map_mmhg)


def creatinine_met(creatinine: float | None) -> bool:
    """SEP-1: creatinine > 2.0 mg/dL (2.0 itself does not count)."""
    return _ORGAN["creatinine"].met(creatinine)


def bilirubin_met(bilirubin: float | None) -> bool:
    """SEP-1: total bilirubin > 2 mg/dL (2.00 does not count, E10)."""
    return _ORGAN["bilirubin"].met(bilirubin)


def platelets_met(platelets: float | None) -> bool:
    """SEP-1: platelets < 100 × 10^9/L."""
    return _ORGAN["platelets"].met(platelets)


def inr_met(inr: float | None) -> bool:
    """SEP-1: INR > 1.5."""
    return _ORGAN["inr"].met(inr)


def aptt_met(aptt: float | None) -> bool:
    """SEP-1: aPTT > 60 s."""
    return _ORGAN["aptt"].met(aptt)


def lactate_met(lactate: float | None) -> bool:
    """SEP-1 organ dysfunction: lactate > 2 mmol/L."""
    return _ORGAN["lactate"].met(lactate)


def septic_shock_lactate_met(lactate: float | None) -> bool:
    """SEP-1 septic shock (SEP1_SEPTIC_SHOCK): initial lactate >= 4 mmol/L (4.0 counts)."""
    return SEP1_SEPTIC_SHOCK["lactate"].met(lactate)


def sepsis3_lactate_met(lactate: float | None) -> bool:
    """Sepsis-3 septic shock (SEPSIS3): serum lactate > 2 mmol/L (> 18 mg/dL)."""
    return SEPSIS3["lactate"].met(lactate)


def vasopressor_running(inputs: ScoreInputs) -> bool | None:
    """A vasopressor is running (norepinephrine, epinephrine, dopamine or vasopressin > 0); None if none recorded.

    Dobutamine is an inotrope, not a vasopressor, so it does not count here.
    """
    # explicit checks instead of all()/any() over generators: this runs on most scorings
    norepinephrine, epinephrine = inputs.norepinephrine, inputs.epinephrine
    dopamine, vasopressin = inputs.dopamine, inputs.vasopressin
    if (norepinephrine is None and epinephrine is None and dopamine is None and vasopressin is None
            and inputs.dobutamine is None):
        return None
    return ((norepinephrine is not None and norepinephrine > 0) or (epinephrine is not None and epinephrine > 0)
            or (dopamine is not None and dopamine > 0) or (vasopressin is not None and vasopressin > 0))


def organ_dysfunction_signs(inputs: ScoreInputs) -> tuple[str, ...]:
    """The SEP-1 organ-dysfunction signs met by one input set, in `ORGAN_SIGNS` order."""
    signs: list[str] = []
    if sbp_met(inputs.sbp):
        signs.append("sbp")
    if map_met(effective_map(inputs)):
        signs.append("map")
    if inputs.resp_support:
        signs.append("ventilation")
    for sign in ("creatinine", "bilirubin", "platelets", "inr", "aptt", "lactate"):
        if _ORGAN[sign].met(getattr(inputs, sign)):
            signs.append(sign)
    return tuple(signs)


def sep1_severe_sepsis(inputs: ScoreInputs, infection_suspected: bool, *,
                       sirs: ScoreResult | None = None) -> ScoreResult:
    """SEP-1 severe sepsis: documented/suspected infection AND >= 2 SEP-1 SIRS AND >= 1 organ-dysfunction sign.

    `value` is a bool. `points`: infection (0/1), sirs_sep1 (count), organ_dysfunction (number of signs).
    `met` lists "infection", "sirs" and the organ signs met. Missing inputs are listed only while the
    criterion they belong to is unmet. `sirs`: `sirs_sep1(inputs)` when the caller already has it (not
    recomputed; it must be the result for these same inputs).
    """
    if sirs is None:
        sirs = sirs_sep1(inputs)
    signs = organ_dysfunction_signs(inputs)
    sirs_ok = sirs.value >= 2  # type: ignore[operator]
    value = bool(infection_suspected and sirs_ok and signs)
    missing: list[str] = []
    if not sirs_ok:
        missing.extend(sirs.missing)
    if not signs:
        missing.extend(k for k in _SIGN_INPUTS if (effective_map(inputs) if k == "map" else getattr(inputs, k)) is None)
    met = (("infection",) if infection_suspected else ()) + (("sirs",) if sirs_ok else ()) + signs
    points = {"infection": int(bool(infection_suspected)), "sirs_sep1": int(sirs.value),  # type: ignore[arg-type]
              "organ_dysfunction": len(signs)}
    miss = tuple(missing)
    return make_result("sep1_severe_sepsis", value, None, points, met, miss,
                       (_explain_severe, value, infection_suspected, sirs.value, signs, miss))


def _explain_severe(value: bool, infection_suspected: bool, sirs_count: int, signs: tuple[str, ...],
                    miss: tuple[str, ...]) -> str:
    """The SEP-1 severe sepsis reason text (built only when read: alerts, audit)."""
    text = (f"SEP-1 severe sepsis {'met' if value else 'not met'}: infection "
            f"{'suspected' if infection_suspected else 'not documented'}, SEP-1 SIRS {sirs_count}, "
            f"organ dysfunction {', '.join(signs) if signs else 'none'}")
    return with_missing(text, miss)


def sep1_septic_shock(inputs: ScoreInputs, infection_suspected: bool, *, persistent_hypotension: bool = False,
                      severe: ScoreResult | None = None) -> ScoreResult:
    """SEP-1 septic shock: severe sepsis AND (initial lactate >= 4 OR hypotension persisting after 30 mL/kg fluids).

    `inputs.lactate` should be the initial lactate of the episode; `persistent_hypotension` is the engine's
    judgement of two consecutive SBP < 90 / MAP < 65 readings in the hour after the fluid bolus ended.
    `severe`: `sep1_severe_sepsis(inputs, infection_suspected)` when the caller already has it (not recomputed).
    """
    if severe is None:
        severe = sep1_severe_sepsis(inputs, infection_suspected)
    lactate = septic_shock_lactate_met(inputs.lactate)
    value = bool(severe.value and (lactate or persistent_hypotension))
    met = (("severe_sepsis",) if severe.value else ()) + (("lactate",) if lactate else ()) + (
        ("persistent_hypotension",) if persistent_hypotension else ())
    points = {"severe_sepsis": int(bool(severe.value)), "lactate": int(lactate),
              "persistent_hypotension": int(persistent_hypotension)}
    missing = list(severe.missing)
    if severe.value and not value and inputs.lactate is None:
        missing.append("lactate")
    miss = tuple(missing)
    return make_result("sep1_septic_shock", value, None, points, met, miss,
                       (_explain_shock, value, bool(severe.value), inputs.lactate, persistent_hypotension, miss))


def _explain_shock(value: bool, severe_met: bool, lactate: float | None, persistent_hypotension: bool,
                   miss: tuple[str, ...]) -> str:
    """The SEP-1 septic shock reason text (built only when read)."""
    text = (f"SEP-1 septic shock {'met' if value else 'not met'}: severe sepsis {'yes' if severe_met else 'no'}, "
            f"lactate {num(lactate)}" + (", persistent hypotension" if persistent_hypotension else ""))
    return with_missing(text, miss)


def sepsis3(sofa_now: int, sofa_baseline: int, infection_suspected: bool) -> ScoreResult:
    """Sepsis-3 sepsis: suspected infection AND SOFA rise >= 2 from the baseline (0 when unknown, §2.7)."""
    change = sofa_now - sofa_baseline
    rise = SEPSIS3["sofa_rise"].met(change)
    value = bool(infection_suspected and rise)
    met = (("infection",) if infection_suspected else ()) + (("sofa_rise",) if rise else ())
    points = {"infection": int(bool(infection_suspected)), "sofa_now": sofa_now, "sofa_baseline": sofa_baseline,
              "sofa_change": change}
    return make_result("sepsis3", value, None, points, met, (),
                       (_explain_sepsis3, value, sofa_now, sofa_baseline, change, infection_suspected))


def _explain_sepsis3(value: bool, sofa_now: int, sofa_baseline: int, change: int, infection_suspected: bool) -> str:
    """The Sepsis-3 sepsis reason text (built only when read)."""
    return (f"Sepsis-3 sepsis {'met' if value else 'not met'}: SOFA {sofa_now} vs baseline {sofa_baseline} "
            f"({change:+d}), infection {'suspected' if infection_suspected else 'not suspected'}")


def sepsis3_septic_shock(inputs: ScoreInputs, sofa_now: int, sofa_baseline: int,
                         infection_suspected: bool, *, sepsis: ScoreResult | None = None) -> ScoreResult:
    """Sepsis-3 septic shock: sepsis AND a vasopressor running to hold MAP >= 65 AND lactate > 2 mmol/L.

    `value` is None (undecided, incomplete) when sepsis holds but the vasopressor data or the lactate that
    could complete it are missing (E9: no vasopressor data). "Despite adequate fluids" is clinical judgement.
    `sepsis`: `sepsis3(sofa_now, sofa_baseline, infection_suspected)` when the caller already has it.
    """
    if sepsis is None:
        sepsis = sepsis3(sofa_now, sofa_baseline, infection_suspected)
    pressor = vasopressor_running(inputs)
    lactate = sepsis3_lactate_met(inputs.lactate)
    missing: list[str] = []
    value: bool | None
    if not sepsis.value or pressor is False or (inputs.lactate is not None and not lactate):
        value = False
    elif pressor and lactate:
        value = True
    else:
        value = None
        if pressor is None:
            missing.extend(k for k in VASOPRESSOR_KEYS if k != "dobutamine")
        if inputs.lactate is None:
            missing.append("lactate")
    met = (("sepsis",) if sepsis.value else ()) + (("vasopressor",) if pressor else ()) + (
        ("lactate",) if lactate else ())
    points = {"sepsis": int(bool(sepsis.value)), "vasopressor": int(bool(pressor)), "lactate": int(lactate)}
    miss = tuple(missing)
    return make_result("sepsis3_septic_shock", value, None, points, met, miss,
                       (_explain_s3_shock, value, bool(sepsis.value), pressor, inputs.lactate, miss))


def _explain_s3_shock(value: bool | None, sepsis_met: bool, pressor: bool | None, lactate: float | None,
                      miss: tuple[str, ...]) -> str:
    """The Sepsis-3 septic shock reason text (built only when read)."""
    verdict = {True: "met", False: "not met", None: "undecided"}[value]
    pressor_text = {True: "running", False: "none", None: "unknown"}[pressor]
    text = (f"Sepsis-3 septic shock {verdict}: sepsis {'yes' if sepsis_met else 'no'}, vasopressor "
            f"{pressor_text}, lactate {num(lactate)}")
    return with_missing(text, miss)
