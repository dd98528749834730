"""Feed gaps (feed_gap.py, DetectorEngine.sweep) and the risk rise within a level through the engine: event time
only, once per gap, the same alerts whatever the sweep cadence, surviving a restart."""

from __future__ import annotations

from datetime import timedelta

from detector.core.config import DetectorConfig
from detector.core.engine import DetectorEngine
from detector.core.escalation import STALE_TEXT, DecisionReason
from detector.core.state import decode_state
from detector.core.window import event_seconds
from schemas import Alert, Measure
from tests.detector.builders import NORMAL, at, feed, message, obs
from tests.detector.core.test_engine import SHOCKED, _deteriorating
from tests.detector.core.test_risk_serving import MILD, _config, _stay

OPEN_UNTIL_HOUR = 5  # _deteriorating: level 4 from hour 4 (shock index on two sets), last vitals at hour 5


def _open_episode(key: str = "p1", config: DetectorConfig | None = None) -> tuple[DetectorEngine, list[Alert]]:
    engine = DetectorEngine(config)
    alerts = feed(engine, _deteriorating(key)[: 8 * (OPEN_UNTIL_HOUR + 1)])
    assert alerts[-1].level == 4 and engine.patient(key).escalation.opened_s is not None
    return engine, alerts


def _w(hours: float) -> int:
    return event_seconds(at(hours))


def test_a_feed_that_stops_is_announced_once_as_stale() -> None:
    engine, before = _open_episode()
    stale_before = engine.stats.stale_scorings
    assert engine.sweep(_w(OPEN_UNTIL_HOUR + 4)) == []  # exactly 4 h: still current
    engine.changed_keys()
    alerts = engine.sweep(_w(OPEN_UNTIL_HOUR + 5.5))
    assert len(alerts) == 1
    gap = alerts[0]
    assert (gap.transition.value, gap.level, gap.previous_level) == ("repeated", 4, 4)
    assert gap.sequence == before[-1].sequence + 1 and gap.episode_id == before[-1].episode_id
    # the moment the gap became stale, not the watermark: the same alert whenever the sweep runs
    assert gap.event_time == at(OPEN_UNTIL_HOUR + 4) + timedelta(seconds=1)
    assert gap.cannot_rule_out == ["heart rate: last 4.0 h ago", "respiratory rate: last 4.0 h ago",
                                   "systolic BP: last 4.0 h ago"]
    assert gap.reasons == [STALE_TEXT] and gap.scores == []  # nothing was scored: no scores, no risk (no page)
    assert engine.stats.stale_scorings == stale_before + 1
    assert engine.stats.transitions[(4, "repeated")] == 1
    assert engine.changed_keys() == {"p1"}  # the state (sequence, gap mark) goes to the changelog
    assert engine.sweep(_w(OPEN_UNTIL_HOUR + 6)) == engine.sweep(_w(OPEN_UNTIL_HOUR + 30)) == []  # once per gap


def test_a_new_gap_after_vitals_resumed_is_announced_again() -> None:
    engine, _ = _open_episode()
    assert len(engine.sweep(_w(10))) == 1
    resumed = feed(engine, message("p1", at(12), tag="resumed", **SHOCKED))
    assert engine.sweep(_w(12.5)) == [] and engine.sweep(_w(16)) == []
    again = engine.sweep(_w(16.1))
    assert len(again) == 1 and again[0].event_time == at(16) + timedelta(seconds=1)
    assert again[0].sequence == 4 + len(resumed)
    assert engine.sweep(_w(20)) == []


