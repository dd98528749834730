"""Grouping per receiver: notifications that would wait for a throttle token share ONE message.

Alertmanager's aggregation groups (`group_by`, `group_wait`) adapted to a pager:
an alert is never held back to wait for company. A notification that finds a free
token of its receiver's bucket goes out at once, alone, exactly as without grouping.
Only when the receiver is rate-limited (Slack about 1 message/s per channel) does a
notification open a group, which is sent when the group's token comes (and at least
`group_wait_s` after it opened); every notification with the same group key that
arrives meanwhile joins it, up to `max_group_size`. A burst of 30 alerts to a Slack
channel becomes a few messages listing every alert, not 30 messages over 30 s.

The group key is always (action, escalation tier) plus the `group_by` fields, so a
message never mixes triggers with resolves or tier 1 with tier 3. Grouping is for chat
and webhook receivers; PagerDuty must keep one event per episode (dedup_key = episode
id), so its receivers refuse a `group` section at load (notifier.integrations.pagerduty).

Pure: time is monotonic seconds passed in by the caller (the same basis as the
throttle's token bucket); nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.core.model import DeliveryOutcome, Notification
from notifier.core.throttle import TokenBucket, take_token

__all__ = [
    "Admission",
    "AdmitReason",
    "GroupBy",
    "GroupKey",
    "GroupPolicy",
    "GroupingState",
    "OpenGroup",
    "admit",
    "close_group",
    "group_key",
    "make_group",
    "members_of",
    "settle",
]

GroupBy = Literal["facility", "unit", "level", "transition", "route"]
"""Alert fields a group key may use (never a patient attribute: a group is about where and how urgent)."""

GroupKey = tuple[str, ...]

MAX_GROUP_SIZE = 40
"""Hard cap of alerts in one message: a Slack message holds at most 50 blocks (one per alert plus a header and
a footer here); a Teams Workflows request at most about 28 kB."""


class GroupPolicy(BaseModel):
    """How a receiver combines notifications that would wait for its rate limit (the receiver's `group`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_by: list[GroupBy] = Field(
        default_factory=list,
        description="alert fields whose values must match for notifications to share a message (besides the "
                    "action and the escalation tier, which always must); [] = one group per receiver")
    group_wait_s: float = Field(
        default=0.0, ge=0, le=60,
        description="seconds a group gathers alerts after it opens before it may be sent (monotonic time); "
                    "0 = until the receiver's next throttle token; an alert that finds a free token is "
                    "never held back")
    max_group_size: int = Field(default=20, ge=2, le=MAX_GROUP_SIZE,
                                description="most alerts in one message; one more opens the next group")

    @field_validator("group_by")
    @classmethod
    def _no_duplicates(cls, value: list[GroupBy]) -> list[GroupBy]:
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"group_by: duplicate fields {duplicates}")
        return value


def group_key(item: Notification, group_by: list[GroupBy] | tuple[GroupBy, ...]) -> GroupKey:
    """The key notifications must share to go in one message: (action, tier, *group_by values)."""
    alert = item.alert
    location = alert.location
    values: dict[str, str] = {
        "facility": (location.facility or "") if location else "",
        "unit": (location.unit or "") if location else "",
        "level": str(int(alert.level)),
        "transition": str(alert.transition),
        "route": item.route,
    }
    return (str(item.action), str(item.tier), *(values[name] for name in group_by))


@dataclass(frozen=True)
class OpenGroup:
    """A group that is still taking members; sent at `send_at_s` (monotonic seconds)."""

    group_id: int
    key: GroupKey
    send_at_s: float
    size: int


@dataclass(frozen=True)
class GroupingState:
    """One receiver's token bucket and its open groups (at most one open group per key)."""

    bucket: TokenBucket
    open_groups: Mapping[GroupKey, OpenGroup] = field(default_factory=dict)
    next_group_id: int = 1

    @classmethod
    def start(cls, rate_per_s: float, burst: float, now_s: float) -> GroupingState:
        """A receiver with a full bucket and no group (`now_s`: monotonic seconds)."""
        return cls(TokenBucket.full(rate_per_s, burst, now_s))


