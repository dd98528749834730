"""Every message of the shared HL7 v2 corpus parses, or is rejected with a clear reason where it is malformed.

The corpus (../shared/corpora/hl7v2, see MANIFEST.md) holds third-party messages
byte for byte; a good sample of them is asserted field by field below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.hl7v2 import Hl7Normaliser, split_messages
from ingest.core.result import Normalised
from schemas.patient_event import PatientEvent, PatientEventKind, Sex

CORPUS = Path("/work/shared/corpora/hl7v2")
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)

# Messages that are really malformed, with the reason a sender would see (location: words).
EXPECTED_REJECTIONS = {
    "linuxforhealth_ADT_A01_win_CRLF_malformed.hl7#1": ("MSH-2", "a delimiter is used twice"),
    "nhapi_fuzz_leading_NUL.hl7#1": ("MSH-2", "a delimiter is used twice"),
    "nhapi_fuzz_regex_ACK.hl7#1": ("MSH-2", "letters, digits, white space and control characters are not delimiters"),
    "nhapi_fuzz_stackoverflow_ADT_A40.hl7#1": ("MSH-2", "need 4"),
    "nhapi_multi_OML_O21_CRLF.hl7#5": ("MSH-10", "message control id is empty"),
    "nhapi_multi_OML_O21_CRLF.hl7#7": ("MSH-10", "message control id is empty"),
}


def _all_messages() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(CORPUS.glob("*.hl7")):
        for n, raw in enumerate(split_messages(path.read_bytes()), 1):
            out.append((f"{path.name}#{n}", raw))
    return out


MESSAGES = _all_messages()
NORMALISER = Hl7Normaliser(IngestSettings(max_event_age_days=73000))  # corpus dates span decades


def test_the_corpus_is_there() -> None:
    assert len(list(CORPUS.glob("*.hl7"))) >= 45 and len(MESSAGES) >= 70


@pytest.mark.parametrize(("name", "raw"), MESSAGES, ids=[n for n, _ in MESSAGES])
def test_every_corpus_message_parses_or_is_rejected_with_a_reason(name: str, raw: bytes) -> None:
    expected = EXPECTED_REJECTIONS.get(name)
    if expected is None:
        result = NORMALISER.normalise(raw, RECEIVED)
        assert isinstance(result, Normalised) and result.message_id
        return
    with pytest.raises(InputRejected) as err:
        NORMALISER.normalise(raw, RECEIVED)
    assert (err.value.location, expected[1]) == (expected[0], expected[1])
    assert expected[1] in err.value.message


# Messages whose valid observations are accepted while single OBX are refused (docs/hl7v2-acks.md).
EXPECTED_PARTIAL = {
    "fhir-converter_ORU_R01_LRI_CBC_NIST_BOM.hl7#1": (3, [("OBX[2]-6", "unit 'g/mL' is not accepted for hemoglobin")]),
}


def test_a_corpus_message_with_one_bad_unit_keeps_its_valid_observations() -> None:
    for name, (stored, refused) in EXPECTED_PARTIAL.items():
        result = NORMALISER.normalise(dict(MESSAGES)[name], RECEIVED)
        assert len(result.observations) == stored
        assert [(e.location, refused[i][1] in e.message) for i, e in enumerate(result.rejected)] == [
            (where, True) for where, _ in refused]


def _with_bad_obx(raw: bytes) -> tuple[bytes, str]:
    """`raw` with an implausible heart rate OBX appended, in the message's own delimiters and line ends."""
    text = raw.decode("utf-8", errors="surrogateescape")
    start = text.index("MSH")  # after a byte-order mark or leading junk, if any
    field, component = text[start + 3], text[start + 4]
    end = next(sep for sep in ("\r\n", "\r", "\n") if sep in text)
    body = text.rstrip("\r\n")
    count = sum(1 for line in body.split(end) if line.startswith("OBX"))
    obx = field.join(["OBX", "99", "NM", component.join(["8867-4", "Heart rate", "LN"]), "", "900", "/min", "", "",
                      "", "", "F", "", "", "20240101120000"])
    return (body + end + obx + end).encode("utf-8", errors="surrogateescape"), f"OBX[{count + 1}]-5"


ORU_MESSAGES = [(n, raw) for n, raw in MESSAGES if b"ORU" in raw.split(b"\r")[0].split(b"\n")[0]
                and n not in EXPECTED_REJECTIONS]


