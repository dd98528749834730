"""Replay ordering, pacing (injected clock) and the offline target feeding the real detector engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evaluation.physionet import ConversionCounts, HourMessage
from evaluation.replay import Pacer, ReplayOptions, replay_items, replay_physionet, run_replay
from evaluation.sinks import OfflineSink, make_sink, parse_host_port
from schemas import Alert, PatientEvent

DATA = Path(__file__).parent / "data"
REAL = DATA / "physionet_sample"
BASE = datetime(2019, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.items: list[PatientEvent | HourMessage] = []
        self.flushes = 0
        self.closed = False

    def send_admit(self, event: PatientEvent) -> None:
        self.items.append(event)

    def send_hour(self, message: HourMessage) -> None:
        self.items.append(message)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True


def test_pacer_keeps_event_time_n_times_faster_than_the_wall_clock() -> None:
    clock = FakeClock()
    pacer = Pacer(3600.0, clock=clock, sleep=clock.sleep)
    pacer.wait_for(BASE)  # the first event sets the origin
    pacer.wait_for(BASE + timedelta(hours=1))  # due 1 s later
    clock.now += 5.0  # the target was slow: 5 s passed
    pacer.wait_for(BASE + timedelta(hours=2))  # already late: no wait
    pacer.wait_for(BASE + timedelta(hours=8))  # due at origin + 8 s; now is origin + 6 s
    assert clock.slept == pytest.approx([1.0, 2.0])
    assert Pacer(None).delay_for(BASE + timedelta(days=3)) == 0.0


def test_time_order_interleaves_stays_and_patient_order_keeps_them_whole() -> None:
    files = [DATA / "handmade_a.psv", DATA / "handmade_b.psv"]
    by_patient = list(replay_items(files, ReplayOptions(order="patient"), ConversionCounts()))
    by_time = list(replay_items(files, ReplayOptions(order="time"), ConversionCounts()))
    assert len(by_patient) == len(by_time) == 2 + 4 + 2
    keys_patient = [i.patient_key for i in by_patient]
    assert keys_patient == ["handmade_a"] * 5 + ["handmade_b"] * 3
    times = [i.event_time for i in by_time]
    assert times == sorted(times)
    assert isinstance(by_time[0], PatientEvent) and isinstance(by_time[1], PatientEvent)
    # Stagger and key prefix.
    staggered = list(replay_items(files, ReplayOptions(order="time", stagger_minutes=90, key_prefix="run1-"),
                                  ConversionCounts()))
    admits = [i for i in staggered if isinstance(i, PatientEvent)]
    assert [(a.patient_key, a.event_time) for a in admits] == [("run1-handmade_a", BASE),
                                                              ("run1-handmade_b", BASE + timedelta(minutes=90))]


def test_run_replay_paces_flushes_before_sleeping_and_counts() -> None:
    clock = FakeClock()
    sink = RecordingSink()
    files = [DATA / "handmade_a.psv", DATA / "handmade_b.psv"]
    stats = run_replay(files, sink, ReplayOptions(order="time", speed=3600.0), progress=False,
                       pacer=Pacer(3600.0, clock=clock, sleep=clock.sleep))
    assert sink.closed
    assert stats.patients == 2 and stats.messages == 6
    assert stats.observations == 19 + 3
    assert sum(stats.rejected.values()) == 4
    # Waits before event hours 1, 2, 3, 4 and 6 (hour 5 of handmade_a has only a rejected value).
    assert len(clock.slept) == 5 and sink.flushes >= len(clock.slept)


def test_offline_replay_drives_the_real_engine() -> None:
    alerts: list[Alert] = []
    sink = OfflineSink(on_alert=alerts.append)
    stats = run_replay(sorted(REAL.glob("p00000*.psv")), sink, ReplayOptions(), progress=False)
    assert stats.patients == 9
    assert stats.extra["alerts"] == len(alerts) > 0
    assert sink.engine.stats.observations == stats.observations
    assert {a.patient_key for a in alerts} <= {p.stem for p in REAL.glob("p00000*.psv")}
    assert all(a.event_time >= BASE for a in alerts)


def test_python_api_and_target_parsing() -> None:
    stats = replay_physionet(REAL, to="offline", patients=2)
    assert stats.patients == 2 and stats.target == "offline" and stats.events_per_s > 0
    assert parse_host_port("127.0.0.1:2575") == ("127.0.0.1", 2575)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("localhost")
    with pytest.raises(ValueError, match="needs HOST:PORT"):
        make_sink("mllp")
    with pytest.raises(ValueError, match="unknown replay target"):
        make_sink("carrier-pigeon")


def test_cli_replay_offline(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sepsis_alert.cli import main

    code = main(["replay", "physionet", str(REAL), "--to", "offline", "--patients", "3", "--sample", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["target"] == "offline" and summary["patients"] == 3 and summary["observations"] > 0
    assert main(["replay", "physionet", str(REAL), "--to", "mllp", "--no-progress"]) == 2  # HOST:PORT missing
