"""PSV reading and column -> measure/unit mapping, on hand-made files and on real rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detector.core.window import event_seconds
from evaluation.physionet import (
    COLUMNS,
    PSV_HEADER,
    UNMAPPED_COLUMNS,
    ConversionCounts,
    admit_event,
    hour_fields,
    hour_messages,
    read_psv,
)
from ingest.core.result import number_parts
from schemas import Observation
from schemas.base import Source
from schemas.measures import MEASURES, Measure
from schemas.patient_event import PatientEventKind, Sex

DATA = Path(__file__).parent / "data"
REAL = DATA / "physionet_sample"
BASE = datetime(2019, 1, 1, tzinfo=UTC)


def _by_measure(observations: tuple[Observation, ...]) -> dict[Measure, float | None]:
    return {Measure(o.measure): o.value for o in observations}


def test_every_clinical_column_is_mapped_or_deliberately_left_out() -> None:
    clinical = set(PSV_HEADER[:34])
    mapped = {c.column for c in COLUMNS}
    assert mapped | set(UNMAPPED_COLUMNS) == clinical
    assert not mapped & set(UNMAPPED_COLUMNS)
    assert "SaO2" in UNMAPPED_COLUMNS  # arterial saturation is not pulse-oximetry SpO2
    assert {c.measure for c in COLUMNS if c.column == "O2Sat"} == {Measure.SPO2}
    for column in COLUMNS:
        assert column.code in MEASURES[column.measure].loinc


def test_handmade_file_rows_become_observations_in_canonical_units() -> None:
    record = read_psv(DATA / "handmade_a.psv")
    assert record.patient_key == "handmade_a"
    assert record.n_hours == 6
    counts = ConversionCounts()
    messages = list(hour_messages(record, BASE, counts=counts))
    # Row 0: nothing measured; row 4: only an implausible SpO2 -> no message for either.
    assert [m.row for m in messages] == [1, 2, 3, 5]
    hour2, hour3, hour4, hour6 = messages
    assert hour2.event_time == BASE + timedelta(hours=2)
    assert _by_measure(hour2.observations) == {
        Measure.HEART_RATE: 97.0, Measure.SPO2: 95.0, Measure.TEMPERATURE: 38.2, Measure.SYSTOLIC_BP: 98.0,
        Measure.MEAN_BP: 75.33, Measure.DIASTOLIC_BP: 64.0, Measure.RESPIRATORY_RATE: 22.0}
    # FiO2 40 is a percentage (> 1.0) -> 0.4; SaO2 is not replayed; lactate as mmol/L.
    assert _by_measure(hour3.observations) == {
        Measure.HEART_RATE: 101.0, Measure.FIO2: 0.4, Measure.CREATININE: 1.3, Measure.LACTATE: 2.6,
        Measure.WBC: 13.1, Measure.PLATELETS: 140.0}
    # SpO2 20, FiO2 0 and base excess 100 are implausible: rejected and counted; HR kept.
    assert _by_measure(hour4.observations) == {Measure.HEART_RATE: 103.0}
    assert counts.rejected == {("spo2", "implausible_value"): 2, ("fio2", "implausible_value"): 1,
                               ("base_excess", "implausible_value"): 1}
    assert _by_measure(hour6.observations) == {
        Measure.RESPIRATORY_RATE: 30.0, Measure.PH: 7.31, Measure.PACO2: 30.0, Measure.MAGNESIUM: 2.0,
        Measure.BILIRUBIN: 1.4}
    assert counts.accepted == 7 + 6 + 1 + 5


def test_observation_fields_ids_and_parts() -> None:
    record = read_psv(DATA / "handmade_a.psv")
    message = next(hour_messages(record, BASE))
    obs = message.observations
    assert all(o.unit == MEASURES[Measure(o.measure)].unit for o in obs)
    assert all(o.source is Source.REPLAY and o.patient_key == "handmade_a" for o in obs)
    assert all(o.effective_at == o.received_at == BASE + timedelta(hours=2) for o in obs)
    assert obs[0].source_id == "physionet:handmade_a:2:HR"
    assert obs[0].source_message_id == message.message_id == "physionet:handmade_a:2"
    assert len({o.source_id for o in obs}) == len(obs)
    # Parts are numbered within the row exactly as ingest numbers a message's observations.
    renumbered = number_parts([o.model_copy(update={"part": None, "parts": None}) for o in obs])
    assert [(o.part, o.parts) for o in obs] == [(o.part, o.parts) for o in renumbered]
    assert [(o.part, o.parts) for o in obs] == [(i, 7) for i in range(7)]
    # Replaying twice gives identical events (deterministic ids for de-duplication).
    again = next(hour_messages(read_psv(DATA / "handmade_a.psv"), BASE))
    assert again.observations == obs


def test_admission_event_carries_age_sex_and_unit() -> None:
    a = admit_event(read_psv(DATA / "handmade_a.psv"), BASE)
    assert a.event is PatientEventKind.ADMIT and a.event_time == BASE
    assert a.age_years == 71.5 and a.sex is Sex.MALE
    assert a.location is not None and a.location.unit == "SICU"
    b = admit_event(read_psv(DATA / "handmade_b.psv"), BASE)
    assert b.sex is Sex.FEMALE and b.location is None and b.age_years == 45


def test_real_rows_of_p000001() -> None:
    record = read_psv(REAL / "p000001.psv")
    assert record.n_hours == 54
    assert not record.labels.any()
    messages = list(hour_messages(record, BASE))
    first = messages[0]
    assert first.iculos == 2  # ICULOS 1 has no measurement
    assert _by_measure(first.observations) == {
        Measure.HEART_RATE: 97.0, Measure.SPO2: 95.0, Measure.SYSTOLIC_BP: 98.0, Measure.MEAN_BP: 75.33,
        Measure.RESPIRATORY_RATE: 19.0}
    hour4 = next(m for m in messages if m.iculos == 4)
    # 90|95|NaN|NaN|NaN|NaN|30|NaN|24|NaN|NaN|7.36|100|...: BaseExcess 24, pH 7.36, PaCO2 100.
    assert _by_measure(hour4.observations) == {
        Measure.HEART_RATE: 90.0, Measure.SPO2: 95.0, Measure.RESPIRATORY_RATE: 30.0, Measure.BASE_EXCESS: 24.0,
        Measure.PH: 7.36, Measure.PACO2: 100.0}
    admit = admit_event(record, BASE)
    assert admit.age_years == 83.14 and admit.sex is Sex.FEMALE


def test_real_septic_labels() -> None:
    record = read_psv(REAL / "p000009.psv")
    labels = record.labels
    assert labels.any()
    first = int(np.argmax(labels))
    assert labels[first:].all() and not labels[:first].any()
    assert (record.iculos == np.arange(1, record.n_hours + 1)).all()


def test_bad_files_are_refused_with_the_file_name(tmp_path: Path) -> None:
    bad_header = tmp_path / "x1.psv"
    bad_header.write_text("HR|O2Sat\n1|2\n")
    with pytest.raises(ValueError, match=r"x1\.psv: header"):
        read_psv(bad_header)
    short_row = tmp_path / "x2.psv"
    short_row.write_text("|".join(PSV_HEADER) + "\n" + "|".join(["NaN"] * 40) + "\n")
    with pytest.raises(ValueError, match=r"x2\.psv: 40 cells"):
        read_psv(short_row)


def test_fields_path_carries_exactly_what_the_validated_messages_carry() -> None:
    # The offline evaluation feeds hour_fields to DetectorEngine.process_fields; the replays send hour_messages.
    for path in sorted(REAL.glob("*.psv"))[:20]:
        record = read_psv(path)
        counts_messages, counts_fields = ConversionCounts(), ConversionCounts()
        messages = list(hour_messages(record, BASE, counts=counts_messages))
        fields = list(hour_fields(record, BASE, counts=counts_fields))
        assert [(m.row, m.iculos, m.message_id, event_seconds(m.event_time)) for m in messages] == [
            (f.row, f.iculos, f.message_id, f.event_s) for f in fields]
        assert [[(Measure(o.measure), o.value, o.source_id) for o in m.observations] for m in messages] == [
            list(f.items) for f in fields]
        assert (counts_messages.accepted, counts_messages.rejected) == (counts_fields.accepted, counts_fields.rejected)
