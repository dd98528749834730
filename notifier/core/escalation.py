"""Escalation: who is paged next when nobody acknowledges (pure; wall-clock time passed in).

A policy is a list of tiers (for example charge nurse, then rapid-response
team, then intensivist). Tier 0 is paged when the alert is routed; tier n is
paged `delay_s` seconds after tier n-1 if the episode is still unacknowledged.
An acknowledgement or a resolve stops the chain. A higher level from the
detector escalates at once to the next tier, and it re-opens an episode that
was acknowledged at a lower level: an acknowledgement of "urgent" is not an
acknowledgement of "septic shock".

State is rebuilt after a restart by folding the notification log and the acks
topic through the same functions (`on_sent`, `on_ack`).

Memory: a state keeps `resend_view(alert)` (no score inputs) packed (notifier.core.packed), and an
`EscalationBook` drops a state once its episode is resolved, keeping only a
tombstone (the episode id) so that a late log entry cannot restart its chain;
both live states and tombstones are capped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notifier.core.model import AckEvent, DeliveryOutcome, NotificationLogEntry, NotifyAction, resend_view
from notifier.core.packed import PackedAlert
from schemas.alert import Alert, AlertTransition

__all__ = [
    "DEFAULT_MAX_CLOSED_EPISODES",
    "DEFAULT_MAX_LIVE_EPISODES",
    "EpisodeEscalation",
    "EscalationBook",
    "EscalationDecision",
    "EscalationPolicy",
    "EscalationReason",
    "EscalationStep",
    "EscalationTier",
    "due_steps",
    "mark_stepped",
    "on_ack",
    "on_alert",
    "on_sent",
    "rebuild",
]


class EscalationTier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receiver: str = Field(description="receiver paged at this tier")
    delay_s: float = Field(default=0.0, ge=0, description="seconds after the previous tier without an "
                                                          "acknowledgement (tier 0: must be 0, paged at once)")


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, description="policy name, referenced by a route's `escalation`")
    tiers: list[EscalationTier] = Field(min_length=1, description="who is paged in turn until someone "
                                                                  "acknowledges; tier 0 at once")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        if self.tiers[0].delay_s != 0:
            raise ValueError(f"escalation {self.name}: tiers[0].delay_s must be 0 (got {self.tiers[0].delay_s!r})")
        for index, tier in enumerate(self.tiers[1:], start=1):
            if tier.delay_s <= 0:
                raise ValueError(f"escalation {self.name}: tiers[{index}].delay_s must be > 0 "
                                 f"(got {tier.delay_s!r})")
        return self


@dataclass(frozen=True)
class EpisodeEscalation:
    """Where one episode is on its escalation chain. Times are wall-clock epoch seconds."""

    episode_id: str
    policy: str
    tier: int
    tier_notified_at_s: float
    first_notified_at_s: float
    packed: PackedAlert
    """The episode's latest alert (resend_view), packed: a live notifier holds one per open episode."""
    acked_at_s: float | None = None
    acked_level: int = 0
    resolved: bool = False

    @property
    def alert(self) -> Alert:
        return self.packed.unpack()

    @property
    def level(self) -> int:
        return self.packed.level

    @property
    def waiting_for_ack(self) -> bool:
        return not self.resolved and (self.acked_at_s is None or self.level > self.acked_level)


class EscalationReason(StrEnum):
    NONE = "none"
    STOPPED_RESOLVED = "stopped_resolved"
    STOPPED_ACKED = "stopped_acked"
    ESCALATE_NOW = "escalate_now"  # a higher level from the detector
    ALREADY_ACKED = "already_acked"


@dataclass(frozen=True)
class EscalationDecision:
    reason: EscalationReason
    step: EscalationStep | None = None


@dataclass(frozen=True)
class EscalationStep:
    """Page `receiver` at `tier` for `episode_id`, with the latest alert of the episode."""

    episode_id: str
    policy: str
    tier: int
    receiver: str
    alert: Alert


def _pack(alert: Alert) -> PackedAlert:
    return PackedAlert.pack(resend_view(alert))