def test_a_partial_feed_announces_each_vital_sign_that_stops_once() -> None:
    """Heart rate stops while the rest continues: one notice; when respiratory rate stops too, a second one."""
    engine, _ = _open_episode()
    without_hr = {k: v for k, v in SHOCKED.items() if k != "hr"}
    without_hr_rr = {k: v for k, v in without_hr.items() if k != "rr"}
    notices: list[Alert] = []
    for hour in range(OPEN_UNTIL_HOUR + 1, 20):
        feed(engine, message("p1", at(hour), tag="partial", **(without_hr if hour < 12 else without_hr_rr)))
        notices += engine.sweep(_w(hour + 0.5))
    # a scoring alert in between would carry the list and count as the notice; here the level stays at 4
    assert [n.cannot_rule_out for n in notices] == [
        ["heart rate: last 4.0 h ago"],
        ["heart rate: last 10.0 h ago", "respiratory rate: last 4.0 h ago"]]
    assert [n.event_time for n in notices] == [at(9) + timedelta(seconds=1), at(15) + timedelta(seconds=1)]


def test_the_notice_does_not_depend_on_the_sweep_cadence_nor_on_a_restart() -> None:
    """Sweeping after every event or once at the end (a replay's large batch) gives the same alerts; a restored
    state neither repeats an announced gap nor misses an unannounced one."""
    events = _deteriorating("p1")[: 8 * (OPEN_UNTIL_HOUR + 1)]
    events += [obs("p1", Measure.LACTATE, 1.2, at(OPEN_UNTIL_HOUR + 1 + h), f"lab-{h}") for h in range(8)]
    every = DetectorEngine()
    alerts_every: list[Alert] = []
    for event in events:
        alerts_every += every.process(event)
        alerts_every += every.sweep(event_seconds(event.effective_at))
    once = DetectorEngine()
    alerts_once = feed(once, events) + once.sweep(_w(OPEN_UNTIL_HOUR + 9))
    assert [a.model_dump() for a in alerts_every] == [a.model_dump() for a in alerts_once]
    assert sum(1 for a in alerts_once if a.cannot_rule_out) == 1
    restarted = DetectorEngine()
    restarted.import_state("p1", once.export_state("p1"))
    assert restarted.patient("p1").escalation == once.patient("p1").escalation
    assert restarted.sweep(_w(OPEN_UNTIL_HOUR + 20)) == []
    unannounced = DetectorEngine()
    unannounced.import_state("p1", _state_of(events))  # a crash before the sweep ran
    assert [a.model_dump() for a in unannounced.sweep(_w(OPEN_UNTIL_HOUR + 9))] == [
        a.model_dump() for a in alerts_once if a.cannot_rule_out]


def _state_of(events: list) -> bytes:
    engine = DetectorEngine()
    feed(engine, events)
    data = engine.export_state("p1")
    assert data is not None
    return data


def test_a_scoring_alert_that_says_cannot_rule_out_counts_as_the_notice() -> None:
    engine, _ = _open_episode(config=_config(enabled=False))
    # vitals stop, labs still arrive: a normal lactate is scored stale without an alert, so the sweep says it
    assert feed(engine, message("p1", at(OPEN_UNTIL_HOUR + 5), tag="labs", lactate=1.1)) == []
    assert len(engine.sweep(_w(OPEN_UNTIL_HOUR + 5))) == 1
    # a lab raises the learned risk (5.7 % at the last alert, 11.4 % with this lactate) past 1.5 times the last
    # alert's: that `repeated` alert carries the list itself (the multiple is lowered from the default 2 so that
    # the test does not hang on the shipped model's exact probabilities)
    engine, _ = _open_episode(config=DetectorConfig.model_validate({"escalation": {"risk_rise_multiple": 1.5}}))
    said = feed(engine, message("p1", at(OPEN_UNTIL_HOUR + 6), tag="labs", lactate=5.0))
    assert [a.transition.value for a in said] == ["repeated"] and said[0].cannot_rule_out
    assert engine.sweep(_w(OPEN_UNTIL_HOUR + 7)) == []
    engine2 = DetectorEngine()
    opened = feed(engine2, message("p2", at(0), tag="labs", lactate=5.0))
    assert opened[0].transition.value == "opened" and opened[0].cannot_rule_out  # no vitals at all
    assert engine2.patient("p2").escalation.stale_mark_s is not None
    assert engine2.sweep(_w(10)) == []  # already said by the opening alert


