"""Paging policy: which alert transitions page a person, and which only update the episode (pure).

The detector announces every change of a patient's episode (opened, escalated, de-escalated, repeated,
resolved). Paging each of them taught responders to ignore the pager: one episode of `make run` produced 52
notifications as its level went 2 -> 3 -> 2 -> 4 -> 3. This module decides, per transition, one of:

* `page`: a person is notified now. An episode pages when it first reaches `min_level`, and again only when it
  reaches a level it has not paged within `lookback_h`, at most `max_pages_per_24h` times in any 24 h and
  `max_pages_per_episode` times in all (a rise to level 4, the septic-shock signs, is exempt from the 24 h
  budget, and its first one from the episode's; never from the look-back);
* `update`: the episode's state changes (console, records, an open PagerDuty incident) but nobody is paged:
  levels below `min_level`, de-escalations, reminders, a level paged recently, the budget spent, or an
  acknowledgement / snooze that still holds (see below);
* `resolve`: the episode ended; only an episode that paged somebody sends it (nobody needs to hear that an
  episode they never heard of is over).

An acknowledgement holds further pages until the patient is worse than when it was acknowledged: a higher
level, or a learned risk at least `ack_risk_multiple` times the acknowledged risk. The detector announces a
risk rise within a level as `repeated` (its escalation.risk_rise_multiple, equal to ack_risk_multiple by
default), so a `repeated` alert pages exactly when an acknowledgement holds and its risk is that much higher;
otherwise (a reminder, a feed-gap notice, no acknowledgement) it is an update. A snooze holds them the same
way, until it ends (wall clock). Once a page goes out because the patient got worse, a new acknowledgement is
needed to hold the next one.

Times: the look-back and the budget run in EVENT time (the alert's `event_time`), so an offline replay of the
same alerts takes the same decisions as the live notifier; only a snooze's end is wall-clock time, because a
person chose it. State is rebuilt after a restart from the notification log (`kind` of each entry) and the acks
topic, through `on_logged_page` and `on_ack`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert import Alert, AlertTransition

__all__ = [
    "DAY_S",
    "EpisodePaging",
    "PageDecision",
    "PageKind",
    "PageReason",
    "PagingBook",
    "PagingPolicy",
    "alert_risk",
    "decide_page",
    "on_ack",
    "on_logged_page",
]

DAY_S = 24 * 3600.0
TOP_LEVEL = 4


class PagingPolicy(BaseModel):
    """When a transition pages a person (module docstring). Defaults measured on set A: docs/paging.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_level: int = Field(default=3, ge=1, le=4, description="episodes page from this level; lower levels update "
                                                               "the episode (console, records) without paging [ENG]")
    lookback_h: float = Field(default=6.0, gt=0, le=72, description="a rise pages only to a level the episode has "
                                                                    "not paged within this many hours (event time)")
    max_pages_per_24h: int = Field(default=2, ge=1, le=24, description="pages per episode in any 24 h (event time); "
                                                                       "a rise to level 4 is exempt")
    max_pages_per_episode: int = Field(default=3, ge=1, le=100, description="pages per episode in all; the first "
                                       "rise to level 4 is exempt (an ICU episode can stay open for days: the "
                                       "team paged three times knows the patient, the console keeps the state)")
    ack_risk_multiple: float = Field(default=2.0, gt=1.0, le=100, description="after an acknowledgement or snooze, "
                                     "a page again once the learned risk reaches this multiple of the acknowledged "
                                     "risk (or the level rises)")
    max_snooze_h: float = Field(default=12.0, gt=0, le=72, description="longest snooze a responder can set")


class PageKind(StrEnum):
    PAGE = "page"
    UPDATE = "update"
    RESOLVE = "resolve"


class PageReason(StrEnum):
    FIRST_PAGE = "first_page"
    NEW_LEVEL = "new_level"  # a level not paged within the look-back
    TOP_LEVEL = "top_level"  # a rise to level 4 over the budget
    WORSE_THAN_ACKNOWLEDGED = "worse_than_acknowledged"
    BELOW_PAGE_LEVEL = "below_page_level"
    NOT_A_RISE = "not_a_rise"  # de-escalated / repeated
    PAGED_RECENTLY = "paged_recently"
    BUDGET_SPENT = "budget_spent"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    NEVER_PAGED = "never_paged"  # resolve of an episode that paged nobody
    SAME_PAGE = "same_page"  # this very alert paged before (read again after a restart): the dedup stage
    # delivers it only to receivers that have not got it


