"""Escalation decisions: tiers with delays, ack/resolve stop, a higher level escalates at once, rebuild."""

from __future__ import annotations

import pytest

from notifier.core import escalation as esc
from notifier.core.model import AckEvent, DeliveryOutcome, Notification, NotificationLogEntry
from schemas.alert import AlertTransition
from tests.notifier.helpers import make_alert

POLICY = esc.EscalationPolicy.model_validate({"name": "chain", "tiers": [
    {"receiver": "charge-nurse"}, {"receiver": "rrt", "delay_s": 300}, {"receiver": "intensivist", "delay_s": 600}]})
POLICIES = {"chain": POLICY}


def _sent(tier: int, at: float, receiver: str = "charge-nurse", **alert_kwargs: object) -> NotificationLogEntry:
    item = Notification(make_alert(**alert_kwargs), receiver=receiver, tier=tier, escalation_policy="chain",
                        outcome=DeliveryOutcome.DELIVERED, attempts=1)
    return NotificationLogEntry.from_notification(item, at)


def _ack(at: float, resolved: bool = False) -> AckEvent:
    return AckEvent(episode_id=make_alert().episode_id, acked_by="rn", via="api", acked_at_s=at, resolved=resolved)


def _state() -> esc.EpisodeEscalation:
    state = esc.on_sent(None, _sent(0, 1000.0))
    assert state is not None
    return state


@pytest.mark.parametrize(("now", "expected"), [
    (1000.0, []),
    (1299.9, []),
    (1300.0, [(1, "rrt")]),
    (5000.0, [(1, "rrt")]),  # one tier at a time, even when late
])
def test_due_after_delay(now: float, expected: list) -> None:
    steps = esc.due_steps([_state()], POLICIES, now)
    assert [(s.tier, s.receiver) for s in steps] == expected


def test_chain_walks_tiers_then_stops_at_the_last() -> None:
    state = _state()
    state = esc.mark_stepped(state, esc.due_steps([state], POLICIES, 1300.0)[0], 1300.0)
    assert esc.due_steps([state], POLICIES, 1899.0) == []
    step = esc.due_steps([state], POLICIES, 1900.0)[0]
    assert (step.tier, step.receiver) == (2, "intensivist")
    state = esc.mark_stepped(state, step, 1900.0)
    assert esc.due_steps([state], POLICIES, 99999.0) == []


@pytest.mark.parametrize(("ack", "reason"), [
    (_ack(1100.0), esc.EscalationReason.STOPPED_ACKED),
    (_ack(1100.0, resolved=True), esc.EscalationReason.STOPPED_RESOLVED),
])
def test_ack_or_pagerduty_resolve_stops(ack: AckEvent, reason: esc.EscalationReason) -> None:
    state, got = esc.on_ack(_state(), ack)
    assert got == reason
    assert state is not None
    assert esc.due_steps([state], POLICIES, 99999.0) == []


def test_resolve_alert_stops() -> None:
    resolved = make_alert(sequence=3, transition=AlertTransition.RESOLVED, level=0)
    state, decision = esc.on_alert(_state(), resolved, POLICIES, 1100.0)
    assert decision.reason == esc.EscalationReason.STOPPED_RESOLVED
    assert state is not None and esc.due_steps([state], POLICIES, 99999.0) == []


def test_higher_level_escalates_at_once_even_after_an_ack_at_a_lower_level() -> None:
    state, _ = esc.on_ack(_state(), _ack(1100.0))
    higher = make_alert(sequence=1, level=4, transition=AlertTransition.ESCALATED, previous_level=3)
    state, decision = esc.on_alert(state, higher, POLICIES, 1200.0)
    assert decision.reason == esc.EscalationReason.ESCALATE_NOW
    assert decision.step is not None and (decision.step.tier, decision.step.receiver) == (1, "rrt")
    assert state is not None and state.waiting_for_ack and state.tier_notified_at_s == 1200.0


def test_same_or_lower_level_does_not_escalate() -> None:
    repeat = make_alert(sequence=1, level=3, transition=AlertTransition.REPEATED)
    _, decision = esc.on_alert(_state(), repeat, POLICIES, 1200.0)
    assert decision.reason == esc.EscalationReason.NONE


def test_rebuild_from_log_and_acks_restores_timers() -> None:
    entries = [_sent(0, 1000.0), _sent(1, 1300.0, receiver="rrt")]
    states = esc.rebuild(entries, [])
    step = esc.due_steps(states.values(), POLICIES, 1900.0)
    assert [(s.tier, s.receiver) for s in step] == [(2, "intensivist")]
    assert esc.due_steps(esc.rebuild(entries, [_ack(1400.0)]).values(), POLICIES, 99999.0) == []


def test_tier_zero_must_have_no_delay() -> None:
    with pytest.raises(ValueError, match=r"tiers\[0\].delay_s must be 0"):
        esc.EscalationPolicy.model_validate({"name": "x", "tiers": [{"receiver": "a", "delay_s": 5}]})
