"""Which stays of set A train and which test in the transfer check (pure: arrays in, patient indices out).

Set A is one hospital system, so "another hospital" is imitated by splits along what differs between sites:

* ICU unit (Unit1 = MICU, Unit2 = SICU): case mix, prevalence and lab-ordering habits all differ between the
  two units (the SICU draws more labs per hour and has fewer septic stays). Stays with neither flag (47 % of
  set A) are left out of this split and counted.
* Care pathway (HospAdmTime, hours from hospital to ICU admission, <= 0): stays admitted to the ICU within
  24 h of hospital admission (from the emergency department or theatre) against stays transferred after a
  day or more on a ward. This is NOT an admission period: set A has no calendar time at all.
* Patient-id order (first half of the ids against the second half): kept because it is the only candidate
  for a period, and reported as what it is: the ids show no drift in prevalence, unit mix, lab rate, length
  of stay or age over ten id deciles, so they look randomly assigned and this split behaves like the random one.
* Random references: patient-grouped random splits drawn from the same pool with the same train and test
  sizes as a shift split, so that training size is not mistaken for shift. Their test part mixes the groups,
  so learning/transfer.py adds within-unit references on the very test patients of the unit splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evaluation.physionet import PSV_HEADER

__all__ = ["DIRECT_ADMISSION_HOURS", "Split", "StayInfo", "id_order_split", "pathway_splits", "random_reference",
           "read_stay_info", "unit_splits"]

DIRECT_ADMISSION_HOURS = 24.0
"""ICU admission within this many hours of hospital admission counts as direct (HospAdmTime > -24)."""

_UNIT1, _UNIT2, _HOSP_ADM = (PSV_HEADER.index(c) for c in ("Unit1", "Unit2", "HospAdmTime"))


@dataclass(frozen=True, slots=True)
class StayInfo:
    """Per stay (the feature matrix's patient order): ICU unit, hours from hospital to ICU admission, id."""

    unit: np.ndarray  # str: "MICU", "SICU" or "" (neither flag)
    hosp_adm_hours: np.ndarray  # float, <= 0 for almost all; NaN when missing
    patient_id: np.ndarray  # int, the number in pNNNNNN

    def __post_init__(self) -> None:
        if not (self.unit.size == self.hosp_adm_hours.size == self.patient_id.size):
            raise ValueError("StayInfo arrays must have one entry per stay")


@dataclass(frozen=True, slots=True)
class Split:
    """Patient indices (into the feature matrix) to train on and to test on, disjoint."""

    name: str
    kind: str  # "unit", "pathway", "id_order" or "random"
    train: np.ndarray
    test: np.ndarray
    left_out: int = 0
    note: str = ""
    reference: str | None = None  # the shift split a random reference is matched to
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if np.intersect1d(self.train, self.test).size:
            raise ValueError(f"split {self.name}: a patient is in both parts")


def read_stay_info(files: Sequence[Path], patient_keys: Sequence[str]) -> StayInfo:
    """Unit, HospAdmTime and id of each stay from the first data row of its file, in `patient_keys` order."""
    by_key: dict[str, tuple[str, float, int]] = {}
    for path in files:
        with path.open("r", encoding="ascii") as handle:
            handle.readline()
            first = handle.readline().rstrip("\n").split("|")
        unit1, unit2 = first[_UNIT1], first[_UNIT2]
        unit = "MICU" if unit1 == "1" else "SICU" if unit2 == "1" else ""
        hours = float(first[_HOSP_ADM]) if first[_HOSP_ADM] not in ("", "NaN") else float("nan")
        digits = "".join(ch for ch in path.stem if ch.isdigit())
        by_key[path.stem] = (unit, hours, int(digits) if digits else -1)
    rows = [by_key[k] for k in patient_keys]
    return StayInfo(np.array([r[0] for r in rows], dtype=object).astype(str),
                    np.array([r[1] for r in rows], dtype=np.float64), np.array([r[2] for r in rows], dtype=np.int64))


def unit_splits(info: StayInfo) -> list[Split]:
    """MICU -> SICU and SICU -> MICU; stays with neither unit flag are left out (and counted)."""
    micu, sicu = np.flatnonzero(info.unit == "MICU"), np.flatnonzero(info.unit == "SICU")
    neither = int(info.unit.size - micu.size - sicu.size)
    note = "stays with neither Unit1 nor Unit2 set are left out"
    return [Split("MICU -> SICU", "unit", micu, sicu, neither, note),
            Split("SICU -> MICU", "unit", sicu, micu, neither, note)]


def pathway_splits(info: StayInfo, hours: float = DIRECT_ADMISSION_HOURS) -> list[Split]:
    """Direct ICU admissions (HospAdmTime > -hours) -> transfers after >= hours on a ward, and the reverse."""
    known = np.isfinite(info.hosp_adm_hours)
    direct = np.flatnonzero(known & (info.hosp_adm_hours > -hours))
    transferred = np.flatnonzero(known & (info.hosp_adm_hours <= -hours))
    missing = int((~known).sum())
    note = f"direct: ICU within {hours:g} h of hospital admission; not a calendar period (set A has none)"
    return [Split("direct -> ward transfer", "pathway", direct, transferred, missing, note),
            Split("ward transfer -> direct", "pathway", transferred, direct, missing, note)]


def id_order_split(info: StayInfo) -> Split:
    """Lower half of the patient ids -> upper half (the only period candidate; see the module docstring)."""
    order = np.argsort(info.patient_id, kind="stable")
    half = order.size // 2
    return Split("ids low -> ids high", "id_order", np.sort(order[:half]), np.sort(order[half:]), 0,
                 "patient-id order; the ids show no drift, so this is not known to be a period")


def random_reference(split: Split, seed: int) -> Split:
    """A seeded random patient-grouped split of the same pool (split.train + split.test) with the same sizes."""
    pool = np.concatenate([split.train, split.test])
    order = np.random.default_rng(seed).permutation(pool)
    train, test = np.sort(order[:split.train.size]), np.sort(order[split.train.size:])
    return Split(f"random, sized as {split.name}", "random", train, test, split.left_out,
                 "same pool and sizes, patients assigned at random", reference=split.name)
