"""Bounded memory (issue #10): the log view, escalation book and kept alerts stay small however many episodes pass."""

from __future__ import annotations

import gc
import types
from datetime import timedelta

import pytest

from notifier.core import escalation as esc
from notifier.core.dedup import DedupReason, NotificationLogView, check_dedup
from notifier.core.model import (
    AckEvent,
    DeliveryOutcome,
    LogRecord,
    Notification,
    NotificationLogEntry,
    NotifyAction,
    compact_entry,
    resend_view,
)
from notifier.core.phi import PhiPolicy, build_view
from schemas.alert import Alert, AlertTransition, ScoreInput, ScoreSnapshot
from tests.notifier.helpers import T0, make_alert

POLICY = esc.EscalationPolicy.model_validate({"name": "chain", "tiers": [
    {"receiver": "charge-nurse"}, {"receiver": "rrt", "delay_s": 300}]})
POLICIES = {"chain": POLICY}


def heavy_alert(patient: str, sequence: int = 0, **kwargs: object) -> Alert:
    """An alert whose scores carry inputs, as the detector's do (tens of kB)."""
    inputs = [ScoreInput(measure=m, value=90.0, unit="/min", effective_at=T0 + timedelta(minutes=i))
              for i, m in enumerate(("heart_rate", "respiratory_rate", "temperature", "systolic_bp"))]
    scores = [ScoreSnapshot(name=n, value=5, band="medium", inputs=inputs, reason="long reason " * 10,
                            missing=["lactate"]) for n in ("sirs", "qsofa", "news2", "sofa")]
    return make_alert(patient, sequence=sequence, **kwargs).model_copy(update={"scores": scores})


def entry(alert: Alert, receiver: str = "ward", at: float = 0.0, policy: str | None = None, tier: int = 0,
          action: NotifyAction = NotifyAction.TRIGGER) -> NotificationLogEntry:
    item = Notification(alert, receiver=receiver, escalation_policy=policy, tier=tier, action=action,
                        outcome=DeliveryOutcome.DELIVERED, attempts=1)
    return NotificationLogEntry.from_notification(item, at)


def episode_entries(n: int, policy: str | None = None) -> list[NotificationLogEntry]:
    """Episode n opened then resolved, one trigger and one resolve delivered to `ward`."""
    opened = heavy_alert(f"P{n:06d}")
    resolved = heavy_alert(f"P{n:06d}", sequence=1, level=0, transition=AlertTransition.RESOLVED, previous_level=3)
    return [entry(opened, at=10.0 * n, policy=policy),
            entry(resolved, at=10.0 * n + 5, policy=policy, action=NotifyAction.RESOLVE)]


def test_log_view_holds_slim_records_and_never_more_than_its_cap() -> None:
    view = NotificationLogView(max_entries=500)
    for n in range(3_000):
        for e in episode_entries(n):
            view.add(e)
        assert len(view) <= 500
    assert len(view) == 500 and view.episodes == 250 and view.evicted == 6_000 - 500
    assert all(type(r) is LogRecord for r in view.entries.values())  # no alert kept
    newest = episode_entries(2_999)[0]
    assert view.get(newest.key) is not None and view.get(episode_entries(0)[0].key) is None
    # the recent dedup keys still stop a re-send (a re-read after a crash covers recent alerts only)
    again = Notification(heavy_alert("P002999"), receiver="ward", action=NotifyAction.TRIGGER)
    assert check_dedup(again, view.as_mapping()).reason == DedupReason.ALREADY_DELIVERED


def test_an_active_episode_outlives_many_newer_finished_ones() -> None:
    view = NotificationLogView(max_entries=100)
    long_running = heavy_alert("LONG")
    view.add(entry(long_running, receiver="pager", at=0.0))
    for n in range(300):
        for e in episode_entries(n):
            view.add(e)
        if n % 10 == 0:  # the open episode keeps getting transitions: it stays, resolve fan-out intact
            view.add(entry(heavy_alert("LONG", sequence=1 + n), receiver="ward", at=10.0 * n))
    assert "pager" in view.delivered_receivers(long_running.episode_id)


def test_log_view_rejects_a_zero_cap() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        NotificationLogView(max_entries=0)


def test_resolved_episodes_leave_only_a_tombstone_and_tombstones_are_capped() -> None:
    book = esc.EscalationBook(max_live=50, max_closed=200)
    for n in range(2_000):
        opened, resolved = episode_entries(n, policy="chain")
        state = esc.on_sent(book.get(opened.episode_id), opened)
        assert state is not None
        book.put(state)
        state, decision = esc.on_alert(book.get(opened.episode_id), resolved.alert, POLICIES, 10.0 * n + 5)
        assert decision.reason == esc.EscalationReason.STOPPED_RESOLVED and state is not None
        book.put(state)
    assert len(book) == 0 and len(book.closed) == 200 and book.evicted_live == 0


