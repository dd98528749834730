"""The paging policy: first page, look-back, budget, top level, de-escalation, acknowledgement, snooze, resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.core.paging import (
    EpisodePaging,
    PageDecision,
    PageKind,
    PageReason,
    PagingBook,
    PagingPolicy,
    decide_page,
    on_ack,
    on_logged_page,
)
from schemas.alert import Alert, AlertTransition, ScoreSnapshot
from tests.notifier.helpers import T0, make_alert

POLICY = PagingPolicy()  # min level 3, look-back 6 h, 2 pages per 24 h
WALL = 1_000_000.0

OPENED, ESCALATED, DOWN = AlertTransition.OPENED, AlertTransition.ESCALATED, AlertTransition.DE_ESCALATED


def _alert(sequence: int, hours: float, level: int, transition: AlertTransition, risk: float | None = None) -> Alert:
    alert = make_alert(sequence=sequence, level=level, transition=transition)
    scores = list(alert.scores)
    if risk is not None:
        scores.append(ScoreSnapshot(name="risk_model", value=risk, band="elevated"))
    return alert.model_copy(update={"event_time": T0 + timedelta(hours=hours), "scores": scores})


def _run(steps: list[tuple[float, int, AlertTransition]], policy: PagingPolicy = POLICY,
         state: EpisodePaging | None = None) -> tuple[list[tuple[PageKind, PageReason]], EpisodePaging | None]:
    out = []
    for sequence, (hours, level, transition) in enumerate(steps):
        state, decision = decide_page(state, _alert(sequence, hours, level, transition), policy, WALL)
        out.append((decision.kind, decision.reason))
    return out, state


def _kinds(steps: list[tuple[float, int, AlertTransition]], policy: PagingPolicy = POLICY) -> list[str]:
    return [kind.value for kind, _ in _run(steps, policy)[0]]


def test_an_episode_pages_once_when_it_reaches_the_page_level() -> None:
    decisions, state = _run([(0, 2, OPENED), (1, 3, ESCALATED)])
    assert decisions == [(PageKind.UPDATE, PageReason.BELOW_PAGE_LEVEL), (PageKind.PAGE, PageReason.FIRST_PAGE)]
    assert state is not None and state.paged and [p[1] for p in state.pages] == [3]


def test_flapping_within_the_look_back_never_pages_again() -> None:
    """The make-run episode of issue #17: 2 -> 3 -> 2 -> 4 -> 3 -> 4 over a few hours."""
    steps = [(0, 2, OPENED), (1, 3, ESCALATED), (2, 2, DOWN), (3, 4, ESCALATED), (4, 3, DOWN), (5, 4, ESCALATED)]
    decisions, _ = _run(steps)
    assert [k.value for k, _ in decisions] == ["update", "page", "update", "page", "update", "update"]
    assert decisions[3][1] == PageReason.NEW_LEVEL and decisions[5][1] == PageReason.PAGED_RECENTLY


def test_the_same_level_pages_again_only_after_the_look_back() -> None:
    steps = [(0, 3, OPENED), (2, 2, DOWN), (4, 3, ESCALATED), (7, 2, DOWN), (8, 3, ESCALATED)]
    assert _kinds(steps) == ["page", "update", "update", "update", "page"]


def test_the_budget_bounds_pages_per_24_hours_except_a_rise_to_the_top() -> None:
    policy = PagingPolicy(lookback_h=1, max_pages_per_24h=2, max_pages_per_episode=10)
    steps = [(0, 3, OPENED), (2, 2, DOWN), (3, 3, ESCALATED), (5, 2, DOWN), (6, 3, ESCALATED), (7, 4, ESCALATED),
             (7.5, 3, DOWN), (7.9, 4, ESCALATED), (9.5, 3, DOWN), (10, 4, ESCALATED)]
    decisions, _ = _run(steps, policy)
    assert [k.value for k, _ in decisions] == ["page", "update", "page", "update", "update", "page", "update",
                                               "update", "update", "page"]
    assert decisions[4][1] == PageReason.BUDGET_SPENT and decisions[5][1] == PageReason.TOP_LEVEL
    assert decisions[7][1] == PageReason.PAGED_RECENTLY  # the look-back still holds for the top level
    assert decisions[9][1] == PageReason.TOP_LEVEL
    # a day later the budget is free again
    later, _ = _run([*steps, (31, 2, DOWN), (32, 3, ESCALATED)], policy)
    assert later[-1] == (PageKind.PAGE, PageReason.NEW_LEVEL)


