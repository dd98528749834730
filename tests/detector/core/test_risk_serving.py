"""Serving the learned risk score in the engine (issue #8): score, ladder trigger, explanation, refusal, restore."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from detector.core.config import DEFAULT_RISK_MODEL_PATH, INSTALL_ROOT, DetectorConfig, RiskModelConfig, load_config
from detector.core.engine import DetectorEngine
from detector.core.patient import NO_CONTEXT
from detector.core.risk import RiskContext, RiskModelError, RiskModelMismatch, RiskResult
from detector.core.risk.model import artifact_content_hash
from detector.core.state import FORMAT_VERSION, decode_state
from detector.core.window import event_seconds
from schemas import Alert, PatientEvent, PatientEventKind, Source
from schemas.patient_event import Sex
from tests.detector.builders import NORMAL, at, feed, legacy_state, message

SHIPPED = INSTALL_ROOT / DEFAULT_RISK_MODEL_PATH
# Vitals a little off but below every classic trigger (NEWS2 2, no single red score, SIRS 1, qSOFA 0).
MILD = {**NORMAL, "hr": 94, "rr": 20, "temp": 37.9}


def _config(**risk: object) -> DetectorConfig:
    return DetectorConfig(risk_model=RiskModelConfig(**risk))  # type: ignore[arg-type]


def _admit(key: str = "p1", hours: float = 0.0, *, age: float | None = 67.4, sex: Sex = Sex.MALE,
           birth_date: date | None = None, kind: PatientEventKind = PatientEventKind.ADMIT) -> PatientEvent:
    return PatientEvent(patient_key=key, event=kind, event_time=at(hours), received_at=at(hours),
                        source=Source.REPLAY, source_message_id=f"adt|{key}|{kind.value}|{hours}", age_years=age,
                        sex=sex, birth_date=birth_date)


def _stay(key: str = "p1", hours: int = 12, rows: dict | None = None) -> list:
    events: list = [_admit(key)]
    for hour in range(hours):
        events += message(key, at(hour), **(rows or MILD))
    return events


def _risk_snapshot(alert: Alert):
    return next(s for s in alert.scores if s.name == "risk_model")


# ----------------------------------------------------------------------------- scoring and alerts

def test_default_config_serves_the_shipped_model_at_the_configured_thresholds() -> None:
    engine = DetectorEngine()
    assert engine.risk is not None and engine.risk_unavailable is None
    artifact = json.loads(SHIPPED.read_text())
    # level 2 at the artifact's utility threshold; level 3 (pages) at the page-budget threshold (docs/paging.md)
    assert list(engine.risk.levels) == [(3, 0.05), (2, 0.03)]
    assert abs(artifact["level_thresholds"]["2"] - 0.03) < 1e-3
    null = DetectorEngine(_config(thresholds=None))  # null: the artifact's own suggestion
    assert null.risk is not None
    assert list(null.risk.levels) == sorted(((int(k), v) for k, v in artifact["level_thresholds"].items()),
                                            reverse=True)
    feed(engine, _stay(hours=3))
    risk = engine.current_scores("p1")["risk_model"]
    assert 0.0 <= risk.value <= 1.0  # type: ignore[operator]
    assert risk.band == ("elevated" if engine.risk.level_of(risk.value) else "normal")  # type: ignore[arg-type]


def test_model_driven_alert_names_its_top_features_and_carries_the_score() -> None:
    # Classic rules stay silent for MILD; a low model threshold makes the model alone open the episode.
    engine = DetectorEngine(_config(thresholds={2: 0.001}))
    alerts = feed(engine, _stay())
    assert alerts, "the model's level 2 must open an episode"
    opened = alerts[0]
    assert opened.transition.value == "opened" and opened.level == 2
    assert opened.reasons[0].startswith("risk ") and "(model risk-" in opened.reasons[0]
    assert ": " in opened.reasons[0], "the explanation must name contributing features"
    snapshot = _risk_snapshot(opened)
    assert snapshot.band == "elevated" and 0.001 <= snapshot.value <= 1.0  # type: ignore[operator]
    assert snapshot.reason == opened.reasons[0]
    # the same stay without the model: no alert at all (the rules alone do not trigger)
    assert feed(DetectorEngine(_config(enabled=False)), _stay()) == []


def test_rule_driven_alert_carries_the_model_score_without_a_model_reason() -> None:
    severe = {**NORMAL, "hr": 128, "rr": 28, "temp": 39.4, "sbp": 95, "dbp": 60, "spo2": 91}
    engine = DetectorEngine(_config(thresholds={3: 0.99}))
    alerts = feed(engine, _stay(hours=2, rows=severe))
    assert alerts and alerts[0].level >= 2
    snapshot = _risk_snapshot(alerts[0])
    assert snapshot.band == "normal" and snapshot.reason.startswith("risk ")
    assert snapshot.reason.endswith("below the model's alert thresholds")  # no costly explanation
    assert not any(r.startswith("risk ") for r in alerts[0].reasons)
    # below its thresholds the model's score keeps only the probability: no prediction object, nothing explained
    reason = engine._scores["p1"].scores["risk_model"].explanation
    kept = [cell.cell_contents for cell in reason.__closure__]  # type: ignore[union-attr]
    assert kept and not any(isinstance(value, RiskResult) for value in kept)


def test_model_level_is_the_highest_threshold_reached_and_ranks_after_a_higher_rule() -> None:
    engine = DetectorEngine(_config(thresholds={1: 0.001, 2: 0.98}))
    alerts = feed(engine, _stay())
    assert alerts[0].level == 1 and alerts[0].reasons[0].startswith("risk ")
    severe = {**NORMAL, "hr": 118, "rr": 25, "temp": 38.8, "sbp": 102, "spo2": 93}
    alerts = feed(engine, message("p1", at(12), **severe))
    escalated = alerts[-1]  # NEWS2 >= 7: level 2 (docs/paging.md)
    assert escalated.level == 2 and not escalated.reasons[0].startswith("risk ")
    assert escalated.reasons[-1].startswith("risk "), "a lower model trigger is still named, last"


def test_explanation_is_built_only_for_alerts() -> None:
    engine = DetectorEngine(_config(thresholds={1: 0.0001}))  # the model holds level 1 from the first scoring
    events = _stay(hours=4)
    alerts = feed(engine, events[:-1])
    assert [a.transition.value for a in alerts] == ["opened"] and alerts[0].reasons[0].startswith("risk ")
    assert feed(engine, events[-1:]) == []  # the same level: no transition
    result = engine._scores["p1"].scores["risk_model"].explanation.__closure__[0].cell_contents  # type: ignore[union-attr,index]
    assert isinstance(result, RiskResult) and result.probability >= 0.0001
    assert result._top is None, "no alert, so the contributions were never computed"


def test_on_scored_sees_the_model_score_in_a_stable_order() -> None:
    seen: list[list[str]] = []
    engine = DetectorEngine(on_scored=lambda key, t, scores, level: seen.append(list(scores)))
    feed(engine, _stay(hours=3))
    assert seen and all(names == seen[0] for names in seen) and seen[0][-1] == "risk_model"


def test_replay_is_deterministic_and_incremental_scoring_gives_the_same_risk() -> None:
    config = _config(thresholds={2: 0.001, 3: 0.02})
    rows = [MILD, MILD, {**MILD, "rr": 23, "hr": 104}, {**MILD, "rr": 26, "hr": 112, "temp": 38.6}]
    events = [_admit()] + [o for hour, row in enumerate(rows * 3) for o in message("p1", at(hour), **row)]
    first, second = DetectorEngine(config), DetectorEngine(config)
    second.incremental = False
    risks: list[list[float]] = [[], []]
    for engine, out in ((first, risks[0]), (second, risks[1])):
        engine.on_scored = lambda key, t, scores, level, out=out: out.append(scores["risk_model"].value)
    assert [a.model_dump() for a in feed(first, events)] == [a.model_dump() for a in feed(second, events)]
    assert risks[0] == risks[1] and len(risks[0]) == 12


# ----------------------------------------------------------------------------- refusing a bad artifact

def test_missing_model_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "risk_model.json"
    with pytest.raises(RiskModelError, match="does not exist") as caught:
        DetectorEngine(_config(path=missing))
    assert str(missing) in str(caught.value)


def test_missing_model_runs_without_it_when_not_required(tmp_path: Path) -> None:
    engine = DetectorEngine(_config(path=tmp_path / "absent.json", required=False))
    assert engine.risk is None and "does not exist" in (engine.risk_unavailable or "")
    severe = {**NORMAL, "hr": 128, "rr": 28, "temp": 39.4, "sbp": 95, "dbp": 60, "spo2": 91}
    alerts = feed(engine, _stay(hours=2, rows=severe))
    assert alerts and all(s.name != "risk_model" for s in alerts[0].scores)
    assert "risk_model" not in engine.current_scores("p1")


def _tampered(tmp_path: Path, *, rehash: bool) -> Path:
    artifact = json.loads(SHIPPED.read_text())
    names = list(artifact["feature_names"])
    names[0], names[1] = names[1], names[0]  # same names, different order: the trees would read wrong columns
    artifact["feature_names"] = names
    if rehash:
        artifact["content_hash"] = artifact_content_hash(artifact)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(artifact))
    return path


def test_mismatched_feature_list_is_refused(tmp_path: Path) -> None:
    for rehash in (True, False):
        with pytest.raises(RiskModelMismatch, match="feature set"):
            DetectorEngine(_config(path=_tampered(tmp_path, rehash=rehash)))
    engine = DetectorEngine(_config(path=_tampered(tmp_path, rehash=True), required=False))
    assert engine.risk is None and "different order" in (engine.risk_unavailable or "")


def test_edited_artifact_is_refused(tmp_path: Path) -> None:
    artifact = json.loads(SHIPPED.read_text())
    artifact["alert_threshold"] = 0.5  # content changed, hash not updated
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(artifact))
    with pytest.raises(RiskModelError, match="content hash"):
        DetectorEngine(_config(path=path))


# ----------------------------------------------------------------------------- config

def test_config_validates_thresholds_and_resolves_relative_paths(tmp_path: Path) -> None:
    assert RiskModelConfig().resolved_path() == SHIPPED and SHIPPED.is_file()
    assert RiskModelConfig(path=tmp_path / "m.json").resolved_path() == tmp_path / "m.json"
    for bad, message_part in (({5: 0.2}, "levels must be 1-4"), ({2: 0.0}, r"\(0, 1\]"),
                              ({2: 0.2, 3: 0.1}, "must be above"), ({}, "at least one level")):
        with pytest.raises(ValueError, match=message_part):
            RiskModelConfig(thresholds=bad)
    rules = tmp_path / "rules.yaml"
    rules.write_text("risk_model:\n  enabled: true\n  thresholds: {2: 0.05, 3: 0.1}\n  required: false\n")
    loaded = load_config(rules).risk_model
    assert loaded.thresholds == {2: 0.05, 3: 0.1} and loaded.required is False
    rules.write_text("risk_model:\n  threshold: 0.05\n")
    with pytest.raises(ValueError, match="threshold"):
        load_config(rules)


def test_configured_thresholds_replace_the_artifacts() -> None:
    engine = DetectorEngine(_config(thresholds={2: 0.05, 4: 0.5}))
    assert engine.risk is not None and engine.risk.levels == ((4, 0.5), (2, 0.05))
    assert [engine.risk.level_of(p) for p in (0.01, 0.05, 0.2, 0.5)] == [0, 2, 2, 4]


# ----------------------------------------------------------------------------- admission context and restore

def test_admission_context_is_kept_and_updated_without_losing_known_fields() -> None:
    engine = DetectorEngine()
    engine.process(_admit(age=67.9, sex=Sex.FEMALE))
    admitted_s = event_seconds(at(0))
    assert engine.patient("p1").context == RiskContext(67.0, False, admitted_s)  # whole completed years
    engine.process(_admit(hours=5, age=None, sex=Sex.UNKNOWN, kind=PatientEventKind.UPDATE))
    assert engine.patient("p1").context == RiskContext(67.0, False, admitted_s)
    engine.process(_admit("p2", age=None, birth_date=date(1950, 6, 1), sex=Sex.OTHER))
    assert engine.patient("p2").context.age_years == 75.0  # completed years on 2026-01-05
    assert engine.patient("p2").context.male is False
    # a merge fills what the survivor does not know from the retired record
    engine.process(PatientEvent(patient_key="p3", event=PatientEventKind.MERGE, event_time=at(6),
                                received_at=at(6), source=Source.REPLAY, source_message_id="m", merged_from_key="p1"))
    assert engine.patient("p3").context == RiskContext(67.0, False, admitted_s)


def test_restore_keeps_the_context_and_scores_like_an_uninterrupted_engine() -> None:
    config = _config(thresholds={2: 0.001, 3: 0.02})
    events = _stay(hours=10)
    live = DetectorEngine(config)
    live_alerts = feed(live, events)
    restarted = DetectorEngine(config)
    feed(restarted, events[:1 + 5 * len(MILD)])
    data = restarted.export_state("p1")
    assert data is not None and data[0] == FORMAT_VERSION == 5
    fresh = DetectorEngine(config)
    fresh.import_state("p1", data)
    assert fresh.patient("p1").context == live.patient("p1").context != NO_CONTEXT
    rest = feed(fresh, events[1 + 5 * len(MILD):])
    assert fresh.current_scores("p1")["risk_model"].value == live.current_scores("p1")["risk_model"].value
    before = [a.alert_id for a in feed(DetectorEngine(config), events[:1 + 5 * len(MILD)])]
    assert before + [a.alert_id for a in rest] == [a.alert_id for a in live_alerts]


def test_version_1_state_is_still_read_without_context() -> None:
    engine = DetectorEngine()
    feed(engine, _stay(hours=2))
    current = engine.export_state("p1")
    assert current is not None
    old = decode_state(legacy_state(current, 1))
    assert old.context == NO_CONTEXT
    assert old.window.snapshot() == engine.window("p1").snapshot()
    assert decode_state(legacy_state(current, 2)).context == engine.patient("p1").context
    assert decode_state(current).context == engine.patient("p1").context == RiskContext(67.0, True,
                                                                                         event_seconds(at(0)))
