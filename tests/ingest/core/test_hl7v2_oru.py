"""ORU^R01 normalisation: measures, values, units, times, statuses, ids, skips and rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.config import IngestSettings
from ingest.core.errors import ImplausibleValueError, InputRejected, MissingField, UnknownUnitError
from ingest.core.hl7v2 import Hl7Normaliser
from ingest.core.local_codes import LocalCodeMap, LocalCodesFile, load_local_codes
from schemas.observation import Observation, ResultStatus
from tests.ingest.core.samples import VITALS_ORU

RECEIVED = datetime(2024, 7, 2, 9, 30, tzinfo=UTC)
HEAD = "MSH|^~\\&|MON|ICU|SEP|H|20240301101500|{}|ORU^R01|M1|P|2.5\rPID|1||77^^^H^MR\rOBR|1||F1|X|||20240301100000\r"


def _norm(obx: str, settings: IngestSettings | None = None, local: LocalCodeMap | None = None,
          head: str = HEAD) -> list[Observation]:
    n = Hl7Normaliser(settings or IngestSettings(), local_codes=local)
    return n.normalise((head.format("") + obx).encode(), RECEIVED).observations


def test_vitals_sample_field_by_field() -> None:
    result = Hl7Normaliser(IngestSettings()).normalise(VITALS_ORU.encode(), RECEIVED)
    assert result.message_id == "MSG00001" and result.message_type == "ORU^R01"
    assert result.sender == "MONITOR|ICU-GW" and result.skipped == []
    plus1 = timezone(timedelta(hours=1))
    got = [(o.measure.value, o.code, o.value, o.unit, o.effective_at, o.status, o.part, o.parts)
           for o in result.observations]
    obr_time = datetime(2024, 3, 1, 10, 10, tzinfo=plus1)
    assert got == [
        ("heart_rate", "8867-4", 118.0, "/min", datetime(2024, 3, 1, 10, 5, tzinfo=plus1), ResultStatus.FINAL, 0, 6),
        ("respiratory_rate", "9279-1", 24.0, "/min", obr_time, ResultStatus.FINAL, 1, 6),
        ("temperature", "8310-5", 38.33, "Cel", obr_time, ResultStatus.FINAL, 2, 6),  # 101.0 degF, §1.6 example
        ("systolic_bp", "8480-6", 88.0, "mm[Hg]", obr_time, ResultStatus.FINAL, 3, 6),
        ("diastolic_bp", "8462-4", 52.0, "mm[Hg]", obr_time, ResultStatus.FINAL, 4, 6),
        ("spo2", "59408-5", 93.0, "%", obr_time, ResultStatus.FINAL, 5, 6),
    ]
    first = result.observations[0]
    assert first.patient_key == "123456"  # the MR identifier, not the SSN repetition
    assert first.location is not None and (first.location.unit, first.location.room, first.location.bed,
                                           first.location.facility) == ("MICU", "12", "B", "HOSP")
    assert first.encounter_id == "V7788" and first.source_message_id == "MSG00001"
    assert first.source_id == "MONITOR|ICU-GW|FL-77^MONITOR|8867-4|"
    assert first.received_at == RECEIVED and first.code_system == "http://loinc.org"


@pytest.mark.parametrize(("obx", "value", "unit"), [
    ("OBX|1|NM|8867-4^HR^LN||88|bpm|||||F", 88.0, "/min"),
    ("OBX|1|NM|X^local^L^8867-4^HR^LN||88|beats/min^^ISO|||||F", 88.0, "/min"),  # LOINC in the alternate triplet
    ("OBX|1|CWE|X^y^L^^^^^^^8867-4^HR^LN||88|/min|||||F", None, None),  # CWE-10..12, but value is coded
    ("OBX|1|ST|8310-5^T^LN||37.2 |deg C|||||F", 37.2, "Cel"),  # ST holding a number
    ("OBX|1|SN|2524-7^Lactate^LN||^4.1|mmol/L|||||F", 4.1, "mmol/L"),
    ("OBX|1|SN|2524-7^Lactate^LN||=^4.1|mmol/L|||||F", 4.1, "mmol/L"),
    ("OBX|1|NM|2524-7^Lactate^LN||36|mg/dL|||||F", 4.0, "mmol/L"),  # 36 / 9.008 = 3.996 -> 4.00
    ("OBX|1|NM|2160-0^Creat^LN||97|umol/L|||||F", 1.1, "mg/dL"),
    ("OBX|1|NM|6690-2^WBC^LN||12.3|K/uL|||||F", 12.3, "10*9/L"),
    ("OBX|1|NM|777-3^PLT^LN||150000|/uL|||||F", 150.0, "10*9/L"),
    ("OBX|1|NM|3150-0^FiO2^LN||40|%|||||F", 0.4, "1"),
    ("OBX|1|NM|9269-2^GCS^LN||14||||||F", 14.0, "{score}"),
    ("OBX|1|NM|8480-6^SBP^LN||16|kPa|||||F", 120.01, "mm[Hg]"),
])
def test_values_and_units(obx: str, value: float | None, unit: str | None) -> None:
    got = _norm(obx)
    if value is None:
        assert got == []
    else:
        assert [(o.value, o.unit) for o in got] == [(value, unit)]


@pytest.mark.parametrize(("obx", "reason"), [
    ("OBX|1|NM|1234-5^Other^LN||88|/min|||||F", "unknown_code"),
    ("OBX|1|NM|8867-4^HR^L||88|/min|||||F", "unknown_code"),  # a local system is not LOINC
    ("OBX|1|SN|777-3^PLT^LN||>^50|10*9/L|||||F", "censored_value"),
    ("OBX|1|SN|2524-7^Lactate^LN||<^0.5|mmol/L|||||F", "censored_value"),
    ("OBX|1|SN|777-3^PLT^LN||^100^-^150|10*9/L|||||F", "range_value"),
    ("OBX|1|NM|8867-4^HR^LN||60~120|/min|||||F", "repeated_value"),
    ("OBX|1|ST|8867-4^HR^LN||see note|/min|||||F", "non_numeric"),
    ("OBX|1|TX|8867-4^HR^LN|||/min|||||F", "data_absent"),
    ("OBX|1|CWE|8867-4^HR^LN||high^^L|/min|||||F", "non_numeric"),
    ("OBX|1|NM|8867-4^HR^LN||88|/min|||||I", "no_result_status"),
])
def test_skipped_results_are_counted(obx: str, reason: str) -> None:
    result = Hl7Normaliser(IngestSettings()).normalise((HEAD.format("") + obx).encode(), RECEIVED)
    assert result.events == [] and [s.reason for s in result.skipped] == [reason]
    assert result.skipped[0].location.startswith("OBX[1]-")


@pytest.mark.parametrize(("obx", "error", "location"), [
    ("OBX|1|NM|8867-4^HR^LN||88|furlongs|||||F", UnknownUnitError, "OBX[1]-6"),
    ("OBX|1|NM|6690-2^WBC^LN||12|||||F", UnknownUnitError, "OBX[1]-6"),  # never guessed from the number
    ("OBX|1|NM|8867-4^HR^LN||400|/min|||||F", ImplausibleValueError, "OBX[1]-5"),
    ("OBX|1|NM|59408-5^SpO2^LN||101|%|||||F", ImplausibleValueError, "OBX[1]-5"),
    ("OBX|1|NM|8867-4^HR^LN||88|/min|||||F|||2024-03-01", InputRejected, "OBX[1]-14"),
    ("OBX|1|NM|9269-2^GCS^LN||14.5||||||F", InputRejected, "OBX[1]"),
    ("OBX|1|CWE|67775-7^AVPU^LN||maybe^^L||||||F", ImplausibleValueError, "OBX[1]-5"),
])
def test_rejections_name_the_field(obx: str, error: type[InputRejected], location: str) -> None:
    with pytest.raises(error) as err:
        _norm(obx)
    assert err.value.location == location


def test_bad_obx_are_refused_one_by_one_and_the_valid_one_kept() -> None:
    raw = (HEAD.format("") + "OBX|1|NM|8867-4^HR^LN||88|/min|||||F\rOBX|2|NM|9279-1^RR^LN||20|xyz|||||F\r"
           "OBX|3|NM|8310-5^T^LN||99|Cel|||||F").encode()
    result = Hl7Normaliser(IngestSettings()).normalise(raw, RECEIVED)
    assert [(o.measure.value, o.value, o.part, o.parts) for o in result.observations] == [("heart_rate", 88.0, 0, 1)]
    assert [(e.location, e.code) for e in result.rejected] == [("OBX[2]-6", "unknown_unit"),
                                                               ("OBX[3]-5", "implausible_value")]


def test_when_no_obx_is_left_every_bad_obx_is_named_and_the_whole_message_is_rejected() -> None:
    with pytest.raises(UnknownUnitError) as err:
        _norm("OBX|1|NM|9279-1^RR^LN||20|xyz|||||F\rOBX|2|NM|8310-5^T^LN||99|Cel|||||F")
    assert err.value.location == "OBX[1]-6" and "OBX[2]-5" in err.value.message


@pytest.mark.parametrize(("status", "expected"), [
    ("F", ResultStatus.FINAL), ("", ResultStatus.FINAL), ("P", ResultStatus.PRELIMINARY),
    ("C", ResultStatus.CORRECTED), ("X", ResultStatus.CANCELLED), ("D", ResultStatus.CANCELLED),
    ("W", ResultStatus.CANCELLED),
])
def test_result_status(status: str, expected: ResultStatus) -> None:
    [obs] = _norm(f"OBX|1|NM|8867-4^HR^LN||88|/min|||||{status}")
    assert obs.status is expected
    assert obs.value == (None if expected is ResultStatus.CANCELLED else 88.0)


def test_correction_shares_the_source_id_of_the_original() -> None:
    [original] = _norm("OBX|1|NM|8867-4^HR^LN|1|88|/min|||||F")
    [corrected] = _norm("OBX|1|NM|8867-4^HR^LN|1|92|/min|||||C")
    assert corrected.source_id == original.source_id and corrected.status is ResultStatus.CORRECTED


def test_source_id_without_an_order_uses_patient_code_and_time() -> None:
    head = "MSH|^~\\&|MON|ICU|SEP|H|20240301101500||ORU^R01|M1|P|2.5\rPID|1||77^^^H^MR\r"
    [obs] = _norm("OBX|1|NM|8867-4^HR^LN||88|/min|||||F|||20240301100000", head=head)
    assert obs.source_id == "MON|ICU|77|8867-4||2024-03-01T10:00:00+00:00"


@pytest.mark.parametrize(("obx_time", "zone", "expected"), [
    ("20240301100000+0530", "Europe/London", datetime(2024, 3, 1, 4, 30, tzinfo=UTC)),  # explicit offset wins
    ("20240701100000", "Europe/London", datetime(2024, 7, 1, 9, 0, tzinfo=UTC)),  # BST from the site zone
    ("", "UTC", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),  # falls back to OBR-7
])
def test_time_zones(obx_time: str, zone: str, expected: datetime) -> None:
    [obs] = _norm(f"OBX|1|NM|8867-4^HR^LN||88|/min|||||F|||{obx_time}", IngestSettings(site_timezone=zone))
    assert obs.effective_at == expected


def test_time_falls_back_to_msh7_without_obr() -> None:
    head = "MSH|^~\\&|MON|ICU|SEP|H|20240301101500-0500||ORU^R01|M1|P|2.5\rPID|1||77^^^H^MR\r"
    [obs] = _norm("OBX|1|NM|8867-4^HR^LN||88|/min|||||F", head=head)
    assert obs.effective_at == datetime(2024, 3, 1, 15, 15, tzinfo=UTC)


@pytest.mark.parametrize(("answer", "letter"), [
    ("248234008^Alert^SCT", "A"), ("300202002^Voice^SCT", "V"), ("450847001^Pain^SCT", "P"),
    ("422768004^Unresponsive^SCT", "U"), ("C^New confusion^L", "C"), ("^Alert", "A"), ("NEWCONF^^L", "C"),
])
def test_consciousness_answers(answer: str, letter: str) -> None:
    local = LocalCodeMap(LocalCodesFile(consciousness_answers={"NEWCONF": "C"}))
    [obs] = _norm(f"OBX|1|CWE|1104441000000107^ACVPU^SCT||{answer}||||||F", local=local)
    assert (obs.measure.value, obs.value_code, obs.value, obs.unit) == ("consciousness", letter, None, "{ACVPU}")


def test_local_codes_from_the_example_file() -> None:
    path = Path(__file__).resolve().parents[3] / "ingest" / "core" / "data" / "local_codes.example.yaml"
    local = load_local_codes(path)
    [hr, temp] = _norm("OBX|1|NM|HR^Heart rate^MONITOR||72||||||F\rOBX|2|NM|TEMPF^Temp||100.4|||||F", local=local)
    assert (hr.measure.value, hr.value, hr.code, hr.code_system) == ("heart_rate", 72.0, "HR", "MONITOR")
    assert (temp.measure.value, temp.value) == ("temperature", 38.0)  # configured unit [degF] used: 100.4 F
    assert _norm("OBX|1|NM|HR^Heart rate^OTHER||72||||||F", local=local) == []  # HR is MONITOR-only


def test_missing_patient_is_rejected() -> None:
    head = "MSH|^~\\&|MON|ICU|SEP|H|20240301101500||ORU^R01|M1|P|2.5\rPID|1||\r"
    with pytest.raises(MissingField) as err:
        _norm("OBX|1|NM|8867-4^HR^LN||88|/min|||||F", head=head)
    assert err.value.location == "PID[1]-3"


def test_several_patients_in_one_message() -> None:
    raw = (HEAD.format("") + "OBX|1|NM|8867-4^HR^LN||88|/min|||||F\rPID|2||78^^^H^MR\r"
           "OBX|2|NM|8867-4^HR^LN||90|/min|||||F\rOBX|3|NM|9279-1^RR^LN||20|/min|||||F")
    obs = Hl7Normaliser(IngestSettings()).normalise(raw.encode(), RECEIVED).observations
    assert [(o.patient_key, o.part, o.parts) for o in obs] == [("77", 0, 1), ("78", 0, 2), ("78", 1, 2)]


@settings(max_examples=60, deadline=None)
@given(hr=st.integers(0, 300), rr=st.integers(0, 80), temp_f=st.integers(800, 1100),
       unit=st.sampled_from(["/min", "bpm", "beats/min", "{beats}/min^^UCUM", "/min^per minute^UCUM"]),
       sep=st.sampled_from(["\r", "\n", "\r\n"]))
def test_generated_vitals_normalise_to_their_values(hr: int, rr: int, temp_f: int, unit: str, sep: str) -> None:
    raw = sep.join([
        "MSH|^~\\&|MON|ICU|SEP|H|20240301101500||ORU^R01|G1|P|2.5.1", "PID|1||55^^^H^MR",
        f"OBX|1|NM|8867-4^HR^LN||{hr}|{unit}|||||F", f"OBX|2|NM|9279-1^RR^LN||{rr}|{unit}|||||F",
        f"OBX|3|NM|8310-5^T^LN||{temp_f / 10}|[degF]|||||F"])
    obs = Hl7Normaliser(IngestSettings()).normalise(raw.encode(), RECEIVED).observations
    celsius = (temp_f / 10 - 32) * 5 / 9
    if not 25 <= round(celsius, 2) <= 45:
        return
    assert [o.value for o in obs[:2]] == [hr, rr]
    assert obs[2].value == pytest.approx(celsius, abs=0.006)