def test_de_escalations_and_reminders_never_page() -> None:
    steps = [(0, 4, OPENED), (8, 3, DOWN), (9, 3, AlertTransition.REPEATED)]
    assert _kinds(steps) == ["page", "update", "update"]


def test_resolve_reaches_only_episodes_that_paged() -> None:
    assert _kinds([(0, 3, OPENED), (5, 0, AlertTransition.RESOLVED)]) == ["page", "resolve"]
    decisions, _ = _run([(0, 2, OPENED), (5, 0, AlertTransition.RESOLVED)])
    assert decisions[-1] == (PageKind.UPDATE, PageReason.NEVER_PAGED)


def test_an_acknowledgement_holds_pages_until_the_patient_is_worse() -> None:
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state = on_ack(state, state.episode_id, None, None)
    assert (state.ack_level, state.ack_risk) == (3, 0.06)  # the latest level and risk
    # the look-back has passed, the same level returns with a risk below twice the acknowledged one: held
    state, decision = decide_page(state, _alert(1, 9, 3, ESCALATED, risk=0.10), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.ACKNOWLEDGED)
    # the risk doubled: worse than acknowledged, a page even within the look-back, and the hold is spent
    state, decision = decide_page(state, _alert(2, 10, 3, ESCALATED, risk=0.13), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.PAGE, PageReason.WORSE_THAN_ACKNOWLEDGED)
    assert state.ack_level is None
    # a higher level is worse too (two pages in 24 h already: the rise to level 4 pages over the budget)
    held = on_ack(state, state.episode_id, 3, 0.13)
    _, decision = decide_page(held, _alert(3, 11, 4, ESCALATED, risk=0.13), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.PAGE, PageReason.TOP_LEVEL)


def test_a_snooze_holds_until_it_ends() -> None:
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state = on_ack(state, state.episode_id, 3, 0.06, snooze_until_s=WALL + 3600)
    _, decision = decide_page(state, _alert(1, 8, 3, ESCALATED, risk=0.07), POLICY, WALL + 60)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.SNOOZED)
    _, decision = decide_page(state, _alert(1, 8, 3, ESCALATED, risk=0.07), POLICY, WALL + 3600)
    assert decision.kind == PageKind.PAGE  # the snooze ended: the normal rules (look-back passed) apply


def test_replayed_pages_rebuild_the_same_state() -> None:
    steps = [(0, 3, OPENED), (2, 2, DOWN), (3, 4, ESCALATED), (4, 3, DOWN)]
    live: EpisodePaging | None = None
    rebuilt: EpisodePaging | None = None
    for sequence, (hours, level, transition) in enumerate(steps):
        alert = _alert(sequence, hours, level, transition)
        live, decision = decide_page(live, alert, POLICY, WALL)
        if decision.kind == PageKind.PAGE:
            rebuilt = on_logged_page(rebuilt, alert, WALL)
            rebuilt = on_logged_page(rebuilt, alert, WALL + 1)  # the same page logged for a second receiver
    assert rebuilt is not None and live is not None
    assert rebuilt.pages == live.pages and rebuilt.paged
    # the same alert read again (a crash between two receivers' deliveries) is the same page, not an update
    again = _alert(2, 3, 4, ESCALATED)
    assert decide_page(rebuilt, again, POLICY, WALL)[1] == PageDecision(PageKind.PAGE, PageReason.SAME_PAGE)
    follow = _alert(9, 5, 4, ESCALATED)
    assert decide_page(rebuilt, follow, POLICY, WALL)[1] == decide_page(live, follow, POLICY, WALL)[1]
    # an acknowledgement older than the latest page holds nothing; a newer one does
    assert on_ack(rebuilt, rebuilt.episode_id, 3, None, acked_at_s=WALL - 10).ack_level is None
    assert on_ack(rebuilt, rebuilt.episode_id, 3, None, acked_at_s=WALL + 10).ack_level == 3


