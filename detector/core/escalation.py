"""The §3.4 escalation ladder and the §3.5 repeat / cool-down rules, as a pure state machine.

`ladder_level(...)` turns one scoring into a level 0-4 with the reasons behind it.
`decide(state, assessment, now_s, config)` returns `(new_state, Decision)`; the decision
carries an `AlertTransition` (or None) and a `DecisionReason` saying why, so adapters and
tests can log and assert on the reason instead of a bare bool (style guide §2).

Transitions, all in EVENT time (seconds since 2000-01-01, see window.event_seconds):
* `opened`: no episode and the level is >= 1;
* `escalated`: the level rose (at once);
* `de-escalated`: a lower level (>= 1) held for `de_escalation_hold_minutes`; the highest level seen
  during that hold is the new level (conservative);
* `repeated`: reminder while the level persists, every `repeat_minutes[level]` (§3.5); none while a lower
  level is pending. Also when the learned risk reaches `risk_rise_multiple` x the risk carried by the episode's
  last alert while the level stays the same (the notifier re-pages an acknowledged episode on such a rise, and
  it only sees the risk when an alert carries it); and once per gap of the core vital signs (the engine's
  watermark sweep, feed_gap.py);
* `resolved`: every trigger below threshold for `resolve_clear_sets` consecutive observation sets spanning
  at least `resolve_hold_minutes` (hysteresis), or the patient was discharged.
An incomplete NEWS2 `low` never counts towards de-escalation or resolution (§3.3), nor does a low level computed
from stale vital signs ("cannot rule out", §3.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from detector.core._frozen import fast_builder
from detector.core.config import EscalationConfig, LadderConfig
from schemas.alert import AlertTransition

__all__ = [
    "RISK_TRIGGER",
    "STALE_TEXT",
    "TRIGGER_TEXTS",
    "Assessment",
    "Decision",
    "DecisionReason",
    "EscalationState",
    "announce_stale",
    "confirm_shock_index",
    "decide",
    "discharge",
    "ladder_level",
    "ladder_triggers",
    "rank_triggers",
]


class DecisionReason(StrEnum):
    """Why `decide` did (or did not) emit a transition."""

    LEVEL_ENTERED = "level_entered"  # opened
    LEVEL_ROSE = "level_rose"  # escalated
    LOWER_LEVEL_HELD = "lower_level_held"  # de-escalated
    REMINDER_DUE = "reminder_due"  # repeated
    RISK_ROSE = "risk_rose"  # repeated: learned risk >= risk_rise_multiple x the last alert's, same level
    VITALS_STALE = "vitals_stale"  # repeated: the core vital signs went stale (feed gap sweep)
    TRIGGERS_CLEARED = "triggers_cleared"  # resolved
    DISCHARGED = "discharged"  # resolved by discharge
    # no transition:
    BELOW_THRESHOLD = "below_threshold"  # no episode, level 0
    LEVEL_UNCHANGED = "level_unchanged"  # same level, reminder not due
    LOWER_LEVEL_PENDING = "lower_level_pending"  # lower level not held long enough yet
    CLEAR_PENDING = "clear_pending"  # clear, but not enough sets / time yet
    INCOMPLETE_LOW_IGNORED = "incomplete_low_ignored"  # an incomplete NEWS2 low cannot cancel an escalation
    STALE_IGNORED = "stale_ignored"  # a low level from stale vital signs cannot cancel an escalation
    NO_EPISODE = "no_episode"  # discharge without an open episode


@dataclass(frozen=True, slots=True)
class Assessment:
    """One scoring reduced to what the ladder needs.

    `level`: 0-4 (§3.4). `reasons`: trigger ids (see `ladder_triggers`) or texts, most important first.
    `new_set`: this scoring brought a new
    observation set (NEWS2 anchor moved), which is what `resolve_clear_sets` counts. `incomplete_low`: the
    NEWS2 band is `low` but computed from an incomplete set.
    """

    level: int
    reasons: tuple[str, ...] = ()
    new_set: bool = True
    incomplete_low: bool = False
    stale: bool = False  # the core vital signs are too old or missing: a low level cannot rule sepsis out


@dataclass(frozen=True, slots=True)
class EscalationState:
    """Per-patient episode state. Times are event seconds since 2000; None = not applicable."""

    episode_id: str | None = None
    opened_s: int | None = None
    sequence: int = 0  # sequence number of the NEXT transition of the episode
    level: int = 0  # level last announced (0 = no open episode)
    last_fired_s: int | None = None
    lower_since_s: int | None = None
    lower_max: int = 0
    clear_sets: int = 0
    clear_since_s: int | None = None
    # The learned risk carried by the episode's last alert (None: no alert carried one, or a state of a format
    # before 5): the reference of a risk rise within a level.
    last_risk: float | None = None
    # Core vital signs whose newest value is older than this were announced stale (the last 'cannot rule out'
    # alert's event time minus the stale limit; None: never announced): feed_gap.py.
    stale_mark_s: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `decide`: a transition (or None), why, and the levels around it."""

    transition: AlertTransition | None
    reason: DecisionReason
    level: int
    previous_level: int
    sequence: int = -1  # the transition's sequence number within the episode (when transition is set)
    episode_id: str | None = None
    reasons: tuple[str, ...] = field(default=())


