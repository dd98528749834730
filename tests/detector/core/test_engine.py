"""Scenario tests of the pure engine, in event time: episodes, discharge, merge, message boundaries."""

from __future__ import annotations

from datetime import datetime

from detector.core.engine import DetectorEngine
from detector.core.escalation import EscalationState
from schemas import AlertLevel, AlertTransition, CareEventKind, Measure, PatientEventKind
from schemas.alert import alert_id_for, episode_id_for
from schemas.base import Location
from schemas.observation import ResultStatus
from tests.detector.builders import NORMAL, T0, at, care, feed, message, obs, patient_event


def _kinds(alerts) -> list[tuple[str, int]]:
    return [(a.transition.value, int(a.level)) for a in alerts]


SHOCKED = {**NORMAL, "hr": 128, "rr": 28, "temp": 39.4, "sbp": 82, "dbp": 44, "spo2": 91, "acvpu": "V"}


def _deteriorating(key: str = "p1") -> list:
    """Normal for 2 h, then sepsis develops (hours 2-5, shock index with hypotension on the last two sets), treated,
    then recovers for 12 h."""
    rows = [NORMAL, NORMAL,
            {**NORMAL, "hr": 96, "rr": 21, "temp": 38.4},  # NEWS2 2+0+0+0+1+0+1 = ... low (no single 3)
            {**NORMAL, "hr": 112, "rr": 23, "temp": 38.6, "sbp": 98, "dbp": 60, "spo2": 94},  # NEWS2 high
            SHOCKED, SHOCKED]
    rows += [NORMAL] * 12
    events = []
    for hour, values in enumerate(rows):
        events += message(key, at(hour), **values)
    return events


def test_deteriorating_patient_is_opened_escalated_then_resolved_with_reasons() -> None:
    engine = DetectorEngine()
    alerts = feed(engine, _deteriorating())
    kinds = _kinds(alerts)
    # NEWS2 >= 7 raises level 2 (a console flag, docs/paging.md); the learned score level 3 an hour later; the
    # shock index with hypotension counts once two consecutive sets meet it.
    assert kinds[:3] == [("opened", 2), ("escalated", 3), ("escalated", 4)]
    assert kinds[-1] == ("resolved", 0)
    opened, first_rise, shock = alerts[0], alerts[1], alerts[2]
    assert any(r.startswith("NEWS2 8 (high)") for r in opened.reasons)  # beside the model's level-2 risk
    assert first_rise.reasons[0].startswith("risk ") and not any("shock index" in r for r in first_rise.reasons)
    assert any("shock index" in r for r in shock.reasons) and shock.event_time == at(5)
    assert shock.previous_level == AlertLevel.EMERGENCY
    # one episode, deterministic ids, consecutive sequence numbers
    assert {a.episode_id for a in alerts} == {episode_id_for("p1", at(3))}
    assert engine.patient("p1").shock_sets == 0  # reset once the trigger cleared
    assert [a.sequence for a in alerts] == list(range(len(alerts)))
    assert all(a.alert_id == alert_id_for(a.episode_id, a.sequence) for a in alerts)
    news2 = next(s for s in opened.scores if s.name == "news2")
    assert news2.value == 8 and news2.band == "high"
    assert {i.measure for i in news2.inputs} >= {"hr", "rr", "sbp", "spo2", "temp_c"}
    assert all(i.effective_at == at(3) for i in news2.inputs)
    assert alerts[-1].reasons == ["triggers_cleared"]
    assert engine.patient("p1").escalation == EscalationState()


def test_replay_gives_the_same_alerts() -> None:
    first = feed(DetectorEngine(), _deteriorating())
    second = feed(DetectorEngine(), _deteriorating())
    assert [a.model_dump() for a in first] == [a.model_dump() for a in second]
    assert all(a.emitted_at == a.event_time for a in first)  # no clock: emitted_at is the event time


def test_emitted_at_comes_from_the_argument_or_the_injected_clock() -> None:
    stamp = datetime(2030, 1, 1, tzinfo=T0.tzinfo)
    engine = DetectorEngine(clock=lambda: stamp)
    alerts = feed(engine, _deteriorating())
    assert alerts and all(a.emitted_at == stamp for a in alerts)


def test_flapping_patient_does_not_storm() -> None:
    """NEWS2 alternates 4 and 5 every 15 minutes for 10 hours."""
    engine = DetectorEngine()
    low = {**NORMAL, "hr": 95, "rr": 21, "temp": 38.1}  # 1 + 2 + 1 = 4 (low)
    high = {**low, "spo2": 95}  # + 1 = 5 (medium)
    events = []
    for i in range(40):
        events += message("flap", at(minutes=15 * i), **(high if i % 2 else low))
    alerts = feed(engine, events)
    kinds = [k for k, _ in _kinds(alerts)]
    assert kinds.count("opened") == 1
    assert "resolved" not in kinds and "de-escalated" not in kinds
    assert len(alerts) <= 1 + 10  # opened + at most one hourly reminder


