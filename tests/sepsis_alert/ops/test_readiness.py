"""ReadinessRegistry: registered checks fail until reported, the report names the failing ones."""

from __future__ import annotations

import pytest

from sepsis_alert.ops.readiness import ReadinessRegistry


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_registered_checks_fail_until_set() -> None:
    readiness = ReadinessRegistry(clock=_Clock())
    readiness.register("kafka_connected", "state_restored")
    report = readiness.report()
    assert not report.ready
    assert report.failing == ["kafka_connected", "state_restored"]
    assert report.as_dict()["checks"]["kafka_connected"]["detail"] == "not reported yet"


def test_ready_only_when_every_check_passes() -> None:
    readiness = ReadinessRegistry(clock=_Clock())
    readiness.register("kafka_connected", "state_restored")
    readiness.set("kafka_connected", True)
    assert readiness.report().failing == ["state_restored"]
    readiness.set("state_restored", True, detail="6 partitions")
    assert readiness.is_ready()
    readiness.set("kafka_connected", False, detail="broker unreachable")
    report = readiness.report()
    assert not report.ready
    assert report.failing == ["kafka_connected"]
    assert report.as_dict()["checks"]["kafka_connected"]["detail"] == "broker unreachable"


def test_changed_at_moves_only_when_the_outcome_changes() -> None:
    clock = _Clock()
    readiness = ReadinessRegistry(clock=clock)
    readiness.set("kafka_connected", True, detail="a")
    clock.now = 1010.0
    readiness.set("kafka_connected", True, detail="b")  # same outcome, new detail: keeps the time
    assert next(iter(readiness)).changed_at_s == 1000.0
    clock.now = 1020.0
    readiness.set("kafka_connected", False)
    assert next(iter(readiness)).changed_at_s == 1020.0


def test_register_again_keeps_state_and_unregister_forgets() -> None:
    readiness = ReadinessRegistry(clock=_Clock())
    readiness.set("listener_bound", True)
    readiness.register("listener_bound")
    assert readiness.is_ready()
    readiness.set("other", False)
    readiness.unregister("other")
    assert readiness.is_ready()


def test_no_checks_is_ready() -> None:
    assert ReadinessRegistry().is_ready()


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "quote\""])
def test_bad_check_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="readiness check name"):
        ReadinessRegistry().set(name, True)
