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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notifier.core.model import AckEvent, DeliveryOutcome, NotificationLogEntry, NotifyAction
from schemas.alert import Alert, AlertTransition

__all__ = [
    "EpisodeEscalation",
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

    name: str = Field(min_length=1, max_length=64)
    tiers: list[EscalationTier] = Field(min_length=1)

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
    alert: Alert
    acked_at_s: float | None = None
    acked_level: int = 0
    resolved: bool = False

    @property
    def level(self) -> int:
        return int(self.alert.level)

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


def on_sent(state: EpisodeEscalation | None, entry: NotificationLogEntry) -> EpisodeEscalation | None:
    """Fold a finished delivery into the episode's state (only deliveries under a policy count)."""
    if entry.escalation_policy is None or entry.action != NotifyAction.TRIGGER:
        return state
    if entry.outcome == DeliveryOutcome.PENDING:
        return state
    if state is None:
        return EpisodeEscalation(entry.episode_id, entry.escalation_policy, entry.tier, entry.sent_at_s,
                                 entry.sent_at_s, entry.alert)
    alert = entry.alert if entry.alert.sequence >= state.alert.sequence else state.alert
    if entry.tier > state.tier:
        # Later tiers restart the clock; a repeat at the same tier does not (the chain keeps moving).
        return replace(state, tier=entry.tier, tier_notified_at_s=entry.sent_at_s, alert=alert)
    return replace(state, alert=alert)


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
        return replace(state, resolved=True, alert=alert), EscalationDecision(EscalationReason.STOPPED_RESOLVED)
    higher = int(alert.level) > state.level
    state = replace(state, alert=alert)
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
