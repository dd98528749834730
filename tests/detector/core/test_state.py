"""Changelog state format: round trip, size per patient, version check."""

from __future__ import annotations

import pytest

from detector.core.engine import DetectorEngine
from detector.core.state import FORMAT_VERSION, StateFormatError, decode_state, encode_state
from schemas import CareEventKind, Measure, PatientEventKind
from schemas.base import Location
from tests.detector.builders import NORMAL, at, care, feed, legacy_state, message, obs, patient_event
from tests.detector.core.test_engine import _deteriorating

LABS = {"wbc": 9.0, "lactate": 1.4, "creatinine": 1.0, "bilirubin": 0.8, "platelets": 210}


def _typical_day(key: str = "p1") -> DetectorEngine:
    """24 h of hourly vitals (8 values per set) and daily labs, an admission location and care events."""
    engine = DetectorEngine()
    location = Location(unit="4W", room="12", bed="B")
    engine.process(patient_event(key, PatientEventKind.ADMIT, at(0), location=location))
    for hour in range(24):
        feed(engine, message(key, at(hour), **NORMAL))
    feed(engine, message(key, at(6), tag="labs", **LABS))
    feed(engine, [care(key, CareEventKind.BLOOD_CULTURE_ORDERED, at(7)),
                  care(key, CareEventKind.ANTIBIOTIC_GIVEN, at(8))])
    return engine


def test_round_trip_is_exact_and_small() -> None:
    engine = _typical_day()
    data = engine.export_state("p1")
    assert data is not None and data[0] == FORMAT_VERSION
    assert len(data) < 4096, len(data)
    restored = decode_state(data)
    assert encode_state(restored) == data
    assert restored.window.snapshot() == engine.window("p1").snapshot()
    assert restored.location == Location(unit="4W", room="12", bed="B")
    assert restored.care.events == engine.patient("p1").care.events


def test_restored_engine_continues_identically() -> None:
    events = _deteriorating()
    cut = 8 * 4
    straight = feed(DetectorEngine(), events)
    first = DetectorEngine()
    before = feed(first, events[:cut])
    second = DetectorEngine()
    second.import_state("p1", first.export_state("p1"))
    after = feed(second, events[cut:])
    assert [a.alert_id for a in before + after] == [a.alert_id for a in straight]
    assert [a.model_dump() for a in before + after] == [a.model_dump() for a in straight]


def test_open_episode_survives() -> None:
    engine = DetectorEngine()
    feed(engine, _deteriorating()[: 8 * 5])
    restored = decode_state(engine.export_state("p1"))
    assert restored.escalation == engine.patient("p1").escalation
    assert restored.escalation.episode_id is not None


def test_unknown_version_and_truncation_are_rejected() -> None:
    data = _typical_day().export_state("p1")
    with pytest.raises(StateFormatError, match="format 9"):
        decode_state(bytes([9]) + data[1:])
    with pytest.raises(StateFormatError):
        decode_state(data[:-5])
    with pytest.raises(StateFormatError):
        decode_state(b"")


def test_tombstone_import_forgets_the_patient() -> None:
    engine = _typical_day()
    engine.import_state("p1", None)
    assert engine.patient("p1") is None


def test_weight_and_dirty_flag_survive() -> None:
    engine = DetectorEngine()
    parts = message("p1", at(0), **NORMAL)
    for part in parts[:-1]:
        engine.process(part)
    engine.process(obs("p1", Measure.WEIGHT, 72.5, at(0), part=None))
    restored = decode_state(engine.export_state("p1"))
    assert restored.weight_kg == 72.5
    engine.process(obs("p1", Measure.HEART_RATE, 75, at(0, 5), part=0, parts=2))
    assert decode_state(engine.export_state("p1")).dirty is True


def _five_days_of_sofa() -> DetectorEngine:
    """Hourly vitals for 5 days and daily labs whose SOFA changes from day to day (the SOFA ring wraps)."""
    engine = DetectorEngine()
    for hour in range(5 * 24):
        feed(engine, message("p1", at(hour), **NORMAL))
        if hour % 24 == 6:
            day = hour // 24
            feed(engine, message("p1", at(hour, 5), tag="labs", **{**LABS, "platelets": (210, 90, 40, 140, 60)[day],
                                                                   "bilirubin": (0.8, 2.5, 0.9, 7.0, 1.1)[day]}))
    return engine


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_older_formats_are_read_with_the_same_sofa_baseline(version: int) -> None:
    """Versions 1 and 2 kept 96 hourly SOFA slots (hour h in slot h % 96); the 97-slot ring they are moved into
    gives the next hours the same baseline as the live state does."""
    engine = _five_days_of_sofa()
    live = engine.patient("p1")
    data = engine.export_state("p1")
    assert live is not None and data is not None and data[0] == FORMAT_VERSION == 5
    old = decode_state(legacy_state(data, version))
    assert old.sofa_hour == live.sofa_hour is not None
    hour = live.sofa_hour
    for later in range(hour + 1, hour + 100, 7):
        assert (old.sofa_baseline(later * 3600, 24, 72) == live.sofa_baseline(later * 3600, 24, 72)), later
    assert any(live.sofa_baseline(h * 3600, 24, 72) for h in range(hour + 1, hour + 30)), "a real baseline"


def test_the_baseline_does_not_depend_on_a_restart_within_the_hour() -> None:
    """A restart between two scorings of one hour (the restored state has no cached baseline) reads the same
    baseline as the uninterrupted process: recording the hour never overwrites an hour the baseline reads."""
    engine = _five_days_of_sofa()
    live = engine.patient("p1")
    assert live is not None and live.sofa_hour is not None
    for hour in range(live.sofa_hour + 1, live.sofa_hour + 80):
        state = decode_state(engine.export_state("p1") or b"")
        before = state.sofa_baseline(hour * 3600, 24, 72)
        state.record_sofa(hour * 3600, 3)
        restarted = decode_state(encode_state(state))
        assert restarted.sofa_baseline(hour * 3600 + 1800, 24, 72) == before, hour
