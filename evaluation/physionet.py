"""PhysioNet/CinC Challenge 2019 PSV files -> canonical events (pure: no Kafka, no sockets, no clock).

One file is one ICU stay: a header line, then one row per ICU hour, 41 `|`-separated
columns; `NaN` means "not measured in that hour". The file stem is the patient key.

Time basis: a row's event time is `base_time + ICULOS hours` (ICULOS starts at 1);
the admission (`PatientEvent`, ADT^A01 equivalent) is at `base_time` itself.

Units: each column is mapped to one of our measures and to the unit its values are
*in*; conversion to the canonical unit and the plausibility check go through
`ingest.core.units.to_canonical`, so a value is rejected (and counted) exactly as
the HL7 v2 / FHIR ingest would reject it. Two columns are documented by the
challenge in one unit but carry values in another (see `COLUMNS`); the mapping
below follows the values, which is a property of the published format (all
challenge sets share it), not of one hospital.

Reference: Reyna MA et al., Early Prediction of Sepsis From Clinical Data: the
PhysioNet/Computing in Cardiology Challenge 2019. Crit Care Med 2020;48(2):210-217.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from detector.core.window import event_seconds
from ingest.core.errors import InputRejected
from ingest.core.units import to_canonical
from schemas.base import Location, Source
from schemas.measures import MEASURES, Measure
from schemas.observation import Observation
from schemas.patient_event import PatientEvent, PatientEventKind, Sex

__all__ = [
    "COLUMNS",
    "PSV_HEADER",
    "UNMAPPED_COLUMNS",
    "ColumnMap",
    "ConversionCounts",
    "HourFields",
    "HourMessage",
    "PatientRecord",
    "admit_event",
    "hour_fields",
    "hour_messages",
    "read_psv",
]

PSV_HEADER: tuple[str, ...] = (
    "HR", "O2Sat", "Temp", "SBP", "MAP", "DBP", "Resp", "EtCO2", "BaseExcess", "HCO3", "FiO2", "pH", "PaCO2",
    "SaO2", "AST", "BUN", "Alkalinephos", "Calcium", "Chloride", "Creatinine", "Bilirubin_direct", "Glucose",
    "Lactate", "Magnesium", "Phosphate", "Potassium", "Bilirubin_total", "TroponinI", "Hct", "Hgb", "PTT", "WBC",
    "Fibrinogen", "Platelets", "Age", "Gender", "Unit1", "Unit2", "HospAdmTime", "ICULOS", "SepsisLabel",
)
"""The 41 columns of every challenge file, in file order."""

_COL = {name: i for i, name in enumerate(PSV_HEADER)}
AGE, GENDER, UNIT1, UNIT2, ICULOS, SEPSIS_LABEL = (
    _COL["Age"], _COL["Gender"], _COL["Unit1"], _COL["Unit2"], _COL["ICULOS"], _COL["SepsisLabel"])


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """How one clinical column becomes an Observation: the measure and the unit its values are in."""

    column: str
    index: int  # in the file's 41 columns
    position: int  # in COLUMNS
    measure: Measure
    unit: str
    code: str  # the LOINC code replayed messages carry (the measure's preferred code)
    canonical_unit: str


def _map(column: str, measure: Measure, unit: str) -> ColumnMap:
    spec = MEASURES[measure]
    return ColumnMap(column, _COL[column], -1, measure, unit, spec.loinc[0], spec.unit)


_COLUMNS: tuple[ColumnMap, ...] = (
    _map("HR", Measure.HEART_RATE, "/min"),
    # O2Sat is the bedside pulse-oximetry saturation (the challenge's "Pulse oximetry (%)").
    _map("O2Sat", Measure.SPO2, "%"),
    _map("Temp", Measure.TEMPERATURE, "Cel"),
    _map("SBP", Measure.SYSTOLIC_BP, "mm[Hg]"),
    _map("MAP", Measure.MEAN_BP, "mm[Hg]"),
    _map("DBP", Measure.DIASTOLIC_BP, "mm[Hg]"),
    _map("Resp", Measure.RESPIRATORY_RATE, "/min"),
    _map("EtCO2", Measure.ETCO2, "mm[Hg]"),
    _map("BaseExcess", Measure.BASE_EXCESS, "mmol/L"),
    _map("HCO3", Measure.BICARBONATE, "mmol/L"),
    # Documented as a fraction of inspired oxygen; to_canonical applies the spec's one exception
    # (clinical-scores.md §1.3): a bare FiO2 above 1.0 is a percentage.
    _map("FiO2", Measure.FIO2, "1"),
    _map("pH", Measure.PH, "[pH]"),
    _map("PaCO2", Measure.PACO2, "mm[Hg]"),
    _map("AST", Measure.AST, "U/L"),
    _map("BUN", Measure.BUN, "mg/dL"),
    _map("Alkalinephos", Measure.ALKALINE_PHOSPHATASE, "U/L"),
    _map("Calcium", Measure.CALCIUM, "mg/dL"),
    _map("Chloride", Measure.CHLORIDE, "mmol/L"),
    _map("Creatinine", Measure.CREATININE, "mg/dL"),
    _map("Bilirubin_direct", Measure.BILIRUBIN_DIRECT, "mg/dL"),
    _map("Glucose", Measure.GLUCOSE, "mg/dL"),
    # The challenge's table says "mg/dL", but the values are mmol/L (median 1.8; a lactate of
    # 1.8 mg/dL would be 0.2 mmol/L, below any physiological value). Reading them as mg/dL
    # would hide every lactate >= 2 or >= 4 from SEP-1 and the escalation ladder.
    _map("Lactate", Measure.LACTATE, "mmol/L"),
    # Documented as "mmol/dL", which no laboratory reports; the values (median 2.0) are mg/dL.
    _map("Magnesium", Measure.MAGNESIUM, "mg/dL"),
    _map("Phosphate", Measure.PHOSPHATE, "mg/dL"),
    _map("Potassium", Measure.POTASSIUM, "mmol/L"),
    _map("Bilirubin_total", Measure.BILIRUBIN, "mg/dL"),
    _map("TroponinI", Measure.TROPONIN_I, "ng/mL"),
    _map("Hct", Measure.HEMATOCRIT, "%"),
    _map("Hgb", Measure.HEMOGLOBIN, "g/dL"),
    _map("PTT", Measure.APTT, "s"),
    _map("WBC", Measure.WBC, "10*3/uL"),
    _map("Fibrinogen", Measure.FIBRINOGEN, "mg/dL"),
    _map("Platelets", Measure.PLATELETS, "10*3/uL"),
)
COLUMNS: tuple[ColumnMap, ...] = tuple(replace(c, position=i) for i, c in enumerate(_COLUMNS))
"""Clinical columns that become observations, in file order."""

UNMAPPED_COLUMNS: dict[str, str] = {
    # SaO2 is measured on an arterial blood gas, not by pulse oximetry. NEWS2's SpO2 parameter
    # (RCP 2017) is the oximeter reading; mixing the two would score a blood-gas value as a
    # bedside observation. We have no canonical measure for it, so it is not replayed.
    "SaO2": "arterial oxygen saturation (blood gas) is not pulse-oximetry SpO2; no canonical measure",
}
"""Clinical columns deliberately not replayed, with the reason."""

_COLUMN_INDEX = np.array([c.index for c in COLUMNS])


@dataclass(slots=True)
class PatientRecord:
    """One ICU stay as read from its PSV file: `values` is rows x 41 float64, NaN = not measured."""

    patient_key: str
    values: np.ndarray

    @property
    def n_hours(self) -> int:
        return int(self.values.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """SepsisLabel per row (int8): 1 from 6 h before the challenge's onset onwards."""
        return self.values[:, SEPSIS_LABEL].astype(np.int8)

    @property
    def iculos(self) -> np.ndarray:
        """Hours since ICU admission per row (int), starting at 1."""
        return self.values[:, ICULOS].astype(np.int64)

    @property
    def age_years(self) -> float | None:
        age = float(self.values[0, AGE])
        return age if math.isfinite(age) and 0 <= age <= 130 else None

    @property
    def sex(self) -> Sex:
        gender = self.values[0, GENDER]  # challenge coding: 0 female, 1 male
        return Sex.MALE if gender == 1 else Sex.FEMALE if gender == 0 else Sex.UNKNOWN

    @property
    def icu_unit(self) -> str | None:
        """MICU or SICU from the Unit1/Unit2 flags of the first row, when given."""
        if self.values[0, UNIT1] == 1:
            return "MICU"
        if self.values[0, UNIT2] == 1:
            return "SICU"
        return None