STALE_TEXT = "stale: cannot rule out (no recent core vital signs)"
"""The reason of a feed gap announcement; its `cannot_rule_out` list names the vital signs."""

RISK_TRIGGER = "risk_model"
"""Trigger id (and score name) of the learned risk score on the ladder."""

TRIGGER_TEXTS: dict[str, str] = {
    "septic_shock": "septic shock criteria met", "lactate": "lactate at or above the critical level",
    "shock_index": "shock index elevated with hypotension", "news2_emergency": "NEWS2 at the emergency threshold",
    "sep1_severe_sepsis": "SEP-1 severe sepsis", "sepsis3": "SOFA rise with suspected infection",
    "news2_urgent": "NEWS2 at the urgent threshold", "qsofa": "qSOFA positive",
    "sirs_infection": "SIRS with suspected infection", "news2_red": "NEWS2 single red score",
    "risk_model": "learned sepsis risk score at its threshold",
}
"""Trigger ids of the §3.4 ladder (and of the learned risk score, issue #8, added by scoring.with_risk) with a
generic text (the engine renders the scores' own texts instead)."""


def ladder_triggers(*, news2: int | None, news2_band: str | None, qsofa: int | None, sirs: int | None,
                    infection: bool, sep1_severe: bool, sofa_rise: int | None, septic_shock: bool,
                    lactate: float | None, shock_index: float | None, sbp: float | None, map_mmhg: float | None,
                    config: LadderConfig) -> tuple[int, tuple[str, ...]]:
    """The ids of every §3.4 trigger that holds and the highest level they raise the patient to.

    Each trigger raises the level `config.trigger_levels` gives it (0: a reason only, it raises nothing); the
    ids come highest level first, §3.4 order within a level. `sofa_rise` is SOFA now minus the baseline;
    `lactate` mmol/L (trailing 6 h max); `sbp`/`map_mmhg` mmHg of the current set (hypotension for the
    shock-index rule)."""
    found: list[str] = []
    if septic_shock:
        found.append("septic_shock")
    if lactate is not None and lactate >= config.lactate_critical:
        found.append("lactate")
    if shock_index is not None and shock_index >= config.shock_index_critical and (
            (sbp is not None and sbp < config.hypotension_sbp_below)
            or (map_mmhg is not None and map_mmhg < config.hypotension_map_below)):
        found.append("shock_index")
    if news2 is not None and news2 >= config.news2_emergency:
        found.append("news2_emergency")
    if sep1_severe:
        found.append("sep1_severe_sepsis")
    if infection and sofa_rise is not None and sofa_rise >= config.sofa_rise_with_infection:
        found.append("sepsis3")
    if news2 is not None and config.news2_urgent <= news2 < config.news2_emergency:
        found.append("news2_urgent")
    if qsofa is not None and qsofa >= config.qsofa_urgent:
        found.append("qsofa")
    if infection and sirs is not None and sirs >= config.sirs_with_infection_urgent:
        found.append("sirs_infection")
    if news2_band == "low-medium":
        found.append("news2_red")
    if not found:
        return 0, ()
    return rank_triggers(found, config.trigger_levels)


def rank_triggers(triggers: list[str] | tuple[str, ...], levels: dict[str, int]) -> tuple[int, tuple[str, ...]]:
    """(highest level the triggers raise, the triggers highest level first, given order kept within a level)."""
    ranked = sorted(triggers, key=lambda t: -levels[t])
    return levels[ranked[0]], tuple(ranked)


def ladder_level(*, config: LadderConfig, texts: dict[str, str] | None = None,
                 **values: object) -> tuple[int, tuple[str, ...]]:
    """`ladder_triggers` with each trigger id replaced by `texts[id]` (else a generic text)."""
    level, triggers = ladder_triggers(config=config, **values)  # type: ignore[arg-type]
    texts = texts or {}
    return level, tuple(texts.get(t, TRIGGER_TEXTS[t]) for t in triggers)