def test_no_episode_no_notice_and_keys_limit_the_sweep() -> None:
    engine = DetectorEngine()
    feed(engine, message("calm", at(0), **NORMAL))
    assert engine.patient("calm").escalation.opened_s is None
    assert engine.sweep(_w(30)) == []
    engine2, _ = _open_episode("p1")
    assert engine2.sweep(_w(20), keys=["calm", "other"]) == []
    assert len(engine2.sweep(_w(20), keys=["p1"])) == 1


def test_a_risk_rise_within_a_level_reaches_the_alerts_and_survives_a_restart() -> None:
    """Level 2 all along (level 3 out of reach): the learned risk alone produces `repeated` alerts, each at
    least 2 x the risk the previous alert carried; a restart in between gives the same alerts."""
    config = _config(thresholds={2: 0.001, 3: 0.9})
    events = _stay(hours=2, rows=NORMAL)
    for hour in range(2, 14):
        events += message("p1", at(hour), tag="worse", **{**MILD, "hr": 90 + 3 * hour, "rr": 18 + hour // 2})
    live = DetectorEngine(config)
    alerts = feed(live, events)
    risks = [next(s.value for s in a.scores if s.name == "risk_model") for a in alerts]
    assert [a.transition.value for a in alerts][:2] == ["opened", "repeated"] and len(alerts) >= 2
    assert {a.level for a in alerts} == {2}
    for previous, alert, risk in zip(risks, alerts[1:], risks[1:], strict=False):
        assert risk >= 2 * previous and alert.reasons[0].startswith("learned risk ")
    assert live.patient("p1").escalation.last_risk == risks[-1]
    cut = len(events) // 2
    first = DetectorEngine(config)
    before = feed(first, events[:cut])
    second = DetectorEngine(config)
    second.import_state("p1", first.export_state("p1"))
    assert decode_state(first.export_state("p1") or b"").escalation.last_risk == risks[len(before) - 1]
    after = feed(second, events[cut:])
    assert [a.model_dump() for a in before + after] == [a.model_dump() for a in alerts]
    assert DecisionReason.RISK_ROSE.value == "risk_rose"


def test_pending_keys_show_the_patients_of_the_batch_without_forgetting_them() -> None:
    engine = DetectorEngine()
    feed(engine, message("p1", at(0), **NORMAL))
    assert set(engine.pending_keys()) == {"p1"}
    assert engine.changed_keys() == {"p1"} and not engine.pending_keys()


def test_a_gap_that_ends_inside_a_batch_gets_the_notice_a_sweep_would_give() -> None:
    """The stream checks a patient's gap just before applying its first newer record: with that,
    sweeping after every record (small live batches) and never sweeping until the end (one large batch) give
    the same alerts, including for a gap that ended before any sweep saw it."""
    engine, _ = _open_episode()
    events = []
    for hour in range(OPEN_UNTIL_HOUR + 1, 16):  # heart rate missing hours 6-11, back from hour 12
        values = SHOCKED if hour >= 12 else {k: v for k, v in SHOCKED.items() if k != "hr"}
        events += message("p1", at(hour), tag="gap", **values)
    data = engine.export_state("p1")
    small, large = DetectorEngine(), DetectorEngine()
    small.import_state("p1", data)
    large.import_state("p1", data)
    alerts_small: list[Alert] = []
    alerts_large: list[Alert] = []
    for event in events:
        t = event_seconds(event.effective_at)
        for engine_, out in ((small, alerts_small), (large, alerts_large)):
            state = engine_.patient("p1")
            if t > state.window.newest_s and state.escalation.opened_s is not None:
                out += engine_.sweep(t, ["p1"])
            out += engine_.process(event)
        alerts_small += small.sweep(t)
    alerts_large += large.sweep(_w(16))
    assert [a.model_dump() for a in alerts_small] == [a.model_dump() for a in alerts_large]
    notices = [a for a in alerts_large if a.reasons == [STALE_TEXT]]
    assert [n.cannot_rule_out for n in notices] == [["heart rate: last 4.0 h ago"]]
    assert notices[0].event_time == at(9) + timedelta(seconds=1)