def test_discharge_closes_the_episode_and_drops_state() -> None:
    engine = DetectorEngine()
    events = _deteriorating()[: 8 * 5]  # up to hour 4: open episode
    alerts = feed(engine, events)
    assert alerts and engine.patient("p1") is not None
    closing = engine.process(patient_event("p1", PatientEventKind.DISCHARGE, at(5)))
    assert _kinds(closing) == [("resolved", 0)]
    assert closing[0].episode_id == alerts[0].episode_id and closing[0].reasons == ["patient discharged"]
    assert engine.patient("p1") is None
    assert "p1" in engine.removed_keys()
    assert engine.process(patient_event("p1", PatientEventKind.DISCHARGE, at(6))) == []


def test_transfer_updates_the_location_alerts_carry() -> None:
    engine = DetectorEngine()
    engine.process(patient_event("p1", PatientEventKind.ADMIT, at(0), location=Location(unit="4W", bed="1")))
    engine.process(patient_event("p1", PatientEventKind.TRANSFER, at(1), location=Location(unit="MICU", bed="7")))
    alerts = feed(engine, _deteriorating()[8 * 2:])
    assert alerts and all(a.location == Location(unit="MICU", bed="7") for a in alerts)


def test_merge_moves_state_to_the_surviving_key() -> None:
    engine = DetectorEngine()
    alerts = feed(engine, _deteriorating("old")[: 8 * 4])
    assert alerts[0].patient_key == "old"
    engine.process(patient_event("new", PatientEventKind.MERGE, at(3, 30), merged_from="old"))
    assert engine.patient("old") is None and engine.patient("new") is not None
    assert "old" in engine.removed_keys()
    shocked = {**NORMAL, "hr": 128, "rr": 28, "sbp": 82, "dbp": 44}
    more = feed(engine, message("new", at(4), **shocked) + message("new", at(4, 15), **shocked))
    assert more and more[0].patient_key == "new" and more[0].episode_id == alerts[0].episode_id
    assert engine.patient("new").shock_sets == 2  # the count moved with the state


def test_scored_once_per_message_after_the_last_part() -> None:
    scored: list[tuple[str, datetime, int]] = []
    engine = DetectorEngine(on_scored=lambda key, when, scores, level: scored.append((key, when, level)))
    parts = message("p1", at(0), **NORMAL)
    for part in parts[:-1]:
        engine.process(part)
    assert scored == []
    engine.process(parts[-1])
    assert scored == [("p1", at(0), 0)]
    engine.process(obs("p1", Measure.HEART_RATE, 80, at(0, 30)))  # no part info: scored at once
    assert len(scored) == 2
    engine.process(obs("p1", Measure.HEART_RATE, 80, at(0, 30)))  # exact duplicate: nothing to score
    assert len(scored) == 2 and engine.stats.duplicates == 1
    assert set(engine.current_scores("p1")) >= {"news2", "qsofa", "sirs", "sofa", "shock_index", "sepsis3"}


def test_late_and_future_observations_are_counted_and_dropped() -> None:
    engine = DetectorEngine()
    feed(engine, message("p1", at(30), **NORMAL))
    engine.process(obs("p1", Measure.HEART_RATE, 150, at(5)))  # 25 h behind the newest: late
    engine.process(obs("p1", Measure.HEART_RATE, 150, at(40), received=at(30)))  # 10 h in the future
    assert engine.stats.late_dropped == 1 and engine.stats.future_dropped == 1
    assert engine.window("p1").latest(0, -(2**31), 2**31 - 1) == (engine.window("p1").newest_s, 72.0)


def test_cancelled_result_is_retracted_and_rescored() -> None:
    engine = DetectorEngine()
    feed(engine, message("p1", at(0), **NORMAL))
    lactate = obs("p1", Measure.LACTATE, 4.5, at(0, 10), "lab-1")
    assert _kinds(engine.process(lactate)) == [("opened", 4)]
    cancel = obs("p1", Measure.LACTATE, None, at(0, 10), "lab-1", status=ResultStatus.CANCELLED)
    engine.process(cancel)
    assert engine.current_scores("p1")["sep1_septic_shock"].value is False
    assert engine.stats.retracted == 1


def test_suspected_infection_and_treatment_reach_the_alert() -> None:
    engine = DetectorEngine()
    feed(engine, [care("p1", CareEventKind.BLOOD_CULTURE_ORDERED, at(0)),
                  care("p1", CareEventKind.ANTIBIOTIC_GIVEN, at(0, 30))])
    sirs_two = {**NORMAL, "hr": 95, "temp": 38.2}  # SIRS 2, NEWS2 1 + 1 = 2 (low)
    alerts = feed(engine, message("p1", at(1), **sirs_two))
    assert _kinds(alerts) == [("opened", 2)]
    assert alerts[0].infection_suspected and alerts[0].treatment_started
    assert "with suspected infection" in alerts[0].reasons[0]


