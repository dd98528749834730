"""Escalation state machine (§3.4 ladder, §3.5 repeat / cool-down, hysteresis) in event time."""

from __future__ import annotations

import pytest

from detector.core.config import EscalationConfig, LadderConfig
from detector.core.escalation import (
    Assessment,
    DecisionReason,
    EscalationState,
    confirm_shock_index,
    decide,
    discharge,
    ladder_level,
)
from schemas.alert import AlertTransition

MIN = 60
CONFIG = EscalationConfig()


def _run(levels: list[tuple[int, int] | tuple[int, int, bool]], config: EscalationConfig = CONFIG):
    """Feed (minute, level[, incomplete_low]) assessments; return [(minute, transition, reason, level)]."""
    state = EscalationState()
    out = []
    for item in levels:
        minute, level = item[0], item[1]
        incomplete = bool(item[2]) if len(item) > 2 else False  # type: ignore[misc]
        state, decision = decide(state, Assessment(level, (f"level {level}",), True, incomplete), minute * MIN,
                                 config, "ep-test")
        out.append((minute, decision.transition, decision.reason, decision.level))
    return out, state


def _transitions(rows):
    return [(m, t, lvl) for m, t, _, lvl in rows if t is not None]


def test_open_escalate_deescalate_resolve() -> None:
    rows, state = _run([(0, 0), (10, 2), (20, 3), (30, 2), (60, 2), (90, 2), (100, 0), (130, 0), (170, 0)])
    assert _transitions(rows) == [
        (10, AlertTransition.OPENED, 2),
        (20, AlertTransition.ESCALATED, 3),
        (90, AlertTransition.DE_ESCALATED, 2),  # level 2 held 60 min (from minute 30)
        (170, AlertTransition.RESOLVED, 0),  # two clear sets (100, 130) and 60 min clear (100 -> 170)
    ]
    assert rows[0][2] is DecisionReason.BELOW_THRESHOLD
    assert rows[3][2] is DecisionReason.LOWER_LEVEL_PENDING
    assert rows[-1][2] is DecisionReason.TRIGGERS_CLEARED
    assert state == EscalationState()


def test_sequence_numbers_and_episode_id() -> None:
    state = EscalationState()
    seen = []
    for minute, level in [(0, 1), (5, 2), (10, 4)]:
        state, decision = decide(state, Assessment(level), minute * MIN, CONFIG, f"ep-{minute}")
        seen.append((decision.sequence, decision.episode_id))
    assert seen == [(0, "ep-0"), (1, "ep-0"), (2, "ep-0")]


def test_repeat_reminders_follow_the_level_interval_in_event_time() -> None:
    reminders = EscalationConfig(repeat_minutes={1: 60, 2: 60, 3: 30, 4: 30})  # a site that opts in (§3.5)
    rows, _ = _run([(0, 3)] + [(m, 3) for m in range(10, 100, 10)], reminders)
    repeats = [m for m, t, _, _ in rows if t is AlertTransition.REPEATED]
    assert repeats == [30, 60, 90]  # high: every 30 min
    rows, _ = _run([(0, 2)] + [(m, 2) for m in range(10, 130, 10)], reminders)
    assert [m for m, t, _, _ in rows if t is AlertTransition.REPEATED] == [60, 120]


def test_no_reminder_by_default() -> None:
    rows, _ = _run([(m, 2) for m in range(0, 300, 10)])
    assert [t for _, t, _, _ in rows if t is not None] == [AlertTransition.OPENED]