def read_psv(path: Path) -> PatientRecord:
    """Read one challenge file (fast path: one split and one float conversion per file).

    Raises ValueError naming the file when the header or the column count is wrong.
    """
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n")
    if tuple(header.decode("ascii").strip().split("|")) != PSV_HEADER:
        raise ValueError(f"{path.name}: header is not the PhysioNet 2019 header")
    cells = body.replace(b"\n", b"|").split(b"|")
    if cells and cells[-1] == b"":
        cells.pop()
    if len(cells) % len(PSV_HEADER):
        raise ValueError(f"{path.name}: {len(cells)} cells is not a multiple of {len(PSV_HEADER)} columns")
    values = np.array(cells, dtype=np.float64).reshape(-1, len(PSV_HEADER))
    return PatientRecord(patient_key=path.stem, values=values)


@dataclass(slots=True)
class ConversionCounts:
    """What replaying produced: observations accepted, values rejected (by measure and error code)."""

    accepted: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def merge(self, other: ConversionCounts) -> None:
        self.accepted += other.accepted
        self.rejected.update(other.rejected)


@dataclass(frozen=True, slots=True)
class HourMessage:
    """The observations of one patient-hour: what one HL7 ORU^R01 / one FHIR Bundle carries."""

    patient_key: str
    row: int  # 0-based row in the file (= the challenge's time index t)
    iculos: int
    event_time: datetime
    message_id: str
    observations: tuple[Observation, ...]


