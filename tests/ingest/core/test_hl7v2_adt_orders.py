"""ADT -> PatientEvent and ORM/OML/RDE/RAS -> CareEvent (hand-written messages, fake patients)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected, MissingField
from ingest.core.hl7v2 import Hl7Normaliser
from ingest.core.hl7v2.orders import rate_to_canonical
from schemas.care_event import CareEvent, CareEventKind, Vasopressor
from schemas.patient_event import PatientEvent, PatientEventKind, Sex
from tests.ingest.core.samples import ADT_A01

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields set (1-based), the others empty, ending with CR."""
    values = [""] * max(fields)
    for n, v in fields.items():
        values[n - 1] = v
    return "|".join([name, *values]) + "\r"
NORMALISER = Hl7Normaliser(IngestSettings())


def _events(raw: str) -> list:
    return NORMALISER.normalise(raw.encode(), RECEIVED).events


def test_adt_a01_sample() -> None:
    [e] = _events(ADT_A01)
    assert isinstance(e, PatientEvent)
    assert (e.event, e.patient_key, e.sex, e.age_years, e.encounter_id) == (
        PatientEventKind.ADMIT, "123456", Sex.FEMALE, 63.0, "V7788")
    assert e.event_time == datetime(2024, 3, 1, 7, 55, tzinfo=UTC)  # EVN-6 before EVN-2


@pytest.mark.parametrize(("trigger", "kind", "cancels"), [
    ("A01", PatientEventKind.ADMIT, None), ("A04", PatientEventKind.ADMIT, None),
    ("A02", PatientEventKind.TRANSFER, None), ("A03", PatientEventKind.DISCHARGE, None),
    ("A08", PatientEventKind.UPDATE, None), ("A11", PatientEventKind.CANCEL, PatientEventKind.ADMIT),
    ("A12", PatientEventKind.CANCEL, PatientEventKind.TRANSFER),
    ("A13", PatientEventKind.CANCEL, PatientEventKind.DISCHARGE),
])
def test_adt_triggers(trigger: str, kind: PatientEventKind, cancels: PatientEventKind | None) -> None:
    [e] = _events(ADT_A01.replace("ADT^A01^ADT_A01", f"ADT^{trigger}").replace("EVN|A01", f"EVN|{trigger}"))
    assert (e.event, e.cancels, e.trigger) == (kind, cancels, f"ADT^{trigger}")


def test_transfer_carries_the_prior_location() -> None:
    raw = ADT_A01.replace("ADT^A01^ADT_A01", "ADT^A02").replace(
        "PV1|1|I|MICU^12^B^HOSP|", "PV1|1|I|MICU^12^B^HOSP|||4W^401^A^HOSP|")
    [e] = _events(raw)
    assert e.prior_location is not None and (e.prior_location.unit, e.prior_location.room) == ("4W", "401")


def test_a40_merge() -> None:
    raw = ("MSH|^~\\&|ADT|HOSP|SEPSIS|HOSP|20240301080000||ADT^A40^ADT_A39|M40|P|2.5\r"
           "EVN|A40|20240301080000\rPID|1||NEW1^^^HOSP^MR||DOE^J||19600302|F\rMRG|OLD9^^^HOSP^MR\r")
    [e] = _events(raw)
    assert (e.event, e.patient_key, e.merged_from_key) == (PatientEventKind.MERGE, "NEW1", "OLD9")
    with pytest.raises(MissingField):
        _events(raw.replace("MRG|OLD9^^^HOSP^MR\r", ""))


def test_birth_date_after_the_event_is_rejected() -> None:
    with pytest.raises(InputRejected) as err:
        _events(ADT_A01.replace("19600302", "20250101"))
    assert err.value.location == "PID[1]-7" and "after the event time" in err.value.message


def test_unsupported_adt_trigger_is_ignored() -> None:
    result = NORMALISER.normalise(ADT_A01.replace("ADT^A01^ADT_A01", "ADT^A31").encode(), RECEIVED)
    assert result.events == [] and result.skipped[0].reason == "ignored_message_type"


ORDER_HEAD = ("MSH|^~\\&|CPOE|HOSP|SEPSIS|HOSP|20240301090000||{type}|O1|P|2.5.1\r"
              "PID|1||123456^^^HOSP^MR\rPV1|1|I|MICU^12^B\r")


def test_blood_culture_order_and_its_cancellation() -> None:
    order = ORDER_HEAD.format(type="ORM^O01") + seg("ORC", {1: "NW", 2: "PL100^CPOE", 9: "20240301085500"}) + \
        "OBR|1|PL100^CPOE||600-7^Bacteria identified in Blood by Culture^LN\r"
    [e] = _events(order)
    assert isinstance(e, CareEvent)
    assert (e.event, e.code, e.code_system, e.patient_key) == (
        CareEventKind.BLOOD_CULTURE_ORDERED, "600-7", "http://loinc.org", "123456")
    assert e.event_time == datetime(2024, 3, 1, 8, 55, tzinfo=UTC) and e.source_id == "CPOE|HOSP|PL100"
    assert e.location is not None and e.location.unit == "MICU"
    [c] = _events(order.replace("ORC|NW", "ORC|CA"))
    assert (c.event, c.cancels_source_id) == (CareEventKind.CANCELLED, e.source_id)