def test_policy_and_book_bounds() -> None:
    with pytest.raises(ValueError):
        PagingPolicy(ack_risk_multiple=1.0)
    book = PagingBook(max_episodes=2)
    for name in ("a", "b", "c"):
        book.put(EpisodePaging(name))
    assert [s.episode_id for s in book] == ["b", "c"] and book.get("a") is None
    book.drop("b")
    assert len(book) == 1


def test_an_episode_open_for_days_pages_at_most_its_budget_plus_its_first_shock() -> None:
    steps: list[tuple[float, int, AlertTransition]] = [(0, 3, OPENED)]
    for day in range(1, 6):  # back to level 3 once a day after a day at level 2
        steps += [(24 * day - 12, 2, DOWN), (24 * day, 3, ESCALATED)]
    steps += [(130, 4, ESCALATED), (140, 3, DOWN), (150, 4, ESCALATED)]
    decisions, state = _run(steps)
    pages = [reason for kind, reason in decisions if kind == PageKind.PAGE]
    assert pages == [PageReason.FIRST_PAGE, PageReason.NEW_LEVEL, PageReason.NEW_LEVEL, PageReason.TOP_LEVEL]
    assert state is not None and state.total_pages == 4 and state.top_paged


REPEATED = AlertTransition.REPEATED


def test_a_risk_rise_announced_as_repeated_pages_an_acknowledged_episode() -> None:
    """The detector announces a doubled learned risk within a level as `repeated` (escalation.risk_rise_multiple):
    with an acknowledgement holding, that is worse than acknowledged and pages, even within the look-back."""
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state = on_ack(state, state.episode_id, None, None)
    state, decision = decide_page(state, _alert(1, 1, 3, REPEATED, risk=0.11), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.NOT_A_RISE)  # below 2 x 0.06
    state, decision = decide_page(state, _alert(2, 2, 3, REPEATED, risk=0.12), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.PAGE, PageReason.WORSE_THAN_ACKNOWLEDGED)
    assert state.ack_level is None and state.total_pages == 2
    # the hold is spent: the next rise is an update until someone acknowledges again
    _, decision = decide_page(state, _alert(3, 3, 3, REPEATED, risk=0.30), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.NOT_A_RISE)


def test_a_risk_rise_is_only_an_update_without_an_acknowledgement() -> None:
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state, decision = decide_page(state, _alert(1, 2, 3, REPEATED, risk=0.13), POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.NOT_A_RISE)
    assert state.risk == 0.13 and state.total_pages == 1


def test_a_snoozed_episode_pages_on_a_risk_rise() -> None:
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state = on_ack(state, state.episode_id, 3, 0.06, snooze_until_s=WALL + 3600)
    _, decision = decide_page(state, _alert(1, 1, 3, REPEATED, risk=0.12), POLICY, WALL + 60)
    assert (decision.kind, decision.reason) == (PageKind.PAGE, PageReason.WORSE_THAN_ACKNOWLEDGED)


def test_a_feed_gap_notice_never_pages() -> None:
    """The detector's feed-gap sweep sends `repeated` with `cannot_rule_out` and no scores: an update, even when
    the acknowledgement was at a lower level (a rise held by the budget) or the risk had doubled before."""
    state = decide_page(None, _alert(0, 0, 3, OPENED, risk=0.06), POLICY, WALL)[0]
    state = decide_page(state, _alert(1, 7, 4, ESCALATED, risk=0.06), POLICY, WALL)[0]
    held = on_ack(state, state.episode_id, 3, 0.03)
    gap = _alert(2, 12, 4, REPEATED).model_copy(update={"scores": [],
                                                        "cannot_rule_out": ["heart rate: last 4.0 h ago"]})
    state, decision = decide_page(held, gap, POLICY, WALL)
    assert (decision.kind, decision.reason) == (PageKind.UPDATE, PageReason.NOT_A_RISE)
    assert state.risk == 0.06  # no risk on the notice: the last one is kept