def admit_event(record: PatientRecord, base_time: datetime, *, received_at: datetime | None = None) -> PatientEvent:
    """The ICU admission as a PatientEvent at `base_time` (event time), with age, sex and ICU unit."""
    unit = record.icu_unit
    return PatientEvent(
        patient_key=record.patient_key,
        event=PatientEventKind.ADMIT,
        encounter_id=record.patient_key,
        event_time=base_time,
        received_at=received_at or base_time,
        source=Source.REPLAY,
        source_message_id=f"physionet:{record.patient_key}:admit",
        trigger="ADT^A01",
        age_years=record.age_years,
        sex=record.sex,
        location=Location(unit=unit) if unit else None,
    )


_CANONICAL_CACHE: dict[tuple[int, float], float | InputRejected] = {}


def _canonical(column: ColumnMap, value: float) -> float | InputRejected:
    """to_canonical for one cell, memoised per (position in COLUMNS, value): hourly data repeat values a lot."""
    try:
        hit: float | InputRejected = to_canonical(column.measure, value, column.unit, location=column.column)
    except InputRejected as exc:
        hit = exc
    if len(_CANONICAL_CACHE) < 200_000:
        _CANONICAL_CACHE[(column.position, value)] = hit
    return hit


@dataclass(frozen=True, slots=True)
class HourFields:
    """One patient-hour as plain fields, for feeding `DetectorEngine.process_fields` without pydantic models.

    `items` are (measure, canonical value, source id) in part order; `event_s` is the event time in
    detector.core.window.event_seconds (whole seconds since 2000-01-01T00:00Z).
    """

    row: int
    iculos: int
    event_s: int
    message_id: str
    items: tuple[tuple[Measure, float, str], ...]