@dataclass(frozen=True, slots=True)
class PageDecision:
    kind: PageKind
    reason: PageReason


@dataclass(frozen=True, slots=True)
class EpisodePaging:
    """One episode's paging history. `pages`: (event seconds, level, alert id) of its pages within the last
    24 h of event time; `paged`: it paged at least once; `ack_*`: the hold of the latest acknowledgement or
    snooze (None: none holds); `snooze_until_s`: wall-clock end of a snooze (None: an acknowledgement)."""

    episode_id: str
    pages: tuple[tuple[float, int, str], ...] = ()
    paged: bool = False
    total_pages: int = 0
    top_paged: bool = False
    level: int = 0
    risk: float | None = None
    ack_level: int | None = None
    ack_risk: float | None = None
    snooze_until_s: float | None = None
    last_page_wall_s: float | None = None  # when the latest page was decided: an older acknowledgement is stale


def alert_risk(alert: Alert) -> float | None:
    """The learned model's calibrated probability carried by the alert (score `risk_model`), if any."""
    for score in alert.scores:
        if score.name == "risk_model" and isinstance(score.value, float | int) and not isinstance(score.value, bool):
            return float(score.value)
    return None


def _event_s(alert: Alert) -> float:
    return alert.event_time.timestamp()


def _recent(pages: tuple[tuple[float, int, str], ...], now_s: float, span_s: float) -> list[tuple[float, int, str]]:
    return [p for p in pages if now_s - p[0] < span_s]


def _worse(state: EpisodePaging, level: int, risk: float | None, multiple: float) -> bool:
    if state.ack_level is not None and level > state.ack_level:
        return True
    return _risk_worse(state, risk, multiple)


def _risk_worse(state: EpisodePaging, risk: float | None, multiple: float) -> bool:
    return risk is not None and state.ack_risk is not None and risk >= multiple * state.ack_risk


def decide_page(state: EpisodePaging | None, alert: Alert, policy: PagingPolicy,
                wall_now_s: float) -> tuple[EpisodePaging, PageDecision]:
    """The paging decision for one alert transition of an episode, and the episode's state after it.

    `wall_now_s` (epoch seconds) is read only to end a snooze; everything else runs in the alert's event time.
    """
    state = state if state is not None and state.episode_id == alert.episode_id else EpisodePaging(alert.episode_id)
    level, risk, now_s = int(alert.level), alert_risk(alert), _event_s(alert)
    if alert.transition == AlertTransition.RESOLVED:
        kind, reason = ((PageKind.RESOLVE, PageReason.RESOLVED) if state.paged
                        else (PageKind.UPDATE, PageReason.NEVER_PAGED))
        return replace(state, level=0), PageDecision(kind, reason)
    if any(p[2] == alert.alert_id for p in state.pages):
        return state, PageDecision(PageKind.PAGE, PageReason.SAME_PAGE)
    pages = tuple(_recent(state.pages, now_s, DAY_S))
    held = state.ack_level is not None
    if held and state.snooze_until_s is not None and wall_now_s >= state.snooze_until_s:
        held = False  # the snooze has ended
    updated = replace(state, pages=pages, level=level, risk=risk if risk is not None else state.risk)
    if level < policy.min_level:
        return updated, PageDecision(PageKind.UPDATE, PageReason.BELOW_PAGE_LEVEL)
    if alert.transition == AlertTransition.DE_ESCALATED:
        return updated, PageDecision(PageKind.UPDATE, PageReason.NOT_A_RISE)
    if alert.transition == AlertTransition.REPEATED:
        # Same level by definition: only the risk can make it worse than what was acknowledged.
        worse = held and _risk_worse(state, risk, policy.ack_risk_multiple)
        if not worse:
            return updated, PageDecision(PageKind.UPDATE, PageReason.NOT_A_RISE)
    else:
        worse = held and _worse(state, level, risk, policy.ack_risk_multiple)
    if held and not worse:
        return updated, PageDecision(PageKind.UPDATE, PageReason.SNOOZED if state.snooze_until_s is not None
                                     else PageReason.ACKNOWLEDGED)
    recent = _recent(pages, now_s, policy.lookback_h * 3600)
    if not worse and recent and level <= max(p[1] for p in recent):
        return updated, PageDecision(PageKind.UPDATE, PageReason.PAGED_RECENTLY)
    over_episode = state.total_pages >= policy.max_pages_per_episode
    if len(pages) >= policy.max_pages_per_24h or over_episode:
        exempt = level >= TOP_LEVEL and not any(p[1] >= TOP_LEVEL for p in recent)
        if over_episode and state.top_paged:
            exempt = False  # beyond the episode's budget only its first rise to the top level pages
        if not exempt:
            return updated, PageDecision(PageKind.UPDATE, PageReason.BUDGET_SPENT)
        reason = PageReason.TOP_LEVEL
    elif worse:
        reason = PageReason.WORSE_THAN_ACKNOWLEDGED
    else:
        reason = PageReason.NEW_LEVEL if state.paged else PageReason.FIRST_PAGE
    paged = replace(updated, pages=(*pages, (now_s, level, alert.alert_id)), paged=True,
                    total_pages=state.total_pages + 1, top_paged=state.top_paged or level >= TOP_LEVEL, ack_level=None,
                    ack_risk=None, snooze_until_s=None, last_page_wall_s=wall_now_s)
    return paged, PageDecision(PageKind.PAGE, reason)