def test_memory_bounded_for_a_long_stay() -> None:
    engine = DetectorEngine()
    for hour in range(24 * 10):
        feed(engine, message("p1", at(hour), **NORMAL))
    assert engine.window("p1").count() <= 8 * 26
    assert len(engine.export_state("p1")) < 4096


def _without(values: dict, *dropped: str) -> dict:
    return {k: v for k, v in values.items() if k not in dropped}


def _sick_then_well(key: str, well: dict, sick_acvpu: bool) -> list:
    sick = {**NORMAL, "hr": 118, "rr": 25, "temp": 38.8, "sbp": 102, "spo2": 93}  # NEWS2 >= 5
    if not sick_acvpu:
        sick = _without(sick, "acvpu")
    events: list = []
    for hour in range(7):  # ACVPU (when charted) only in the first 2 h: older than the 4 h carry-forward at 7 h
        events += message(key, at(hour), **(sick if hour < 2 else _without(sick, "acvpu")))
    for hour in range(7, 16):
        events += message(key, at(hour), **well)
    return events


def test_an_episode_resolves_on_a_feed_that_never_charts_consciousness() -> None:
    """No ACVPU anywhere in the window: every NEWS2 is incomplete, and the episode still closes (§3.3 guards
    against a parameter that is charted but missing now, not against one the feed never sends)."""
    alerts = feed(DetectorEngine(), _sick_then_well("icu", _without(NORMAL, "acvpu"), sick_acvpu=False))
    assert alerts and alerts[0].transition.value == "opened"
    assert alerts[-1].transition is AlertTransition.RESOLVED


def test_a_charted_but_missing_parameter_still_blocks_resolution() -> None:
    """ACVPU was charted while the patient was sick and then stopped: the incomplete lows do not resolve."""
    alerts = feed(DetectorEngine(), _sick_then_well("ward", _without(NORMAL, "acvpu"), sick_acvpu=True))
    assert alerts and alerts[0].transition.value == "opened"
    assert all(a.transition is not AlertTransition.RESOLVED for a in alerts)


def test_uncharted_resolution_can_be_switched_off() -> None:
    from detector.core.config import DetectorConfig, EscalationConfig

    config = DetectorConfig(escalation=EscalationConfig(incomplete_low_uncharted_counts=False))
    alerts = feed(DetectorEngine(config), _sick_then_well("icu", _without(NORMAL, "acvpu"), sick_acvpu=False))
    assert alerts and all(a.transition is not AlertTransition.RESOLVED for a in alerts)


def test_stale_vital_signs_say_cannot_rule_out_and_do_not_resolve() -> None:
    """The monitor stops (only temperature and SpO2 keep coming): a low score from what is left does not close the
    episode, and the state says which vital signs are missing and since when."""
    sick = {**NORMAL, "hr": 118, "rr": 25, "temp": 38.8, "sbp": 102, "spo2": 93}
    events: list = []
    for hour in range(3):
        events += message("gap", at(hour), **sick)
    for hour in range(3, 12):
        events += message("gap", at(hour), temp=36.8, spo2=98, tag="partial")
    engine = DetectorEngine()
    alerts = feed(engine, events)
    assert alerts and alerts[0].transition.value == "opened"
    assert all(a.transition is not AlertTransition.RESOLVED for a in alerts)
    assert engine.stats.stale_scorings >= 5
    # the same patient with the monitor back: the episode resolves
    back = []
    for hour in range(12, 16):
        back += message("gap", at(hour), **NORMAL)
    later = feed(engine, back)
    assert later and later[-1].transition is AlertTransition.RESOLVED and later[-1].cannot_rule_out == []


def test_stale_reasons_name_the_vital_and_its_age() -> None:
    from detector.core.charting import stale_vitals

    engine = DetectorEngine()
    feed(engine, message("p", at(0), **NORMAL) + message("p", at(5, 30), temp=37.0, tag="t"))
    window = engine.window("p")
    assert window is not None
    now = window.newest_s
    assert stale_vitals(window, now, 4 * 3600) == ("heart rate: last 5.5 h ago", "respiratory rate: last 5.5 h ago",
                                                   "systolic BP: last 5.5 h ago")
    assert stale_vitals(window, now, 6 * 3600) == ()
    feed(engine, message("q", at(0), temp=37.0))
    assert stale_vitals(engine.window("q"), engine.window("q").newest_s, 4 * 3600)[0] == "heart rate: not recorded"