def confirm_shock_index(assessment: Assessment, shock_sets: int, confirm_sets: int, levels: dict[str, int],
                        risk_level: int = 0) -> tuple[Assessment, int]:
    """(the assessment, the new count of consecutive sets meeting the shock-index trigger).

    The trigger counts once `confirm_sets` consecutive observation sets meet it (SEP-1 judges hypotension
    persistent on two consecutive readings; single hourly sets were most of its burden on set A, see
    docs/paging.md). Until then it is left out and the level is what the other triggers (and the learned
    model's `risk_level`, trigger RISK_TRIGGER) give. A scoring without a new set keeps the count."""
    reasons = assessment.reasons
    if "shock_index" not in reasons:
        return assessment, 0
    sets = min(shock_sets + (1 if assessment.new_set else 0), 255)
    if confirm_sets <= 1 or sets >= confirm_sets:
        return assessment, sets
    rules = [t for t in reasons if t != "shock_index" and t != RISK_TRIGGER]
    level, ranked = rank_triggers(rules, levels) if rules else (0, ())
    if RISK_TRIGGER in reasons:
        ranked = (RISK_TRIGGER, *ranked) if risk_level >= level else (*ranked, RISK_TRIGGER)
        level = max(level, risk_level)
    return Assessment(level, ranked, assessment.new_set, assessment.incomplete_low), sets


_BELOW_THRESHOLD = Decision(None, DecisionReason.BELOW_THRESHOLD, 0, 0)
# `replace(state, ...)` / `Decision(...)` cost ~1-3 µs each (frozen dataclasses); these build the same objects.
_new_state = fast_builder(EscalationState)
_new_decision = fast_builder(Decision)


def _minutes(value: float | None) -> int | None:
    return None if value is None else int(value * 60)


def decide(state: EscalationState, assessment: Assessment, now_s: int, config: EscalationConfig,
           episode_id_for_open: str | None = None, risk: float | None = None) -> tuple[EscalationState, Decision]:
    """Advance the episode with one assessment at event time `now_s` (seconds since 2000).

    `episode_id_for_open` is the id to use if this call opens an episode (the engine passes None and sets
    schemas.alert.episode_id_for(patient key, now) afterwards, so the hash is computed only on opening).
    `risk` is the learned model's probability in this scoring, exactly as the alert would carry it (None without
    the model): every transition remembers it, and a rise to `config.risk_rise_multiple` times it within the
    same level is announced (`repeated`, RISK_ROSE).
    An episode is open while `state.opened_s` is set.
    """
    level = assessment.level
    current = state.level
    if state.opened_s is None:
        if level <= 0:  # the common case: no episode, nothing to alert (a shared immutable decision)
            return state, _BELOW_THRESHOLD
        new = EscalationState(episode_id=episode_id_for_open, opened_s=now_s, sequence=1, level=level,
                              last_fired_s=now_s, last_risk=risk)
        return new, Decision(AlertTransition.OPENED, DecisionReason.LEVEL_ENTERED, level, 0, 0,
                             episode_id_for_open, assessment.reasons)
    # An alert without a risk leaves the reference as it was: the notifier also keeps the last risk it saw.
    fired_risk = risk if risk is not None else state.last_risk

    if level > current:
        new = _new_state(state.episode_id, state.opened_s, state.sequence + 1, level, now_s, None, 0, 0, None,
                         fired_risk, state.stale_mark_s)
        return new, _fired(new, AlertTransition.ESCALATED, DecisionReason.LEVEL_ROSE, current, state.sequence,
                           assessment)

    if level == current:
        if (state.lower_since_s is not None or state.lower_max or state.clear_sets
                or state.clear_since_s is not None):  # else already reset: skip the copy
            state = _new_state(state.episode_id, state.opened_s, state.sequence, state.level, state.last_fired_s,
                               None, 0, 0, None, state.last_risk, state.stale_mark_s)
        new, decision = _maybe_repeat(state, assessment, now_s, config, risk=fired_risk)
        if decision.transition is not None or risk is None:
            return new, decision
        if state.last_risk is None:
            # No reference (a state written before format 5, or the model was not served at the last alert):
            # this risk becomes it, so a later doubling is still announced.
            return _with_risk(state, risk), decision
        if risk >= config.risk_rise_multiple * state.last_risk:
            new = _new_state(state.episode_id, state.opened_s, state.sequence + 1, state.level, now_s, None, 0, 0,
                             None, risk, state.stale_mark_s)
            rose = (f"learned risk {risk:.1%}: at least {config.risk_rise_multiple:g} x the {state.last_risk:.1%} "
                    "of the last alert",)
            return new, Decision(AlertTransition.REPEATED, DecisionReason.RISK_ROSE, state.level, state.level,
                                 state.sequence, state.episode_id, rose + assessment.reasons)
        return new, decision

    # level < current: a candidate for de-escalation or resolution, with hysteresis.
    if assessment.incomplete_low and config.incomplete_low_blocks_resolution and level == 0:
        return _maybe_repeat(state, assessment, now_s, config, DecisionReason.INCOMPLETE_LOW_IGNORED, fired_risk)
    if assessment.stale and level == 0:
        return _maybe_repeat(state, assessment, now_s, config, DecisionReason.STALE_IGNORED, fired_risk)
    lower_since = state.lower_since_s if state.lower_since_s is not None else now_s
    lower_max = max(state.lower_max, level) if state.lower_since_s is not None else level
    if level == 0:
        clear_sets = state.clear_sets + (1 if assessment.new_set else 0)
        clear_since = state.clear_since_s if state.clear_since_s is not None else now_s
    else:
        clear_sets, clear_since = 0, None
    state = _new_state(state.episode_id, state.opened_s, state.sequence, state.level, state.last_fired_s,
                       lower_since, lower_max, clear_sets, clear_since, state.last_risk, state.stale_mark_s)
    hold = _minutes(config.de_escalation_hold_minutes) or 0
    if lower_max == 0:
        resolve_hold = _minutes(config.resolve_hold_minutes) or 0
        if clear_sets >= config.resolve_clear_sets and clear_since is not None and now_s - clear_since >= resolve_hold:
            decision = Decision(AlertTransition.RESOLVED, DecisionReason.TRIGGERS_CLEARED, 0, current,
                                state.sequence, state.episode_id, assessment.reasons)
            return EscalationState(), decision
        # No reminder while the patient is improving: the announced level is no longer what the scores say.
        return state, _new_decision(None, DecisionReason.CLEAR_PENDING, state.level, state.level)
    if now_s - lower_since >= hold:
        new = _new_state(state.episode_id, state.opened_s, state.sequence + 1, lower_max, now_s, None, 0, 0, None,
                         fired_risk, state.stale_mark_s)
        return new, _fired(new, AlertTransition.DE_ESCALATED, DecisionReason.LOWER_LEVEL_HELD, current,
                           state.sequence, assessment)
    return state, _new_decision(None, DecisionReason.LOWER_LEVEL_PENDING, state.level, state.level)