def on_logged_page(state: EpisodePaging | None, alert: Alert, sent_at_s: float) -> EpisodePaging:
    """Fold a page read back from the notification log (restart, or another replica's page) into the state;
    `sent_at_s` is the entry's wall-clock time."""
    state = state if state is not None else EpisodePaging(alert.episode_id)
    last = max(sent_at_s, state.last_page_wall_s or sent_at_s)
    if any(p[2] == alert.alert_id for p in state.pages):
        return replace(state, last_page_wall_s=last)
    now_s = _event_s(alert)
    pages = tuple(sorted((*_recent(state.pages, now_s, DAY_S), (now_s, int(alert.level), alert.alert_id))))
    risk = alert_risk(alert)
    return replace(state, pages=pages, paged=True, total_pages=state.total_pages + 1,
                   top_paged=state.top_paged or int(alert.level) >= TOP_LEVEL, level=max(state.level, int(alert.level)),
                   risk=risk if risk is not None else state.risk, last_page_wall_s=last)


def on_ack(state: EpisodePaging | None, episode_id: str, level: int | None, risk: float | None,
           snooze_until_s: float | None = None, acked_at_s: float | None = None) -> EpisodePaging:
    """An acknowledgement (or, with `snooze_until_s`, a snooze) at the given level and risk: pages hold until
    the patient is worse than that. Without a level the episode's latest one is used. An acknowledgement made
    before the episode's latest page (`acked_at_s`, wall clock; read back after a restart) holds nothing: that
    page went out because the patient got worse after it."""
    state = state if state is not None else EpisodePaging(episode_id)
    if acked_at_s is not None and state.last_page_wall_s is not None and acked_at_s < state.last_page_wall_s:
        return state
    return replace(state, ack_level=level if level is not None else state.level,
                   ack_risk=risk if risk is not None else state.risk, snooze_until_s=snooze_until_s)


class PagingBook:
    """Paging state per open episode, least recently used first, at most `max_episodes` (pure, no clock)."""

    def __init__(self, max_episodes: int = 20_000) -> None:
        if max_episodes < 1:
            raise ValueError(f"max_episodes must be >= 1 (got {max_episodes!r})")
        self.max_episodes = max_episodes
        self._states: OrderedDict[str, EpisodePaging] = OrderedDict()

    def get(self, episode_id: str) -> EpisodePaging | None:
        return self._states.get(episode_id)

    def put(self, state: EpisodePaging) -> None:
        self._states[state.episode_id] = state
        self._states.move_to_end(state.episode_id)
        while len(self._states) > self.max_episodes:
            self._states.popitem(last=False)

    def drop(self, episode_id: str) -> None:
        self._states.pop(episode_id, None)

    def __iter__(self) -> Iterator[EpisodePaging]:
        return iter(list(self._states.values()))

    def __len__(self) -> int:
        return len(self._states)
