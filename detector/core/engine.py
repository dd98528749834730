"""The detector's pure core: `(state, event) -> (state, alert transitions)`, driven by EVENT time only.

`DetectorEngine(config).process(event)` takes an `Observation`, `PatientEvent` or `CareEvent` and returns the
`Alert` transitions it caused (usually none). There is no wall clock: each alert's `emitted_at` is the
`emitted_at` argument, else the injected `clock()`, else the alert's own event time (replays stay identical).

A patient is scored once per source message: an Observation with `part`/`parts` is scored after its last
part (`part == parts - 1`); one without part info is scored at once. So results do not depend on how Kafka
batches records. The scoring time is the patient's newest event time.

Hooks for other components:
* `on_scored(patient_key, event_time, scores, level)` is called after every scoring (evaluation records every
  scoring for hour-level AUROC);
* `current_scores(key)` returns the latest `ScoreResult`s; `window(key)` gives read access to the raw window
  (feature extraction for a learned model). Without a hook and without the learned model, a scoring computes
  only the scores the §3.4 ladder reads (scoring.LADDER_OPTIONAL come when an alert or `current_scores` needs
  them: same results, see tests/detector/core/test_incremental_scoring.py);
* `sweep(watermark_s)` announces feed gaps of open episodes against the adapter's event-time watermark
  (feed_gap.py);
* `changed_keys()` / `removed_keys()` tell an adapter which patients' state to write to the changelog, and
  `export_state` / `import_state` (state.py format) serialise one patient.

The learned risk score (issue #8, detector.core.risk) is served here when `config.risk_model.enabled`: every
scoring adds score `risk_model` (calibrated probability) and its ladder level (`RiskServing.level_of`), from
the same window, scores and the patient's admission context (`PatientState.context`). The artifact is read
once per process and path (risk/serving.py); if it is missing or does not match the code's feature list the
constructor raises RiskModelError, unless `risk_model.required` is false: then the engine runs without it and
says why in `risk_unavailable`. The explanation is built only for alerts.

Where the rest lives: the window and its insertion rules (window.py), which values each score reads
(timing.py), the scores and the ladder assessment (scoring.py, scores/, rules/tables.py), the post-scoring
corrections (assessment.py), the escalation ladder (escalation.py), what patient events change in a state
(patient_events.py), the counters (stats.py) and the alert itself (report.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime
from pathlib import Path

from detector.core._frozen import fast_builder
from detector.core.assessment import adjust_assessment
from detector.core.config import DetectorConfig
from detector.core.escalation import Decision, EscalationState, announce_stale, decide
from detector.core.escalation import discharge as close_episode
from detector.core.feed_gap import announced, gap_to_announce
from detector.core.infection import (
    CARE_KIND_CODE,
    DRUG_CODE,
    NO_CODE,
    RATE_SCALE,
    RATE_UNIT_CODE,
    CareOutcome,
    InfectionStatus,
    infection_status,
)
from detector.core.patient import NO_POSITION, PatientState
from detector.core.patient_events import merge_into, update_context
from detector.core.report import build_alert
from detector.core.risk import RiskModelError
from detector.core.risk.serving import RiskServing, load_risk_serving
from detector.core.scores import ScoreResult
from detector.core.scoring import (
    RISK_TRIGGER,
    Scoring,
    ScoringBasis,
    basis_of,
    complete_scoring,
    render_reasons,
    score_selected,
    with_risk,
)
from detector.core.state import decode_state, encode_state
from detector.core.stats import EngineStats, unit_of
from detector.core.timing import SelectedInputs, select_inputs
from detector.core.window import (
    CONSCIOUSNESS_CODE,
    MEASURE_INDEX,
    InsertOutcome,
    PatientWindow,
    event_seconds,
    seconds_to_datetime,
    source_hash,
)
from schemas.alert import Alert, AlertTransition, episode_id_for
from schemas.base import Location
from schemas.care_event import CareEvent, CareEventKind
from schemas.measures import Measure
from schemas.observation import Observation, ResultStatus
from schemas.patient_event import PatientEvent, PatientEventKind

__all__ = ["DetectorEngine", "ScoredCallback"]

ScoredCallback = Callable[[str, datetime, dict[str, ScoreResult], int], None]
"""on_scored(patient_key, event_time, scores by name, ladder level 0-4)."""

_CONSCIOUSNESS = MEASURE_INDEX[Measure.CONSCIOUSNESS]
_WEIGHT = Measure.WEIGHT
_CANCELLED = ResultStatus.CANCELLED
_CORRECTED = ResultStatus.CORRECTED
_CARE_CANCELLED = CareEventKind.CANCELLED
_SLOT = MEASURE_INDEX
_ACVPU_CODE = CONSCIOUSNESS_CODE
_REPLACED, _RETRACTED = InsertOutcome.REPLACED, InsertOutcome.RETRACTED
_DUPLICATE, _LATE = InsertOutcome.DUPLICATE, InsertOutcome.LATE

_new_decision = fast_builder(Decision)
_new_escalation = fast_builder(EscalationState)


class DetectorEngine:
    """Per-patient windows, scores and alert episodes (see the module docstring)."""

    def __init__(self, config: DetectorConfig | None = None, *, clock: Callable[[], datetime] | None = None,
                 on_scored: ScoredCallback | None = None) -> None:
        self.config = config or DetectorConfig()
        self.clock = clock
        self.on_scored = on_scored
        self.patients: dict[str, PatientState] = {}
        self.stats = EngineStats()
        self._scores: dict[str, Scoring] = {}
        # Per patient: the inputs of the latest scoring, so the next one reuses the scores whose inputs did not
        # change (scoring.ScoringBasis). Derived data: never serialised, rebuilt by the first scoring after a
        # restore. `incremental=False` recomputes everything (the reference in the differential tests).
        self._basis: dict[str, ScoringBasis] = {}
        self.incremental = True
        self._changed: set[str] = set()
        self._removed: set[str] = set()
        w = self.config.window
        self._length_s = int(w.length_hours * 3600)
        self._grace_s = int(w.late_grace_hours * 3600)
        self._future_s = int(w.future_tolerance_minutes * 60)
        self._max_entries = w.max_entries_per_measure
        # event_seconds of the last datetime objects seen (the parts of one message share them)
        self._last_dt: datetime | None = None
        self._last_dt_s = 0
        self._last_dt2: datetime | None = None
        self._last_dt2_s = 0
        self.risk: RiskServing | None = None
        self.risk_unavailable: str | None = None  # why an enabled, not required model is not served
        risk_config = self.config.risk_model
        if risk_config.enabled:
            try:
                self.risk = load_risk_serving(risk_config)
            except RiskModelError as exc:
                if risk_config.required:
                    raise
                self.risk_unavailable = str(exc)

    @property
    def risk_model_path(self) -> Path:
        """The configured risk model artifact, absolute."""
        return self.config.risk_model.resolved_path()

    # ------------------------------------------------------------------ public API

    def process(self, event: Observation | PatientEvent | CareEvent,
                emitted_at: datetime | None = None) -> list[Alert]:
        """Apply one event; return the alert transitions it caused (in order)."""
        kind = event.kind
        if kind == "observation":
            # the hot path: the parts of one message usually share equal datetimes (convert them once)
            effective_at = event.effective_at  # type: ignore[union-attr]
            if effective_at is self._last_dt or effective_at == self._last_dt:
                t = self._last_dt_s
            else:
                t = event_seconds(effective_at)
                self._last_dt, self._last_dt_s = effective_at, t
            received_at = event.received_at
            if received_at is self._last_dt2 or received_at == self._last_dt2:
                received_s = self._last_dt2_s
            else:
                received_s = event_seconds(received_at)
                self._last_dt2, self._last_dt2_s = received_at, received_s
            return self.process_fields(event.patient_key, event.measure, t, received_s,  # type: ignore[union-attr]
                                       event.value, event.value_code, event.source_id,  # type: ignore[union-attr]
                                       event.status, event.part, event.parts, event.location,  # type: ignore[union-attr]
                                       event.encounter_id, event.correlation_id, emitted_at)  # type: ignore[union-attr]
        if kind == "care_event":
            return self._care(event, emitted_at)  # type: ignore[arg-type]
        return self._patient_event(event, emitted_at)  # type: ignore[arg-type]

    def current_scores(self, patient_key: str) -> dict[str, ScoreResult]:
        """The scores of the patient's latest scoring (empty if never scored)."""
        scoring = self._scores.get(patient_key)
        if scoring is None:
            return {}
        if not scoring.complete:
            scoring = self._scores[patient_key] = complete_scoring(scoring)
        return dict(scoring.scores)

    def window(self, patient_key: str) -> PatientWindow | None:
        """Read-only access to the patient's raw window (do not mutate it)."""
        state = self.patients.get(patient_key)
        return state.window if state is not None else None

    def patient(self, patient_key: str) -> PatientState | None:
        """The patient's whole state, or None."""
        return self.patients.get(patient_key)

    def changed_keys(self) -> set[str]:
        """Keys whose state changed since the last call (then forgotten)."""
        changed, self._changed = self._changed, set()
        return changed

    def pending_keys(self) -> AbstractSet[str]:
        """Keys changed since the last `changed_keys()` call, without forgetting them (read-only view)."""
        return self._changed

    def removed_keys(self) -> set[str]:
        """Keys whose state was dropped (discharge, merge) since the last call (then forgotten)."""
        removed, self._removed = self._removed, set()
        return removed

    def export_state(self, patient_key: str) -> bytes | None:
        """The patient's state in the changelog format (state.py), or None if not held."""
        state = self.patients.get(patient_key)
        return encode_state(state) if state is not None else None

    def import_state(self, patient_key: str, data: bytes | None) -> None:
        """Install a patient's state from the changelog (None = tombstone: forget the patient)."""
        if data is None:
            self.patients.pop(patient_key, None)
            self._scores.pop(patient_key, None)
            self._basis.pop(patient_key, None)
            return
        self.patients[patient_key] = decode_state(data)

    def drop(self, patient_key: str) -> None:
        """Forget a patient without emitting anything (partition revoked from this process)."""
        self.patients.pop(patient_key, None)
        self._scores.pop(patient_key, None)
        self._basis.pop(patient_key, None)
        self._changed.discard(patient_key)
        self._removed.discard(patient_key)

    # ------------------------------------------------------------------ observations

    def _state(self, key: str) -> PatientState:
        state = self.patients.get(key)
        if state is None:
            state = self.patients[key] = PatientState()
            self._removed.discard(key)
        return state

    def process_fields(self, patient_key: str, measure: Measure, effective_s: int, received_s: int,
                       value: float | None, value_code: str | None, source_id: str,
                       status: ResultStatus = ResultStatus.FINAL, part: int | None = None, parts: int | None = None,
                       location: Location | None = None, encounter_id: str | None = None,
                       correlation_id: str | None = None, emitted_at: datetime | None = None) -> list[Alert]:
        """`process(observation)` for an observation already validated field by field (the Kafka adapter's fast
        path, detector.core.fast_decode): same results, without building the pydantic model.

        `effective_s` / `received_s` are the event time and the processing (receipt) time in whole seconds
        since 2000-01-01T00:00Z (window.event_seconds). The fields must satisfy the Observation schema.
        """
        stats = self.stats
        stats.observations += 1
        state = self.patients.get(patient_key)
        if state is None:
            state = self._state(patient_key)
        t = effective_s
        if t > received_s + self._future_s:
            stats.future_dropped += 1
        else:
            slot = _SLOT[measure]
            if slot == _CONSCIOUSNESS:
                value = float(_ACVPU_CODE.get(value_code or "A", 0))
            elif value is None:
                value = 0.0
            outcome = state.window.add(slot, t, value, source_hash(source_id), status_cancelled=status is _CANCELLED,
                                       status_corrected=status is _CORRECTED, length_s=self._length_s,
                                       grace_s=self._grace_s, max_entries=self._max_entries)
            if outcome <= _REPLACED:
                stats.inserted += 1
                state.dirty = True
                if measure is _WEIGHT and (state.weight_s is None or t >= state.weight_s):
                    state.weight_kg, state.weight_s = value, t
            elif outcome == _RETRACTED:
                stats.retracted += 1
                state.dirty = True
            elif outcome == _DUPLICATE:
                stats.duplicates += 1
            elif outcome == _LATE:
                stats.late_dropped += 1
        if state.location is None and location is not None:
            state.location = location
        if encounter_id is not None:
            state.encounter_id = encounter_id
        self._changed.add(patient_key)
        if part is not None and part != parts - 1:  # type: ignore[operator]
            return []
        if not state.dirty:
            return []
        return self._score(patient_key, state, emitted_at, correlation_id)

    # ------------------------------------------------------------------ scoring

    def _score(self, key: str, state: PatientState, emitted_at: datetime | None,
               correlation_id: str | None = None) -> list[Alert]:
        """Score the patient at its newest event time; `correlation_id` is the triggering input's (copied into
        any alert)."""
        config = self.config
        now_s = state.window.newest_s
        state.dirty = False
        stats = self.stats
        stats.scored += 1
        stats.scored_by_unit[unit_of(state.location)] += 1
        infection = infection_status(state.care, now_s, config.infection)
        baseline = state.sofa_baseline(now_s, config.timing.sofa_lab_window_hours, config.window.baseline_hours)
        selected = select_inputs(state.window, state.care, now_s, config.timing, state.weight_kg)
        scoring = self._score_selected(key, state, selected, now_s, infection, baseline)
        state.record_sofa(now_s, int(scoring.scores["sofa"].value))  # type: ignore[arg-type]
        anchor = selected.set_anchor_s
        if anchor is not None and scoring.assessment.new_set:
            state.last_anchor_s = anchor
        scoring, stale = adjust_assessment(scoring, state, now_s, config, self._risk_level(scoring))
        if stale:
            stats.stale_scorings += 1
        self._scores[key] = scoring
        risk = scoring.scores.get(RISK_TRIGGER)
        new_esc, decision = decide(state.escalation, scoring.assessment, now_s, config.escalation, None,
                                   None if risk is None or risk.value is None else float(risk.value))
        if self.on_scored is not None:
            self.on_scored(key, seconds_to_datetime(now_s), scoring.scores, scoring.assessment.level)
        if decision.transition is None:
            state.escalation = new_esc
            return []
        episode_id = decision.episode_id
        if decision.transition is AlertTransition.OPENED:  # the id is a hash: only computed when needed
            episode_id = episode_id_for(key, seconds_to_datetime(now_s))
            e = new_esc  # replace(new_esc, episode_id=episode_id), cheaper
            new_esc = _new_escalation(episode_id, e.opened_s, e.sequence, e.level, e.last_fired_s, e.lower_since_s,
                                      e.lower_max, e.clear_sets, e.clear_since_s, e.last_risk, e.stale_mark_s)
        if stale and new_esc.opened_s is not None:  # this alert announces the gap: the sweep need not
            new_esc = announced(new_esc, now_s, int(config.timing.cannot_rule_out_hours * 3600))
        state.escalation = new_esc
        if not scoring.complete:  # the alert shows every score
            scoring = self._scores[key] = complete_scoring(scoring)
        decision = _new_decision(decision.transition, decision.reason, decision.level, decision.previous_level,
                                 decision.sequence, episode_id,
                                 render_reasons(decision.reasons, scoring.scores, scoring.lactate))
        return [self._alert(key, state, decision, now_s, scoring, selected, emitted_at, correlation_id, stale)]

    def sweep(self, watermark_s: int, keys: Iterable[str] | None = None,
              emitted_at: datetime | None = None) -> list[Alert]:
        """Announce feed gaps at the event-time watermark (feed_gap.py): one `repeated` alert with the 'cannot
        rule out' list per open episode (of `keys`, default all) whose core vital signs went stale and that has
        not announced that gap; counted as a stale scoring. No scores: nothing was scored."""
        stale_after_s = int(self.config.timing.cannot_rule_out_hours * 3600)
        patients = self.patients
        alerts: list[Alert] = []
        for key in patients if keys is None else keys:
            state = patients.get(key)
            gap = None if state is None else gap_to_announce(state, watermark_s, stale_after_s)
            if state is None or gap is None:
                continue
            event_s, stale, mark = gap
            state.escalation, decision = announce_stale(state.escalation, event_s, mark)
            self.stats.stale_scorings += 1
            self._changed.add(key)
            alerts.append(self._alert(key, state, decision, event_s, None, None, emitted_at, None, stale))
        return alerts

    def _risk_level(self, scoring: Scoring) -> int:
        """The ladder level the learned model's probability in `scoring` reaches (0 without the model)."""
        risk, result = self.risk, scoring.scores.get(RISK_TRIGGER)
        if risk is None or result is None or result.value is None:
            return 0
        return risk.level_of(float(result.value))

    def _score_selected(self, key: str, state: PatientState, selected: SelectedInputs, now_s: int,
                         infection: InfectionStatus, baseline: int) -> Scoring:
        """The scoring by the score functions (incremental: reusing the results whose inputs did not change)."""
        config = self.config
        # Only the scores the ladder (and the learned model) read, unless something reads every score at every
        # scoring (the hook) or the reference mode is on; an alert or current_scores() completes the scoring.
        complete = self.on_scored is not None or not self.incremental
        scoring = score_selected(selected, infection, baseline, state.last_anchor_s, config,
                                 self._basis.get(key) if self.incremental else None, complete,
                                 model_inputs=self.risk is not None)
        self._basis[key] = basis_of(selected, scoring)
        risk = self.risk
        if risk is not None:
            result = risk.scorer.score(state.window, scoring.scores, baseline, state.context, now_s)
            level = risk.level_of(result.probability)
            scoring = with_risk(scoring, risk.score_result(result, level), level)
        return scoring

    def _alert(self, key: str, state: PatientState, decision: Decision, now_s: int, scoring: Scoring | None,
               selected: object, emitted_at: datetime | None, correlation_id: str | None,
               stale: tuple[str, ...] = ()) -> Alert:
        event_time = seconds_to_datetime(now_s)
        if emitted_at is None:
            emitted_at = self.clock() if self.clock is not None else event_time
        transition = decision.transition.value  # type: ignore[union-attr]
        self.stats.transitions[(decision.level, transition)] += 1
        self.stats.transitions_by_unit[(decision.level, transition, unit_of(state.location))] += 1
        return build_alert(key, decision, event_time, emitted_at, scoring, selected, state.location,
                           state.encounter_id, self.config.rules_version, correlation_id=correlation_id,
                           cannot_rule_out=stale)

    # ------------------------------------------------------------------ care events

    def _care(self, event: CareEvent, emitted_at: datetime | None) -> list[Alert]:
        self.stats.care_events += 1
        key = event.patient_key
        state = self._state(key)
        max_events = self.config.window.max_care_events
        if event.event is _CARE_CANCELLED:
            outcome = state.care.retract(source_hash(event.cancels_source_id or ""))
        else:
            t = event_seconds(event.event_time)
            if t > event_seconds(event.received_at) + self._future_s:  # clock error: would stall the window
                self.stats.future_dropped += 1
                return []
            drug = DRUG_CODE[event.drug] if event.drug is not None else NO_CODE
            rate = round(event.rate * RATE_SCALE) if event.rate is not None else NO_CODE
            unit = RATE_UNIT_CODE.get(event.rate_unit or "", NO_CODE)
            outcome = state.care.add((t, CARE_KIND_CODE[event.event], source_hash(event.source_id), drug, rate, unit),
                                     max_events)
            state.care.evict(state.window.newest_s - self._length_s - int(self.config.infection
                                                                          .treatment_lookback_hours * 3600))
            if t > state.window.newest_s:
                state.window.newest_s = t
        if event.location is not None:
            state.location = event.location
        self._changed.add(key)
        if outcome in (CareOutcome.DUPLICATE, CareOutcome.UNKNOWN_RETRACTION):
            return []
        return self._score(key, state, emitted_at, getattr(event, "correlation_id", None))

    # ------------------------------------------------------------------ patient events

    def _patient_event(self, event: PatientEvent, emitted_at: datetime | None) -> list[Alert]:
        self.stats.patient_events += 1
        key = event.patient_key
        kind = event.event
        if kind is PatientEventKind.DISCHARGE or (kind is PatientEventKind.CANCEL
                                                  and event.cancels is PatientEventKind.ADMIT):
            return self._discharge(key, event, emitted_at)
        if kind is PatientEventKind.MERGE:
            return self._merge(key, event)
        state = self._state(key)
        if kind is PatientEventKind.CANCEL and event.cancels is PatientEventKind.TRANSFER:
            if event.prior_location is not None:
                state.location = event.prior_location
        else:
            if event.location is not None:
                state.location = event.location
            update_context(state, event)
        if event.encounter_id is not None:
            state.encounter_id = event.encounter_id
        self._changed.add(key)
        return []

    def _discharge(self, key: str, event: PatientEvent, emitted_at: datetime | None) -> list[Alert]:
        state = self.patients.pop(key, None)
        self._scores.pop(key, None)
        self._basis.pop(key, None)
        self._changed.discard(key)
        self._removed.add(key)
        if state is None:
            return []
        now_s = max(state.window.newest_s, event_seconds(event.event_time))
        _, decision = close_episode(state.escalation)
        if decision.transition is None:
            return []
        return [self._alert(key, state, decision, now_s, None, None, emitted_at,
                            getattr(event, "correlation_id", None))]

    def _merge(self, key: str, event: PatientEvent) -> list[Alert]:
        """Move the retired key's state to the surviving key (only if this process holds it)."""
        retired_key = event.merged_from_key or ""
        retired = self.patients.pop(retired_key, None)
        self._scores.pop(retired_key, None)
        self._basis.pop(retired_key, None)
        if retired is None:
            self._state(key)
            self._changed.add(key)
            return []
        self._removed.add(retired_key)
        self._changed.discard(retired_key)
        survivor = self.patients.get(key)
        if survivor is None:
            # The retired key may live on another partition: its source positions mean nothing here.
            retired.positions = [NO_POSITION, NO_POSITION, NO_POSITION]
            self.patients[key] = retired
        else:
            merge_into(survivor, retired, self._length_s, self._max_entries, self.config.window.max_care_events)
        self.patients[key].dirty = True
        self._changed.add(key)
        return []