class AdmitReason(StrEnum):
    """What happens to one notification arriving at a grouping receiver (also a metric label)."""

    TOKEN_FREE = "token_free"  # a token was free and no group of its key is open: sent at once, alone
    JOINED = "joined"  # an open group of its key had room: it goes in that group's message
    OPENED = "opened"  # no free token: it opens a group, sent when the group's token comes


@dataclass(frozen=True)
class Admission:
    """The decision for one notification: its reason, its group (None when sent alone) and when it may be sent."""

    reason: AdmitReason
    group_id: int | None
    send_at_s: float  # monotonic seconds; for a group, when its one message may go


def admit(state: GroupingState, key: GroupKey, policy: GroupPolicy, now_s: float) -> tuple[GroupingState, Admission]:
    """Decide for one notification with group key `key` at `now_s` (monotonic seconds).

    An open group of the key with room takes it (no token: the group already reserved one).
    Otherwise a token is reserved; when it is free at once the notification goes alone, else
    it opens a group sent at max(token time, now + group_wait_s). A full group stays pending
    but no longer takes members: the next notification of its key opens the next group.
    """
    current = state.open_groups.get(key)
    if current is not None and current.size < policy.max_group_size:
        joined = OpenGroup(current.group_id, key, current.send_at_s, current.size + 1)
        return (GroupingState(state.bucket, {**state.open_groups, key: joined}, state.next_group_id),
                Admission(AdmitReason.JOINED, current.group_id, current.send_at_s))
    bucket, wait_s = take_token(state.bucket, now_s)
    others = {k: g for k, g in state.open_groups.items() if k != key}  # a full group of this key stops taking members
    if wait_s <= 0:
        return GroupingState(bucket, others, state.next_group_id), Admission(AdmitReason.TOKEN_FREE, None, now_s)
    send_at_s = now_s + max(wait_s, policy.group_wait_s)
    opened = OpenGroup(state.next_group_id, key, send_at_s, 1)
    return (GroupingState(bucket, {**others, key: opened}, state.next_group_id + 1),
            Admission(AdmitReason.OPENED, opened.group_id, send_at_s))


def close_group(state: GroupingState, key: GroupKey, group_id: int) -> GroupingState:
    """The group is being sent: later notifications of its key no longer join it (no-op when it already left)."""
    current = state.open_groups.get(key)
    if current is None or current.group_id != group_id:
        return state
    return GroupingState(state.bucket, {k: g for k, g in state.open_groups.items() if k != key}, state.next_group_id)


def make_group(members: list[Notification]) -> Notification:
    """One notification carrying `members` (all to one receiver, same action and tier) for one message.

    The group's own `alert`, receiver, route, tier and action are the first member's; a single
    member is returned as it is (a group of one is just that alert's message).
    """
    if not members:
        raise ValueError("a group needs at least one member")
    if len(members) == 1:
        return members[0]
    first = members[0]
    if any(m.receiver != first.receiver or m.action != first.action or m.tier != first.tier for m in members):
        raise ValueError("group members must share receiver, action and tier")
    return first.with_(group=tuple(members), received_at_s=min(m.received_at_s for m in members))


def members_of(item: Notification) -> tuple[Notification, ...]:
    """The notifications a message carries: the group's members, or the item itself."""
    return item.group or (item,)


def settle(item: Notification, outcome: DeliveryOutcome, attempts: int, delivered_by: str = "",
           failure_reason: str = "",
           delivered_by_member: Mapping[str, str] | None = None) -> Notification:
    """`item` (a group or not) with its outcome set on itself and on every member.

    `delivered_by_member` (member log key -> receiver) overrides `delivered_by` for members that a
    fallback took one by one (a PagerDuty fallback cannot take a group message).
    """
    per_member = delivered_by_member or {}
    members = tuple(m.with_(outcome=outcome, attempts=attempts, failure_reason=failure_reason,
                            delivered_by=per_member.get(m.log_key, delivered_by)) for m in item.group)
    return item.with_(outcome=outcome, attempts=attempts, failure_reason=failure_reason, group=members,
                      delivered_by=per_member.get(item.log_key, delivered_by))
