"""Builders of canonical events for detector tests (event time drives everything)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from schemas import MEASURES, CareEvent, CareEventKind, Measure, Observation, PatientEvent, PatientEventKind, Source
from schemas.base import Location
from schemas.care_event import Vasopressor
from schemas.observation import ResultStatus

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(hours: float = 0.0, minutes: float = 0.0) -> datetime:
    """T0 plus an offset."""
    return T0 + timedelta(hours=hours, minutes=minutes)


def obs(key: str, measure: Measure, value: float | str | None, when: datetime, source_id: str | None = None, *,
        part: int | None = None, parts: int | None = None, status: ResultStatus = ResultStatus.FINAL,
        received: datetime | None = None, location: Location | None = None) -> Observation:
    """One observation; `value` is the ACVPU letter for consciousness."""
    code = value if measure is Measure.CONSCIOUSNESS else None
    number = None if measure is Measure.CONSCIOUSNESS or value is None else float(value)  # type: ignore[arg-type]
    sid = source_id or f"{key}|{measure.value}|{when.isoformat()}"
    return Observation(patient_key=key, measure=measure, code="test", value=number, value_code=code,  # type: ignore[arg-type]
                       unit=MEASURES[measure].unit, effective_at=when,
                       received_at=received or when + timedelta(minutes=2),
                       source=Source.REPLAY, source_message_id=f"msg|{sid}", source_id=sid, status=status,
                       part=part, parts=parts, location=location)


VITAL_KEYS = {"hr": Measure.HEART_RATE, "rr": Measure.RESPIRATORY_RATE, "temp": Measure.TEMPERATURE,
              "sbp": Measure.SYSTOLIC_BP, "dbp": Measure.DIASTOLIC_BP, "map": Measure.MEAN_BP, "spo2": Measure.SPO2,
              "o2": Measure.ON_OXYGEN, "acvpu": Measure.CONSCIOUSNESS, "gcs": Measure.GCS, "wbc": Measure.WBC,
              "lactate": Measure.LACTATE, "creatinine": Measure.CREATININE, "bilirubin": Measure.BILIRUBIN,
              "platelets": Measure.PLATELETS, "pao2": Measure.PAO2, "fio2": Measure.FIO2, "paco2": Measure.PACO2,
              "bands": Measure.BANDS, "weight": Measure.WEIGHT, "support": Measure.RESP_SUPPORT}


def message(key: str, when: datetime, tag: str = "", **values: float | str) -> list[Observation]:
    """One source message: several observations with part/parts set (scored after the last)."""
    items = list(values.items())
    return [obs(key, VITAL_KEYS[name], value, when, f"{key}|{tag}|{when.isoformat()}|{name}", part=i,
                parts=len(items)) for i, (name, value) in enumerate(items)]


NORMAL = {"hr": 72, "rr": 14, "temp": 36.8, "sbp": 124, "dbp": 78, "spo2": 98, "o2": 0, "acvpu": "A"}


def care(key: str, kind: CareEventKind, when: datetime, source_id: str | None = None, *,
         drug: Vasopressor | None = None, rate: float | None = None, rate_unit: str | None = None,
         cancels: str | None = None) -> CareEvent:
    sid = source_id or f"{key}|{kind.value}|{when.isoformat()}"
    return CareEvent(patient_key=key, event=kind, code="c", code_system="test", event_time=when,
                     received_at=when + timedelta(minutes=1), source=Source.REPLAY, source_message_id=f"m|{sid}",
                     source_id=sid, drug=drug, rate=rate, rate_unit=rate_unit, cancels_source_id=cancels)


def patient_event(key: str, kind: PatientEventKind, when: datetime, *, location: Location | None = None,
                  merged_from: str | None = None, cancels: PatientEventKind | None = None) -> PatientEvent:
    return PatientEvent(patient_key=key, event=kind, event_time=when, received_at=when, source=Source.REPLAY,
                        source_message_id=f"adt|{key}|{kind.value}|{when.isoformat()}", location=location,
                        merged_from_key=merged_from, cancels=cancels)


def feed(engine, events: Iterable) -> list:
    """Process events in order; return every alert."""
    alerts = []
    for event in events:
        alerts.extend(engine.process(event))
    return alerts


def legacy_state(data: bytes, version: int) -> bytes:
    """A current (version 5) changelog record rewritten in format 1, 2, 3 or 4, as an older detector wrote it: no
    episode struct (risk reference, gap mark; versions 1-4), no shock-index count (versions 1-3), a 96-byte SOFA
    ring (hour h in byte h % 96, the newest 96 hours; versions 1 and 2) and, in version 1, no context block."""
    from detector.core.patient import SOFA_RING_HOURS
    from detector.core.state import _CONTEXT, _EPISODE, _HEAD, _NONE

    context_end = 1 + _HEAD.size + _CONTEXT.size
    episode_end = context_end + 1 + _EPISODE.size
    if version == 4:
        return bytes((4,)) + data[1:context_end + 1] + data[episode_end:]
    strings = pos = episode_end  # after the shock-index count and the episode struct
    for _ in range(6):
        n = data[pos]
        pos += 1 + (0 if n == 255 else n)
    if version == 3:
        return bytes((3,)) + data[1:context_end] + data[strings:]
    ring = data[pos:pos + SOFA_RING_HOURS]
    newest_hour = _HEAD.unpack_from(data, 1)[7]
    old = bytearray(96)
    if newest_hour != _NONE:
        for hour in range(newest_hour - 95, newest_hour + 1):
            old[hour % 96] = ring[hour % SOFA_RING_HOURS]
    context = data[1 + _HEAD.size:context_end] if version == 2 else b""
    return (bytes((version,)) + data[1:1 + _HEAD.size] + context + data[strings:pos] + bytes(old)
            + data[pos + SOFA_RING_HOURS:])