def on_sent(state: EpisodeEscalation | None, entry: NotificationLogEntry) -> EpisodeEscalation | None:
    """Fold a finished delivery into the episode's state (only triggers under a policy, and resolves, count).

    A delivered resolve (to any receiver) ends the chain: without this a restart, which rebuilds from
    the log alone, would escalate an episode that the detector had already resolved.
    """
    if entry.outcome == DeliveryOutcome.PENDING:
        return state
    if entry.action == NotifyAction.RESOLVE:
        if state is not None:
            return replace(state, resolved=True)
        if entry.escalation_policy is None:
            return None
        return EpisodeEscalation(entry.episode_id, entry.escalation_policy, entry.tier, entry.sent_at_s,
                                 entry.sent_at_s, _pack(entry.alert), resolved=True)
    if entry.escalation_policy is None or entry.action != NotifyAction.TRIGGER:
        return state
    if state is None:
        return EpisodeEscalation(entry.episode_id, entry.escalation_policy, entry.tier, entry.sent_at_s,
                                 entry.sent_at_s, _pack(entry.alert))
    packed = _pack(entry.alert) if entry.alert.sequence > state.packed.sequence else state.packed
    if entry.tier > state.tier:
        # Later tiers restart the clock; a repeat at the same tier does not (the chain keeps moving).
        return replace(state, tier=entry.tier, tier_notified_at_s=entry.sent_at_s, packed=packed)
    return replace(state, packed=packed)


def on_ack(state: EpisodeEscalation | None, ack: AckEvent) -> tuple[EpisodeEscalation | None, EscalationReason]:
    """An acknowledgement (or a resolve reported by PagerDuty) stops the chain at the current level."""
    if state is None:
        return None, EscalationReason.NONE
    if ack.resolved:
        return replace(state, resolved=True), EscalationReason.STOPPED_RESOLVED
    if state.acked_at_s is not None and state.acked_level >= state.level:
        return state, EscalationReason.ALREADY_ACKED
    return replace(state, acked_at_s=ack.acked_at_s, acked_level=state.level), EscalationReason.STOPPED_ACKED


def on_alert(state: EpisodeEscalation | None, alert: Alert, policies: Mapping[str, EscalationPolicy],
             now_s: float) -> tuple[EpisodeEscalation | None, EscalationDecision]:
    """A new transition of the episode: a resolve stops the chain, a higher level escalates at once.

    When the decision is ESCALATE_NOW the returned state already points at the
    next tier, notified at `now_s` (wall-clock epoch seconds).
    """
    if state is None or alert.episode_id != state.episode_id:
        return state, EscalationDecision(EscalationReason.NONE)
    if alert.transition == AlertTransition.RESOLVED:
        return (replace(state, resolved=True, packed=_pack(alert)),
                EscalationDecision(EscalationReason.STOPPED_RESOLVED))
    higher = int(alert.level) > state.level
    state = replace(state, packed=_pack(alert))
    if not higher or state.resolved:
        return state, EscalationDecision(EscalationReason.NONE)
    policy = policies.get(state.policy)
    if policy is None or state.tier + 1 >= len(policy.tiers):
        return state, EscalationDecision(EscalationReason.NONE)
    next_tier = state.tier + 1
    step = EscalationStep(state.episode_id, state.policy, next_tier, policy.tiers[next_tier].receiver, alert)
    return replace(state, tier=next_tier, tier_notified_at_s=now_s), EscalationDecision(
        EscalationReason.ESCALATE_NOW, step)


def due_steps(states: Iterable[EpisodeEscalation], policies: Mapping[str, EscalationPolicy],
              now_s: float) -> list[EscalationStep]:
    """Episodes whose next tier is due at `now_s` (wall-clock epoch seconds), oldest first."""
    steps: list[EscalationStep] = []
    for state in states:
        if not state.waiting_for_ack:
            continue
        policy = policies.get(state.policy)
        if policy is None or state.tier + 1 >= len(policy.tiers):
            continue
        next_tier = policy.tiers[state.tier + 1]
        if now_s >= state.tier_notified_at_s + next_tier.delay_s:
            steps.append(EscalationStep(state.episode_id, state.policy, state.tier + 1, next_tier.receiver,
                                        state.alert))
    return sorted(steps, key=lambda s: s.alert.emitted_at)