def test_flapping_around_a_threshold_does_not_storm() -> None:
    """NEWS2 4/5 alternating every 15 min for 12 h: one episode, no open/resolve churn, only hourly reminders."""
    rows, _ = _run([(m, 2 if (m // 15) % 2 else 0) for m in range(0, 12 * 60, 15)])
    kinds = [t for _, t, _, _ in rows if t is not None]
    assert kinds.count(AlertTransition.OPENED) == 1
    assert AlertTransition.RESOLVED not in kinds
    assert AlertTransition.DE_ESCALATED not in kinds
    assert kinds.count(AlertTransition.REPEATED) <= 12
    # Flapping between two alert levels: escalation is immediate, but de-escalation needs 60 min held.
    rows, _ = _run([(m, 3 if (m // 15) % 2 else 2) for m in range(0, 12 * 60, 15)])
    kinds = [t for _, t, _, _ in rows if t is not None]
    assert kinds.count(AlertTransition.ESCALATED) == 1
    assert AlertTransition.DE_ESCALATED not in kinds


def test_flapping_with_two_clear_sets_in_a_row_still_needs_the_hold_time() -> None:
    rows, _ = _run([(m, 2 if m % 45 == 0 else 0) for m in range(0, 6 * 60, 15)])
    kinds = [t for _, t, _, _ in rows if t is not None]
    assert kinds == [AlertTransition.OPENED] + [AlertTransition.REPEATED] * (kinds.count(AlertTransition.REPEATED))


def test_incomplete_low_never_cancels_an_escalation() -> None:
    rows, state = _run([(0, 3), (10, 0, True), (60, 0, True), (120, 0, True), (180, 0, True)])
    assert all(t in (None, AlertTransition.OPENED, AlertTransition.REPEATED) for _, t, _, _ in rows)
    assert rows[1][2] is DecisionReason.INCOMPLETE_LOW_IGNORED
    assert state.level == 3


def test_incomplete_low_resolves_when_the_blocking_is_switched_off() -> None:
    """Data without a consciousness column (PhysioNet) has only incomplete sets: evaluation turns blocking off."""
    config = CONFIG.model_copy(update={"incomplete_low_blocks_resolution": False})
    rows, state = _run([(0, 3), (10, 0, True), (60, 0, True), (120, 0, True), (180, 0, True)], config)
    assert AlertTransition.RESOLVED in [t for _, t, _, _ in rows]
    assert all(reason is not DecisionReason.INCOMPLETE_LOW_IGNORED for _, _, reason, _ in rows)
    assert state.level == 0


def test_default_rules_file_blocks_incomplete_low_resolution() -> None:
    from detector.core.config import load_config

    assert load_config(None).escalation.incomplete_low_blocks_resolution is True


def test_discharge_resolves_an_open_episode() -> None:
    _, state = _run([(0, 2)])
    state, decision = discharge(state)
    assert decision.transition is AlertTransition.RESOLVED and decision.reason is DecisionReason.DISCHARGED
    assert decision.previous_level == 2 and state == EscalationState()
    _, decision = discharge(EscalationState())
    assert decision.transition is None and decision.reason is DecisionReason.NO_EPISODE


LADDER = LadderConfig()
BASE = {"news2": 0, "news2_band": "low", "qsofa": 0, "sirs": 0, "infection": False, "sep1_severe": False,
        "sofa_rise": 0, "septic_shock": False, "lactate": None, "shock_index": None, "sbp": None, "map_mmhg": None}
LADDER_CASES = {
    "nothing": ({}, 0),
    "single red score": ({"news2": 3, "news2_band": "low-medium"}, 1),
    "NEWS2 4 low": ({"news2": 4}, 0),
    "NEWS2 5": ({"news2": 5, "news2_band": "medium"}, 2),
    "NEWS2 6": ({"news2": 6, "news2_band": "medium"}, 2),
    "NEWS2 7": ({"news2": 7, "news2_band": "high"}, 2),  # §3.4 says 3; measured on set A (docs/paging.md)
    "qSOFA 2": ({"qsofa": 2}, 2),
    "qSOFA 1": ({"qsofa": 1}, 0),
    "SIRS 2 without infection": ({"sirs": 2}, 0),
    "SIRS 2 with infection": ({"sirs": 2, "infection": True}, 2),
    "SEP-1 severe sepsis": ({"sep1_severe": True}, 3),
    "SOFA rise 2 with infection": ({"sofa_rise": 2, "infection": True}, 3),
    "SOFA rise 2 without infection": ({"sofa_rise": 2}, 0),
    "SOFA rise 1 with infection": ({"sofa_rise": 1, "infection": True}, 0),
    "septic shock": ({"septic_shock": True}, 4),
    "lactate 4.0": ({"lactate": 4.0}, 4),
    "lactate 3.99": ({"lactate": 3.99}, 0),
    "SI 1.0 with SBP 89": ({"shock_index": 1.0, "sbp": 89.0}, 4),
    "SI 1.0 with SBP 90": ({"shock_index": 1.0, "sbp": 90.0}, 0),
    "SI 1.0 with MAP 64": ({"shock_index": 1.0, "map_mmhg": 64.0}, 4),
    "SI 0.99 with SBP 80": ({"shock_index": 0.99, "sbp": 80.0}, 0),
}


@pytest.mark.parametrize("changes, level", LADDER_CASES.values(), ids=LADDER_CASES.keys())
def test_ladder(changes: dict, level: int) -> None:
    got, reasons = ladder_level(**{**BASE, **changes}, config=LADDER)
    assert got == level
    assert bool(reasons) == (level > 0)


def test_ladder_reasons_most_important_first() -> None:
    level, reasons = ladder_level(**{**BASE, "news2": 8, "news2_band": "high", "qsofa": 2, "lactate": 4.5},
                                  config=LADDER, texts={"news2_emergency": "NEWS2 8 (high)", "qsofa": "qSOFA 2"})
    assert level == 4
    assert reasons == ("lactate at or above the critical level", "NEWS2 8 (high)", "qSOFA 2")


def test_trigger_levels_come_from_the_config() -> None:
    spec = LadderConfig(trigger_levels={"news2_emergency": 3, "qsofa": 0})
    assert spec.trigger_levels["lactate"] == 4  # triggers not named keep their default
    assert ladder_level(**{**BASE, "news2": 7, "news2_band": "high"}, config=spec)[0] == 3
    level, reasons = ladder_level(**{**BASE, "qsofa": 2}, config=spec, texts={"qsofa": "qSOFA 2"})
    assert (level, reasons) == (0, ("qSOFA 2",))  # level 0: a reason only
    level, reasons = ladder_level(**{**BASE, "news2": 5, "news2_band": "medium", "qsofa": 2}, config=spec,
                                  texts={"qsofa": "qSOFA 2", "news2_urgent": "NEWS2 5"})
    assert (level, reasons) == (2, ("NEWS2 5", "qSOFA 2"))


@pytest.mark.parametrize("changes, message", [
    ({"trigger_levels": {"lactate": 3}}, "septic-shock signs stay at level 4"),
    ({"trigger_levels": {"news2_red": 5}}, "a level 0-4"),
    ({"trigger_levels": {"nonsense": 2}}, "unknown trigger"),
])
def test_trigger_levels_are_validated(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LadderConfig(**changes)


def _shock(new_set: bool = True, risk: bool = False) -> Assessment:
    reasons = ("shock_index", "news2_urgent", *(("risk_model",) if risk else ()))
    return Assessment(4, reasons, new_set)


def test_shock_index_counts_on_the_second_consecutive_set() -> None:
    levels = LADDER.trigger_levels
    first, sets = confirm_shock_index(_shock(), 0, 2, levels)
    assert (first.level, first.reasons, sets) == (2, ("news2_urgent",), 1)
    same_set, sets = confirm_shock_index(_shock(new_set=False), sets, 2, levels)
    assert same_set.level == 2 and sets == 1  # a rescoring of the same set confirms nothing
    second, sets = confirm_shock_index(_shock(), sets, 2, levels)
    assert second == _shock() and sets == 2
    cleared, sets = confirm_shock_index(Assessment(2, ("news2_urgent",)), sets, 2, levels)
    assert sets == 0 and cleared.level == 2
    assert confirm_shock_index(_shock(new_set=False), 0, 1, levels)[0] == _shock(new_set=False)  # 1: at once


def test_unconfirmed_shock_index_leaves_the_model_level_and_ranks_it() -> None:
    levels = LADDER.trigger_levels
    got, _ = confirm_shock_index(_shock(risk=True), 0, 2, levels, risk_level=3)
    assert (got.level, got.reasons) == (3, ("risk_model", "news2_urgent"))
    got, _ = confirm_shock_index(_shock(risk=True), 0, 2, levels, risk_level=1)
    assert (got.level, got.reasons) == (2, ("news2_urgent", "risk_model"))


# ----------------------------------------------------------------------------- risk rise within a level

def _risks(steps: list[tuple[int, int, float | None]], config: EscalationConfig = CONFIG,
           state: EscalationState | None = None):
    """Feed (minute, level, learned risk) assessments; return [(minute, transition, reason)] and the state."""
    state = state or EscalationState()
    out = []
    for minute, level, risk in steps:
        state, decision = decide(state, Assessment(level, ("risk_model",)), minute * MIN, config, "ep-r", risk)
        out.append((minute, decision.transition, decision.reason, decision.reasons))
    return out, state


def test_a_doubled_risk_within_a_level_is_announced_once_per_doubling() -> None:
    rows, state = _risks([(0, 3, 0.06), (10, 3, 0.11), (20, 3, 0.12), (30, 3, 0.2), (40, 3, 0.23), (50, 3, 0.24)])
    fired = [(m, t, r) for m, t, r, _ in rows if t is not None]
    assert fired == [(0, AlertTransition.OPENED, DecisionReason.LEVEL_ENTERED),
                     (20, AlertTransition.REPEATED, DecisionReason.RISK_ROSE),  # 0.12 >= 2 x 0.06
                     (50, AlertTransition.REPEATED, DecisionReason.RISK_ROSE)]  # 0.24 >= 2 x 0.12, not 0.23
    assert rows[2][3][0] == "learned risk 12.0%: at least 2 x the 6.0% of the last alert"
    assert rows[2][3][1:] == ("risk_model",)
    assert state.last_risk == 0.24 and state.sequence == 3 and state.last_fired_s == 50 * MIN


def test_every_transition_resets_the_reference_and_a_missing_risk_keeps_it() -> None:
    rows, state = _risks([(0, 2, 0.02), (10, 3, 0.06), (20, 3, 0.1), (30, 3, None), (40, 2, 0.1), (100, 2, 0.1)])
    assert [t for _, t, _, _ in rows] == [AlertTransition.OPENED, AlertTransition.ESCALATED, None, None, None,
                                          AlertTransition.DE_ESCALATED]
    assert state.last_risk == 0.1  # the de-escalation carried 0.1: 0.12 (2 x 0.06) no longer counts
    rows, _ = _risks([(110, 2, 0.19), (120, 2, 0.2)], state=state)
    assert [t for _, t, _, _ in rows] == [None, AlertTransition.REPEATED]
    _, quiet = _risks([(0, 3, 0.06), (10, 3, None)])
    assert quiet.last_risk == 0.06


def test_no_risk_rise_while_a_lower_level_is_pending() -> None:
    rows, _ = _risks([(0, 3, 0.06), (10, 2, 0.2)])
    assert rows[1][2] is DecisionReason.LOWER_LEVEL_PENDING


def test_a_state_without_a_risk_reference_adopts_the_next_risk() -> None:
    """A state from before format 5 (or an alert without the model) has no reference: the next risk becomes it."""
    state = EscalationState(episode_id="ep-old", opened_s=0, sequence=2, level=3, last_fired_s=0)
    rows, state = _risks([(10, 3, 0.1), (20, 3, 0.15), (30, 3, 0.2)], state=state)
    assert [t for _, t, _, _ in rows] == [None, None, AlertTransition.REPEATED]
    assert state.last_risk == 0.2 and state.sequence == 3


def test_the_risk_rise_multiple_is_configurable_and_validated() -> None:
    config = EscalationConfig(risk_rise_multiple=3.0)
    rows, _ = _risks([(0, 3, 0.05), (10, 3, 0.1), (20, 3, 0.16)], config)
    assert [t for _, t, _, _ in rows] == [AlertTransition.OPENED, None, AlertTransition.REPEATED]
    assert rows[2][3][0].startswith("learned risk 16.0%: at least 3 x")
    assert EscalationConfig().risk_rise_multiple == 2.0
    for bad in (1.0, 0.5, 101):
        with pytest.raises(ValueError, match="risk_rise_multiple"):
            EscalationConfig(risk_rise_multiple=bad)