def test_a_late_log_entry_of_a_resolved_episode_does_not_restart_its_chain() -> None:
    book = esc.EscalationBook()
    opened, _ = episode_entries(1, policy="chain")
    first = esc.on_sent(None, opened)
    assert first is not None
    book.put(first)
    done, _ = esc.on_ack(book.get(opened.episode_id), AckEvent(episode_id=opened.episode_id, acked_by="pd",
                                                               via="pagerduty", acked_at_s=12.0, resolved=True))
    assert done is not None
    book.put(done)
    assert book.get(opened.episode_id) is None and book.is_closed(opened.episode_id)
    late = esc.on_sent(None, entry(heavy_alert("P000001"), receiver="rrt", at=20.0, policy="chain", tier=1))
    assert late is not None
    book.put(late)  # another replica's entry read late: must not bring the chain back
    assert esc.due_steps(book, POLICIES, 99_999.0) == []


def test_live_cap_evicts_acknowledged_episodes_before_waiting_ones() -> None:
    book = esc.EscalationBook(max_live=3, max_closed=10)
    states = []
    for n in range(3):
        state = esc.on_sent(None, entry(heavy_alert(f"W{n}"), at=float(n), policy="chain"))
        assert state is not None
        states.append(state)
    acked, _ = esc.on_ack(states[2], AckEvent(episode_id=states[2].episode_id, acked_by="rn", via="api",
                                              acked_at_s=5.0))
    assert acked is not None
    for state in (states[0], states[1], acked):
        book.put(state)
    newcomer = esc.on_sent(None, entry(heavy_alert("W3"), at=6.0, policy="chain"))
    assert newcomer is not None
    book.put(newcomer)
    assert set(book.states) == {states[0].episode_id, states[1].episode_id, newcomer.episode_id}
    assert book.evicted_live == 1


def test_states_keep_a_resend_view_that_renders_the_same_page() -> None:
    alert = heavy_alert("P1")
    state = esc.on_sent(None, entry(alert, policy="chain"))
    assert state is not None
    assert all(s.inputs == [] and s.reason == "" and s.missing == [] for s in state.alert.scores)
    # what the copy keeps (empty defaults aside, which every alert serialises alike)
    kept, full = (a.model_dump_json(exclude_defaults=True) for a in (state.alert, alert))
    assert len(kept) < len(full) / 3
    policy = PhiPolicy()
    assert build_view(state.alert, policy, "https://x/ack") == build_view(alert, policy, "https://x/ack")
    assert resend_view(state.alert) is state.alert  # already slim: no copy


def test_compact_entry_keeps_an_alert_only_when_asked() -> None:
    full = entry(heavy_alert("P1"), policy="chain")
    slim = compact_entry(full, keep_alert=False)
    assert isinstance(slim, LogRecord) and slim.key == full.key and slim.sequence == 0 and slim.level == 3
    kept = compact_entry(full, keep_alert=True)
    assert isinstance(kept, NotificationLogEntry) and kept.alert == resend_view(full.alert)


def test_restart_rebuild_keeps_pending_timers_and_tombstones_resolved_episodes() -> None:
    pending = entry(heavy_alert("PENDING"), at=1_000.0, policy="chain")
    finished = [e for n in range(200) for e in episode_entries(n, policy="chain")]
    book = esc.EscalationBook(max_live=10, max_closed=1_000)
    book.load(esc.rebuild([pending, *finished], []))
    assert list(book.states) == [pending.episode_id] and len(book.closed) == 200
    steps = esc.due_steps(book, POLICIES, 1_300.0)
    assert [(s.episode_id, s.tier, s.receiver) for s in steps] == [(pending.episode_id, 1, "rrt")]
    # and what was sent before the restart is in the rebuilt dedup view: not sent again
    view = NotificationLogView([compact_entry(e, keep_alert=False) for e in [pending, *finished]])
    assert check_dedup(Notification(pending.alert, receiver="ward"), view.as_mapping()).reason == \
        DedupReason.ALREADY_DELIVERED


def test_a_resolve_delivered_without_a_policy_still_ends_the_chain_on_rebuild() -> None:
    opened = entry(heavy_alert("P9"), at=1_000.0, policy="chain")
    resolve = entry(heavy_alert("P9", sequence=1, level=0, transition=AlertTransition.RESOLVED), receiver="pager",
                    at=1_100.0, action=NotifyAction.RESOLVE)  # a resolve fan-out entry carries no policy
    assert esc.due_steps(esc.rebuild([opened, resolve], []).values(), POLICIES, 99_999.0) == []


def _walked(root: object) -> int:
    """Objects the cyclic collector walks to reach everything `root` holds (classes and modules aside)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType) or not gc.is_tracked(obj):
            continue
        seen.add(id(obj))
        stack.extend(gc.get_referents(obj))
    return len(seen)


def test_an_open_episode_holds_its_alert_as_one_object_the_collector_walks() -> None:
    alert = heavy_alert("P1")
    state = esc.on_sent(None, entry(alert, policy="chain"))
    assert state is not None
    gc.collect()
    assert _walked(resend_view(alert)) > 30  # parsed: each of its 4 score snapshots is several objects
    assert _walked(state) <= 3  # the state and its packed alert (bytes and ints are not walked)
    assert state.alert == resend_view(alert) and state.level == 3
    later = heavy_alert("P1", sequence=1, level=4, transition=AlertTransition.ESCALATED, previous_level=3)
    moved, _ = esc.on_alert(state, later, POLICIES, 10.0)
    assert moved is not None and moved.level == 4 and moved.alert == resend_view(later)
    earlier_again = esc.on_sent(moved, entry(alert, policy="chain", at=20.0))  # an older entry read late
    assert earlier_again is not None and earlier_again.alert.sequence == 1