def _accepted_rows(record: PatientRecord, counts: ConversionCounts
                   ) -> Iterator[tuple[int, int, str, list[tuple[ColumnMap, float]]]]:
    """(row, ICULOS, message id, [(column, canonical value)]) of each row with an accepted value, in row order.

    Values are converted with to_canonical; a rejected value is counted in
    `counts.rejected[(measure, error code)]` and left out.
    """
    key = record.patient_key
    clinical = record.values[:, _COLUMN_INDEX]
    rows = np.flatnonzero(~np.isnan(clinical).all(axis=1))
    iculos = record.iculos[rows].tolist()
    cache = _CANONICAL_CACHE
    rejected = counts.rejected
    # Plain Python floats per row: indexing numpy scalars cell by cell costs more than the rest of the loop.
    for row, hour, cells in zip(rows.tolist(), iculos, clinical[rows].tolist(), strict=True):
        accepted: list[tuple[ColumnMap, float]] = []
        for j, cell in enumerate(cells):
            if cell != cell:  # NaN: not measured this hour
                continue
            result = cache.get((j, cell))
            if result is None:
                result = _canonical(COLUMNS[j], cell)
            if isinstance(result, InputRejected):
                rejected[(COLUMNS[j].measure.value, result.code)] += 1
                continue
            accepted.append((COLUMNS[j], result))
        if accepted:
            counts.accepted += len(accepted)
            yield row, hour, f"physionet:{key}:{hour}", accepted


def hour_fields(record: PatientRecord, base_time: datetime, *,
                counts: ConversionCounts | None = None) -> Iterator[HourFields]:
    """`hour_messages` as plain fields (same values, source ids and order): the offline evaluation's fast path.

    The values are those `hour_messages` would put in validated Observations: to_canonical
    already enforces the canonical unit and the plausible range the Observation schema checks.
    """
    counts = counts if counts is not None else ConversionCounts()
    base_s = event_seconds(base_time)
    for row, hour, message_id, accepted in _accepted_rows(record, counts):
        items = tuple((column.measure, value, f"{message_id}:{column.column}") for column, value in accepted)
        yield HourFields(row, hour, base_s + hour * 3600, message_id, items)


def hour_messages(
    record: PatientRecord,
    base_time: datetime,
    *,
    counts: ConversionCounts | None = None,
    received_at: datetime | None = None,
) -> Iterator[HourMessage]:
    """Yield one HourMessage per row that has at least one accepted observation, in row order.

    Each observation: event time `base_time + ICULOS h`; `received_at` = that event time
    unless given (offline replay has no processing time of its own); source `replay`;
    `source_id` = `physionet:<key>:<ICULOS>:<column>` (deterministic, so a second replay
    de-duplicates); `part`/`parts` numbered within the row as ingest.core.result.number_parts
    would number them. Values are converted with to_canonical; a rejected value is counted
    in `counts.rejected[(measure, error code)]` and left out. Every Observation is fully
    validated by pydantic (which, measured, is faster than `model_construct` here).
    """
    counts = counts if counts is not None else ConversionCounts()
    key = record.patient_key
    validate = Observation.model_validate
    for row, hour, message_id, accepted in _accepted_rows(record, counts):
        event_time = base_time + timedelta(hours=hour)
        parts = len(accepted)
        shared = {"patient_key": key, "encounter_id": key, "code_system": "http://loinc.org",
                  "effective_at": event_time, "received_at": received_at or event_time, "source": Source.REPLAY,
                  "source_message_id": message_id, "parts": parts}
        observations = tuple(
            validate({**shared, "measure": column.measure, "code": column.code, "value": value,
                      "unit": column.canonical_unit, "source_id": f"{message_id}:{column.column}", "part": part})
            for part, (column, value) in enumerate(accepted)
        )
        yield HourMessage(key, row, hour, event_time, message_id, observations)
