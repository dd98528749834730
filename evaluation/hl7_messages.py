"""Replayed events as HL7 v2.5 messages (pure): ADT^A01 for the admission, ORU^R01 per patient-hour.

The messages carry exactly the canonical events the offline replay feeds the
detector: values already converted to the canonical UCUM unit (OBX-6 coded in
UCUM), LOINC codes from schemas.measures (OBX-3, coding system LN), the event
time in OBX-14 and OBR-7 with an explicit UTC offset. So an HL7 listener that
normalises them through ingest.core.units produces the same values, and the
alerts of the live pipeline can be compared with the offline evaluation.

MSH-10 (message control id) is `<patient key>-<ICULOS>` (`-A01` for the admission):
deterministic, so a retransmission de-duplicates; replays that must not be
de-duplicated use a distinct patient-key prefix (ReplayOptions.key_prefix).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schemas.measures import MEASURES, Measure
from schemas.observation import Observation
from schemas.patient_event import PatientEvent, Sex

__all__ = ["SENDING_APPLICATION", "adt_a01", "hl7_timestamp", "oru_r01"]

SENDING_APPLICATION = "PHYSIONET-REPLAY"
SENDING_FACILITY = "CINC2019"
RECEIVING_APPLICATION = "SEPSIS-ALERT"
ASSIGNING_AUTHORITY = "PHYSIONET"
VITALS_PANEL = ("85353-1", "Vital signs panel")

_SEX_CODES = {Sex.MALE: "M", Sex.FEMALE: "F", Sex.OTHER: "O", Sex.UNKNOWN: "U"}


def _escape(text: str) -> str:
    """HL7 escape sequences for the default delimiters (|^~\\&), escape character first."""
    return (text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
            .replace("&", "\\T\\").replace("~", "\\R\\"))


def hl7_timestamp(moment: datetime) -> str:
    """DTM with seconds and an explicit offset, e.g. 20190101030000+0000 (moment must be aware)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _number(value: float) -> str:
    """The shortest decimal that round-trips the float (75.33 -> "75.33", 97.0 -> "97")."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _msh(message_type: str, control_id: str, at: datetime) -> str:
    return "|".join(["MSH", "^~\\&", SENDING_APPLICATION, SENDING_FACILITY, RECEIVING_APPLICATION,
                     RECEIVING_APPLICATION, hl7_timestamp(at), "", message_type, _escape(control_id), "P", "2.5"])


def _pid(patient_key: str, birth_date: date | None = None, sex: Sex = Sex.UNKNOWN) -> str:
    dob = birth_date.strftime("%Y%m%d") if birth_date else ""
    # PID-5 is required by the standard; replayed stays carry no name, so a fixed placeholder.
    return "|".join(["PID", "1", "", f"{_escape(patient_key)}^^^{ASSIGNING_AUTHORITY}^MR", "",
                     "PHYSIONET^ANONYMOUS", "", dob, _SEX_CODES[sex]])


def _pv1(encounter_id: str | None, unit: str | None, admitted_at: datetime | None = None) -> str:
    fields = ["PV1", "1", "I", _escape(unit) if unit else ""]
    fields += [""] * (19 - len(fields) + 1)
    fields[19] = _escape(encounter_id) if encounter_id else ""  # PV1-19 visit number
    if admitted_at is not None:
        fields += [""] * (44 - len(fields) + 1)
        fields[44] = hl7_timestamp(admitted_at)  # PV1-44 admit date/time
    return "|".join(fields)


def _birth_date(event: PatientEvent) -> date | None:
    """A birth date that gives the event's age in completed years at the event date.

    The challenge files carry age only (years, 2 dp); the date is placed so that the
    age is the same whole number of years on the admission date.
    """
    if event.age_years is None:
        return None
    years = int(event.age_years)
    admitted = event.event_time.astimezone(UTC).date()
    fraction_days = int((event.age_years - years) * 365.25)
    try:
        anniversary = admitted.replace(year=admitted.year - years)
    except ValueError:  # 29 February
        anniversary = admitted.replace(year=admitted.year - years, day=28)
    return anniversary - timedelta(days=fraction_days)


def adt_a01(event: PatientEvent) -> str:
    """ADT^A01 (admit) for a replayed admission, segments joined by CR."""
    key = event.patient_key
    unit = event.location.unit if event.location else None
    encounter = event.encounter_id
    segments = [
        _msh("ADT^A01^ADT_A01", f"{key}-A01", event.event_time),
        "|".join(["EVN", "A01", hl7_timestamp(event.event_time), "", "", "", hl7_timestamp(event.event_time)]),
        _pid(key, _birth_date(event), event.sex),
        _pv1(encounter, unit, event.event_time),
    ]
    return "\r".join(segments) + "\r"


def oru_r01(observations: tuple[Observation, ...] | list[Observation], *, control_id: str,
            unit: str | None = None) -> str:
    """ORU^R01 for one patient-hour: one OBR (the hour), one NM OBX per observation.

    All observations must belong to one patient and share one event time.
    """
    if not observations:
        raise ValueError("an ORU^R01 needs at least one observation")
    first = observations[0]
    key = first.patient_key
    at = first.effective_at
    if any(o.patient_key != first.patient_key or o.effective_at != at for o in observations):
        raise ValueError("one ORU^R01 carries one patient-hour")
    encounter = first.encounter_id
    ts = hl7_timestamp(at)
    segments = [
        _msh("ORU^R01^ORU_R01", control_id, at),
        _pid(key),
        _pv1(encounter, unit),
        "|".join(["OBR", "1", "", _escape(control_id), f"{VITALS_PANEL[0]}^{VITALS_PANEL[1]}^LN",
                  "", "", ts]),
    ]
    for i, obs in enumerate(observations, start=1):
        spec = MEASURES[Measure(obs.measure)]
        if obs.value is None:
            raise ValueError(f"observation {obs.source_id}: replay sends numeric values only")
        segments.append("|".join([
            "OBX", str(i), "NM", f"{obs.code}^{_escape(spec.measure.value)}^LN", "",
            _number(obs.value), f"{_escape(obs.unit)}^^UCUM", "", "", "", "", "F", "", "", ts,
        ]))
    return "\r".join(segments) + "\r"