@pytest.mark.parametrize(("name", "raw"), ORU_MESSAGES, ids=[n for n, _ in ORU_MESSAGES])
def test_an_implausible_obx_added_to_any_corpus_oru_costs_only_itself(name: str, raw: bytes) -> None:
    before = NORMALISER.normalise(raw, RECEIVED)
    bad, where = _with_bad_obx(raw)
    if not before.observations:  # nothing else to keep: the message is rejected, naming the bad OBX
        with pytest.raises(InputRejected) as err:
            NORMALISER.normalise(bad, RECEIVED)
        assert where in str(err.value) or err.value.code in ("missing_patient_id", "parse_error"), str(err.value)
        return
    after = NORMALISER.normalise(bad, RECEIVED)
    assert after.observations == before.observations
    assert [e.location for e in after.rejected] == [e.location for e in before.rejected] + [where]
    assert after.rejected[-1].code == "implausible_value"


def _one(name: str) -> PatientEvent:
    raw = dict(MESSAGES)[name]
    [event] = NORMALISER.normalise(raw, RECEIVED).events
    assert isinstance(event, PatientEvent)
    return event


def test_fhir_converter_adt_a01_field_by_field() -> None:
    e = _one("fhir-converter_ADT_A01_01.hl7#1")
    assert (e.event, e.trigger, e.patient_key) == (PatientEventKind.ADMIT, "ADT^A01", "PATID1234")
    assert e.event_time == datetime(2021, 8, 17, 15, 19, 43, 400000, tzinfo=timezone(timedelta(hours=2)))  # EVN-6
    assert (e.birth_date, e.age_years, e.sex) == (date(1988, 8, 18), 32.0, Sex.MALE)  # birthday the next day
    assert e.location is not None and e.prior_location is not None
    assert (e.location.unit, e.location.room, e.location.bed, e.location.facility) == (
        "HUH AE OMU", "OMU B", "Bed 03", "HOMERTON UNIVER")
    assert (e.prior_location.room, e.prior_location.bed, e.prior_location.facility) == ("136", "B", "CommunityHospital")
    assert e.source_message_id == "MSG00001" and e.received_at == RECEIVED


def test_hapi_adt_a01_cr_only_field_by_field() -> None:
    e = _one("hapi-hl7v2_ADT_A01_v24_CR.hl7#1")
    assert (e.patient_key, e.sex, e.age_years) == ("2216506", Sex.MALE, 29.0)  # PID-3 without type: the first
    assert e.event_time == datetime(2001, 5, 23, 19, 27, tzinfo=UTC)  # EVN-2 in the site zone (UTC)
    assert e.location is not None and (e.location.unit, e.location.room, e.location.bed) == (
        "ZFAST TRACK", "WAITING", "13")


def test_nhapi_adt_a03_crlf_field_by_field() -> None:
    e = _one("nhapi_ADT_A03_v25_CRLF.hl7#1")
    assert (e.event, e.patient_key, e.sex, e.age_years) == (PatientEventKind.DISCHARGE, "5520255", Sex.FEMALE, 24.0)
    assert e.event_time == datetime(2008, 3, 3, 15, 8, tzinfo=UTC)


def test_cancels_and_transfer_from_the_corpus() -> None:
    assert _one("fhir-converter_ADT_A11_02.hl7#1").cancels is PatientEventKind.ADMIT
    assert _one("fhir-converter_ADT_A13_01.hl7#1").cancels is PatientEventKind.DISCHARGE
    assert _one("fhir-converter_ADT_A02_02.hl7#1").event is PatientEventKind.TRANSFER


def test_lab_results_without_sepsis_measures_are_skipped_not_rejected() -> None:
    result = NORMALISER.normalise(dict(MESSAGES)["fhir-converter_ORU_R01_RMGEAD_v24_SN.hl7#1"], RECEIVED)
    assert result.events == [] and [(s.location, s.reason, s.detail) for s in result.skipped] == [
        ("OBX[1]-3", "unknown_code", "1554-5")]


def test_batches_and_multi_message_files_are_split() -> None:
    names = [n for n, _ in MESSAGES]
    assert sum(n.startswith("prime-reportstream_ORU_R01_batch_FHS_BHS_CR.hl7#") for n in names) == 20
    assert sum(n.startswith("nhapi_multi_OML_O21_CRLF.hl7#") for n in names) == 7
    assert sum(n.startswith("prime-reportstream_ORU_R01_two_messages_LF.hl7#") for n in names) == 2


def test_other_message_types_are_ignored_or_rejected_by_configuration() -> None:
    raw = dict(MESSAGES)["fhir-converter_OUL_R23_02.hl7#1"]
    assert [s.reason for s in NORMALISER.normalise(raw, RECEIVED).skipped] == ["ignored_message_type"]
    strict = Hl7Normaliser(IngestSettings(reject_unsupported_messages=True))
    with pytest.raises(InputRejected) as err:
        strict.normalise(raw, RECEIVED)
    assert err.value.location == "MSH-9" and "OUL^R23" in err.value.message