def test_oml_culture_by_text_keyword_and_other_orders_skipped() -> None:
    raw = ORDER_HEAD.format(type="OML^O21") + ("ORC|NW|PL7\rOBR|1|PL7||BCX^Blood culture x2^L\r"
                                               "ORC|NW|PL8\rOBR|1|PL8||GLU^Glucose^L\r")
    result = NORMALISER.normalise(raw.encode(), RECEIVED)
    assert [e.event for e in result.events] == [CareEventKind.BLOOD_CULTURE_ORDERED]
    assert [(s.location, s.reason) for s in result.skipped] == [("OBR[2]-4", "not_sepsis_relevant")]


def test_rde_antibiotic_and_vasopressor_orders() -> None:
    raw = ORDER_HEAD.format(type="RDE^O11") + "".join([
        seg("ORC", {1: "NW", 2: "RX1", 9: "20240301091000"}),
        seg("RXE", {1: "1", 2: "2193^ceftriaxone^RXNORM", 3: "2", 5: "g"}),
        seg("ORC", {1: "NW", 2: "RX2", 9: "20240301091500"}),
        seg("RXE", {1: "1", 2: "7512^norepinephrine^RXNORM", 3: "4", 5: "mg", 23: "0.08", 24: "ug/kg/min"}),
        seg("ORC", {1: "XO", 2: "RX2", 9: "20240301093000"}),
        seg("RXE", {1: "1", 2: "L123^Levophed 4 mg in 250 mL^L", 3: "4", 5: "mg", 23: "6", 24: "mcg/min"})])
    abx, start, change = _events(raw)
    assert (abx.event, abx.code, abx.code_system) == (
        CareEventKind.ANTIBIOTIC_ORDERED, "2193", "http://www.nlm.nih.gov/research/umls/rxnorm")
    assert (start.event, start.drug, start.rate, start.rate_unit) == (
        CareEventKind.VASOPRESSOR_STARTED, Vasopressor.NOREPINEPHRINE, 0.08, "ug/kg/min")
    assert (change.event, change.drug, change.rate, change.rate_unit) == (  # matched by name in the text
        CareEventKind.VASOPRESSOR_RATE_CHANGED, Vasopressor.NOREPINEPHRINE, 6.0, "ug/min")
    assert change.source_id == start.source_id


def test_ras_administrations() -> None:
    raw = ORDER_HEAD.format(type="RAS^O17") + "".join([
        "ORC|RE|RX1\r", seg("RXA", {1: "0", 2: "1", 3: "20240301093000", 5: "2193^ceftriaxone^RXNORM", 6: "2",
                                    7: "g", 20: "CP"}),
        "ORC|RE|RX2\r", seg("RXA", {1: "0", 2: "1", 3: "20240301094000", 5: "11149^vasopressin^RXNORM",
                                    6: "0.04", 7: "U/min", 20: "CP", 21: "A"}),
        "ORC|RE|RX3\r", seg("RXA", {1: "0", 2: "1", 3: "20240301095000", 5: "2193^ceftriaxone^RXNORM", 6: "2",
                                    7: "g", 20: "RE"}),
        "ORC|RE|RX2\r", seg("RXA", {1: "0", 2: "2", 3: "20240301100000", 5: "11149^vasopressin^RXNORM",
                                    6: "0", 7: "U/min", 20: "CP", 21: "U"})])
    result = NORMALISER.normalise(raw.encode(), RECEIVED)
    given, vaso, stopped = result.events
    assert (given.event, given.event_time) == (CareEventKind.ANTIBIOTIC_GIVEN, datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    assert (vaso.event, vaso.drug, vaso.rate, vaso.rate_unit) == (
        CareEventKind.VASOPRESSOR_STARTED, Vasopressor.VASOPRESSIN, 0.04, "U/min")
    assert stopped.event is CareEventKind.VASOPRESSOR_STOPPED
    assert [(s.location, s.reason) for s in result.skipped] == [("RXA[3]-20", "not_administered")]


@pytest.mark.parametrize(("amount", "unit", "expected"), [
    (0.1, "mcg/kg/min", (0.1, "ug/kg/min")), (6, "ug/kg/hr", (0.1, "ug/kg/min")), (10, "mcg/min", (10, "ug/min")),
    (0.6, "mg/h", (10.0, "ug/min")), (2.4, "units/hour", (0.04, "U/min")), (1, "mL/h", None),
])
def test_rate_units(amount: float, unit: str, expected: tuple[float, str] | None) -> None:
    assert rate_to_canonical(amount, unit) == expected


def test_order_without_patient_is_rejected() -> None:
    raw = ("MSH|^~\\&|CPOE|HOSP|SEPSIS|HOSP|20240301090000||ORM^O01|O1|P|2.5.1\r"
           "ORC|NW|PL100\rOBR|1|PL100||600-7^Blood culture^LN\r")
    with pytest.raises(MissingField) as err:
        _events(raw)
    assert err.value.location == "OBR[1]"