def mark_stepped(state: EpisodeEscalation, step: EscalationStep, now_s: float) -> EpisodeEscalation:
    """The state after `step` was handed to the pipeline at `now_s` (so it is not due again meanwhile)."""
    return replace(state, tier=max(state.tier, step.tier), tier_notified_at_s=now_s)


def rebuild(entries: Iterable[NotificationLogEntry], acks: Iterable[AckEvent]) -> dict[str, EpisodeEscalation]:
    """Escalation state after a restart: fold the notification log (by send time), then the acks."""
    states: dict[str, EpisodeEscalation] = {}
    for entry in sorted(entries, key=lambda e: e.sent_at_s):
        new = on_sent(states.get(entry.episode_id), entry)
        if new is not None:
            states[entry.episode_id] = new
    for ack in sorted(acks, key=lambda a: a.acked_at_s):
        new, _ = on_ack(states.get(ack.episode_id), ack)
        if new is not None:
            states[ack.episode_id] = new
    for episode_id, state in list(states.items()):
        if state.alert.transition == AlertTransition.RESOLVED:
            states[episode_id] = replace(state, resolved=True)
    return states


DEFAULT_MAX_LIVE_EPISODES = 20_000
"""Cap on unresolved episodes under escalation (a hospital has tens to hundreds open at once)."""
DEFAULT_MAX_CLOSED_EPISODES = 200_000
"""Cap on tombstones of resolved episodes (an episode id each, ~150 bytes)."""


class EscalationBook:
    """Escalation states of unresolved episodes plus tombstones of resolved ones, both bounded (pure, no clock).

    A resolved episode needs no state: `put` turns it into a tombstone, and a tombstoned episode
    is never given a state again (a late or replayed log entry of a resolved episode must not page
    anybody). Past `max_live` the least recently updated state goes, preferring ones that wait for
    nobody (acknowledged); past `max_closed` the oldest tombstone goes (episode ids are never
    reused, so a forgotten tombstone only matters if that episode's log entries are replayed).
    """

    def __init__(self, max_live: int = DEFAULT_MAX_LIVE_EPISODES,
                 max_closed: int = DEFAULT_MAX_CLOSED_EPISODES) -> None:
        if max_live < 1 or max_closed < 1:
            raise ValueError(f"max_live and max_closed must be >= 1 (got {max_live!r}, {max_closed!r})")
        self.max_live = max_live
        self.max_closed = max_closed
        self.states: OrderedDict[str, EpisodeEscalation] = OrderedDict()
        """Unresolved episodes, least recently updated first."""
        self.closed: OrderedDict[str, None] = OrderedDict()
        """Resolved episode ids, oldest first."""
        self.evicted_live = 0
        """States pushed out by `max_live` (a non-zero value means the cap is too small)."""

    def get(self, episode_id: str) -> EpisodeEscalation | None:
        return self.states.get(episode_id)

    def is_closed(self, episode_id: str) -> bool:
        return episode_id in self.closed

    def put(self, state: EpisodeEscalation) -> None:
        """Store the episode's new state; a resolved state becomes a tombstone, a closed episode stays closed."""
        episode_id = state.episode_id
        if episode_id in self.closed:
            return
        if state.resolved:
            self.states.pop(episode_id, None)
            self.closed[episode_id] = None
            while len(self.closed) > self.max_closed:
                self.closed.popitem(last=False)
            return
        self.states[episode_id] = state
        self.states.move_to_end(episode_id)
        while len(self.states) > self.max_live:
            self._evict_one()

    def _evict_one(self) -> None:
        victim = next((k for k, s in self.states.items() if not s.waiting_for_ack), None)
        if victim is None:
            victim = next(iter(self.states))
        del self.states[victim]
        self.evicted_live += 1

    def load(self, states: Mapping[str, EpisodeEscalation]) -> None:
        """Replace everything with rebuilt states (oldest first, so the LRU order follows send time)."""
        self.states.clear()
        self.closed.clear()
        for state in sorted(states.values(), key=lambda s: s.tier_notified_at_s):
            self.put(state)

    def __iter__(self) -> Iterator[EpisodeEscalation]:
        return iter(list(self.states.values()))

    def __len__(self) -> int:
        return len(self.states)