def _with_risk(state: EscalationState, risk: float | None) -> EscalationState:
    return _new_state(state.episode_id, state.opened_s, state.sequence, state.level, state.last_fired_s,
                      state.lower_since_s, state.lower_max, state.clear_sets, state.clear_since_s, risk,
                      state.stale_mark_s)


def _fired(new: EscalationState, transition: AlertTransition, reason: DecisionReason, previous: int,
           sequence: int, assessment: Assessment) -> Decision:
    return Decision(transition, reason, new.level, previous, sequence, new.episode_id, assessment.reasons)


def _maybe_repeat(state: EscalationState, assessment: Assessment, now_s: int, config: EscalationConfig,
                  quiet_reason: DecisionReason = DecisionReason.LEVEL_UNCHANGED,
                  risk: float | None = None) -> tuple[EscalationState, Decision]:
    """A reminder when the announced level has persisted for its repeat interval (§3.5)."""
    interval = _minutes(config.repeat_minutes.get(state.level))
    last = state.last_fired_s if state.last_fired_s is not None else now_s
    if interval is not None and now_s - last >= interval:
        new = _new_state(state.episode_id, state.opened_s, state.sequence + 1, state.level, now_s,
                         state.lower_since_s, state.lower_max, state.clear_sets, state.clear_since_s,
                         risk if risk is not None else state.last_risk, state.stale_mark_s)
        return new, Decision(AlertTransition.REPEATED, DecisionReason.REMINDER_DUE, state.level, state.level,
                             state.sequence, state.episode_id, assessment.reasons)
    return state, _new_decision(None, quiet_reason, state.level, state.level)


def announce_stale(state: EscalationState, now_s: int, mark_s: int) -> tuple[EscalationState, Decision]:
    """A `repeated` transition saying the core vital signs went stale (the feed gap sweep, feed_gap.py): same
    level, the risk reference unchanged (the alert carries no new scores), `mark_s` remembered as the gap."""
    new = _new_state(state.episode_id, state.opened_s, state.sequence + 1, state.level, now_s,
                     state.lower_since_s, state.lower_max, state.clear_sets, state.clear_since_s, state.last_risk,
                     mark_s)
    return new, Decision(AlertTransition.REPEATED, DecisionReason.VITALS_STALE, state.level, state.level,
                         state.sequence, state.episode_id, (STALE_TEXT,))


def discharge(state: EscalationState) -> tuple[EscalationState, Decision]:
    """Discharge closes an open episode with a `resolved` transition (and resets the state)."""
    if state.opened_s is None:
        return EscalationState(), Decision(None, DecisionReason.NO_EPISODE, 0, 0)
    decision = Decision(AlertTransition.RESOLVED, DecisionReason.DISCHARGED, 0, state.level, state.sequence,
                        state.episode_id, ("patient discharged",))
    return EscalationState(), decision
