"""Engine facts the operations side relies on: per-unit counters and the correlation id of alerts."""

from __future__ import annotations

from detector.core.engine import DetectorEngine
from detector.core.stats import UNKNOWN_UNIT, unit_of
from schemas.base import Location
from tests.detector.builders import feed
from tests.detector.core.test_engine import _deteriorating


def _with(events: list, *, unit: str | None = None, correlation: bool = False) -> list:
    """Copies of `events` with a location unit and a per-message correlation id."""
    out = []
    for event in events:
        update: dict[str, object] = {}
        if unit is not None:
            update["location"] = Location(unit=unit, bed="1")
        if correlation:
            update["correlation_id"] = f"hl7:LAB:{event.effective_at:%H%M}"
        out.append(event.model_copy(update=update))
    return out


def test_alert_carries_the_correlation_id_of_the_triggering_observation() -> None:
    alerts = feed(DetectorEngine(), _with(_deteriorating(), correlation=True))
    assert alerts
    for alert in alerts:
        assert alert.correlation_id == f"hl7:LAB:{alert.event_time:%H%M}"


def test_alert_without_an_input_correlation_id_has_none() -> None:
    alerts = feed(DetectorEngine(), _deteriorating())
    assert alerts and all(a.correlation_id is None for a in alerts)


def test_scorings_and_transitions_are_counted_per_unit() -> None:
    engine = DetectorEngine()
    feed(engine, _with(_deteriorating("p1"), unit="MICU"))
    feed(engine, _deteriorating("p2"))
    stats = engine.stats
    assert stats.scored_by_unit["MICU"] == stats.scored_by_unit[UNKNOWN_UNIT] == stats.scored // 2
    per_unit = {(level, transition): count for (level, transition, unit), count in stats.transitions_by_unit.items()
                if unit == "MICU"}
    assert per_unit and sum(per_unit.values()) * 2 == sum(stats.transitions.values())
    assert ((2, "opened", "MICU") in stats.transitions_by_unit
            and (2, "opened", UNKNOWN_UNIT) in stats.transitions_by_unit)
    snapshot = stats.copy()
    feed(engine, _with(_deteriorating("p3"), unit="MICU"))
    assert snapshot.scored_by_unit["MICU"] < engine.stats.scored_by_unit["MICU"]  # the copy is independent


def test_unit_of_location() -> None:
    assert unit_of(None) == UNKNOWN_UNIT
    assert unit_of(Location(bed="3")) == UNKNOWN_UNIT
    assert unit_of(Location(unit="4W")) == "4W"
