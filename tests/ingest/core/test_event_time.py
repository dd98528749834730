"""The shared event-time window (ingest.core.event_time) and its use on both paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.event_time import EventTimeOutOfRange, EventTimeWindow
from ingest.core.fhir import normalise_fhir_document
from ingest.core.hl7v2 import Hl7Normaliser

RECEIVED = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
WINDOW = EventTimeWindow(max_future=timedelta(hours=1), max_age=timedelta(days=3650))


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=59), -timedelta(days=3649),
                                    -timedelta(hours=2)])
def test_times_inside_the_window_are_kept(offset: timedelta) -> None:
    assert WINDOW.check(RECEIVED + offset, RECEIVED, location="X-1") == RECEIVED + offset


@pytest.mark.parametrize(("offset", "words"), [(timedelta(minutes=61), "after receipt"),
                                                (-timedelta(days=3651), "before receipt")])
def test_times_outside_the_window_name_the_field_and_the_value(offset: timedelta, words: str) -> None:
    with pytest.raises(EventTimeOutOfRange) as info:
        WINDOW.check(RECEIVED + offset, RECEIVED, location="OBX[2]-14")
    assert info.value.code == "event_time_out_of_range" and info.value.location == "OBX[2]-14"
    assert words in info.value.message and (RECEIVED + offset).isoformat() in info.value.message


def test_settings_limits_are_configurable() -> None:
    window = IngestSettings(max_event_future_s=60, max_event_age_days=1).event_time_window()
    assert window == EventTimeWindow(max_future=timedelta(seconds=60), max_age=timedelta(days=1))
    with pytest.raises(ValueError):
        IngestSettings(max_event_future_s=-1)


def _oru(obx_time: str, obr_time: str = "") -> bytes:
    return ("MSH|^~\\&|MON|ICU|SEPSIS|HOSP|20240301100000+0000||ORU^R01|C1|P|2.5\r"
            "PID|1||4711^^^HOSP^MR\r"
            f"OBR|1|||vitals|||{obr_time}\r"
            f"OBX|1|NM|8867-4^HR^LN||90|/min|||||F|||{obx_time}\r").encode()


def test_hl7_window_applies_to_obx14_and_to_the_obr7_fallback() -> None:
    normaliser = Hl7Normaliser(IngestSettings())
    with pytest.raises(InputRejected) as info:
        normaliser.normalise(_oru("20240303110000+0000"), RECEIVED)
    assert info.value.location == "OBX[1]-14"
    with pytest.raises(InputRejected) as info:
        normaliser.normalise(_oru("", obr_time="18500101000000+0000"), RECEIVED)
    assert info.value.location == "OBX[1]-14 (from OBR[1]-7)"
    [obs] = normaliser.normalise(_oru("20240301100500+0000"), RECEIVED).observations
    assert obs.effective_at == datetime(2024, 3, 1, 10, 5, tzinfo=UTC)


def test_hl7_adt_event_time_is_checked() -> None:
    adt = (b"MSH|^~\\&|ADT|HOSP|SEPSIS|HOSP|20240301100000+0000||ADT^A01|A1|P|2.5\r"
           b"EVN|A01|23000101000000+0000\rPID|1||4711^^^HOSP^MR\rPV1|1|I|ICU^1^1\r")
    with pytest.raises(EventTimeOutOfRange) as info:
        Hl7Normaliser(IngestSettings()).normalise(adt, RECEIVED)
    assert info.value.location == "EVN-2"


def test_fhir_window_names_the_element_and_can_be_widened() -> None:
    doc = {"resourceType": "Observation", "id": "o1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "1950-07-02T10:00:00Z",
           "valueQuantity": {"value": 90, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}
    raw = json.dumps(doc).encode()
    with pytest.raises(EventTimeOutOfRange) as info:
        normalise_fhir_document(raw, IngestSettings(), RECEIVED)
    assert info.value.location == "Observation.effectiveDateTime"
    wide = normalise_fhir_document(raw, IngestSettings(max_event_age_days=73000), RECEIVED)
    assert [o.value for o in wide.observations] == [90.0]
