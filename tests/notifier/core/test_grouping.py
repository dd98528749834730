"""Grouping decisions (pure): admit / close, group keys, group notifications, and the config rules."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from notifier.config import parse_config
from notifier.core.grouping import (
    AdmitReason,
    GroupingState,
    GroupPolicy,
    admit,
    close_group,
    group_key,
    make_group,
    members_of,
    settle,
)
from notifier.core.model import DeliveryOutcome, Notification, NotifyAction
from notifier.errors import ConfigError
from tests.notifier.helpers import make_alert


@dataclass(frozen=True)
class Arrival:
    """One notification arriving at `at_s` (monotonic) with group key `key`, and what must happen to it."""

    at_s: float
    key: tuple[str, ...]
    reason: AdmitReason
    group_id: int | None
    send_at_s: float


A, B = ("trigger", "0", "MICU"), ("trigger", "0", "5W")

# Rate 1/s, burst 2, max 3 per group, no group_wait: the Slack case.
SLACK_BURST = [
    Arrival(0.0, A, AdmitReason.TOKEN_FREE, None, 0.0),  # the bucket starts full: the first two go at once
    Arrival(0.0, A, AdmitReason.TOKEN_FREE, None, 0.0),
    Arrival(0.1, A, AdmitReason.OPENED, 1, 1.0),  # no token until 1.0: a group opens, sent with that token
    Arrival(0.2, A, AdmitReason.JOINED, 1, 1.0),
    Arrival(0.3, B, AdmitReason.OPENED, 2, 2.0),  # another key: its own group, the next token after group 1's
    Arrival(0.4, A, AdmitReason.JOINED, 1, 1.0),  # group 1 is now full (3)
    Arrival(0.5, A, AdmitReason.OPENED, 3, 3.0),  # a full group stops taking members: the next one opens
    Arrival(0.6, B, AdmitReason.JOINED, 2, 2.0),
]


def test_a_burst_is_sent_alone_while_tokens_last_then_grouped_per_key() -> None:
    policy = GroupPolicy(max_group_size=3)
    state = GroupingState.start(rate_per_s=1.0, burst=2.0, now_s=0.0)
    for index, arrival in enumerate(SLACK_BURST):
        state, admission = admit(state, arrival.key, policy, arrival.at_s)
        got = (admission.reason, admission.group_id, pytest.approx(admission.send_at_s))
        assert got == (arrival.reason, arrival.group_id, arrival.send_at_s), f"arrival {index}"
    assert {k: g.size for k, g in state.open_groups.items()} == {A: 1, B: 2}


def test_closed_group_takes_no_more_members_and_tokens_refill() -> None:
    policy = GroupPolicy()
    state = GroupingState.start(rate_per_s=1.0, burst=1.0, now_s=0.0)
    state, first = admit(state, A, policy, 0.0)
    state, opened = admit(state, A, policy, 0.1)
    assert (first.reason, opened.reason, opened.send_at_s) == (AdmitReason.TOKEN_FREE, AdmitReason.OPENED, 1.0)
    state = close_group(state, A, opened.group_id or 0)  # sent at 1.0
    assert state.open_groups == {}
    state, late = admit(state, A, policy, 1.2)  # the token of 1.0 went to the group: the next comes at 2.0
    assert (late.reason, late.send_at_s) == (AdmitReason.OPENED, pytest.approx(2.0))
    state = close_group(state, A, late.group_id or 0)
    state, quiet = admit(state, A, policy, 10.0)  # long quiet: the bucket is full again
    assert quiet.reason == AdmitReason.TOKEN_FREE and quiet.group_id is None


def test_close_of_an_older_group_leaves_the_open_one() -> None:
    state = GroupingState.start(rate_per_s=1.0, burst=1.0, now_s=0.0)
    policy = GroupPolicy(max_group_size=2)
    state, _ = admit(state, A, policy, 0.0)
    state, first = admit(state, A, policy, 0.0)
    state, _ = admit(state, A, policy, 0.0)  # joins: full
    state, second = admit(state, A, policy, 0.0)  # opens the next
    assert close_group(state, A, first.group_id or 0) == state
    assert close_group(state, A, second.group_id or 0).open_groups == {}


def test_group_wait_keeps_a_group_open_longer_but_never_delays_a_free_token() -> None:
    policy = GroupPolicy(group_wait_s=5.0)
    state = GroupingState.start(rate_per_s=10.0, burst=1.0, now_s=0.0)
    state, free = admit(state, A, policy, 0.0)
    state, opened = admit(state, A, policy, 0.01)
    assert free.reason == AdmitReason.TOKEN_FREE and free.send_at_s == 0.0
    assert opened.reason == AdmitReason.OPENED and opened.send_at_s == pytest.approx(5.01)  # not the 0.1 s token


@pytest.mark.parametrize(("group_by", "item", "expected"), [
    ([], Notification(make_alert(), receiver="slack"), ("trigger", "0")),
    (["unit"], Notification(make_alert(unit="5W"), receiver="slack"), ("trigger", "0", "5W")),
    (["facility", "level"], Notification(make_alert(level=4), receiver="slack", tier=2),
     ("trigger", "2", "General", "4")),
    (["route", "transition"], Notification(make_alert(), receiver="slack", route="ward", action=NotifyAction.RESOLVE),
     ("resolve", "0", "ward", "opened")),
])
def test_group_key_always_has_action_and_tier(group_by: list, item: Notification, expected: tuple) -> None:
    assert group_key(item, group_by) == expected


def _item(patient: str, **changes: object) -> Notification:
    return Notification(make_alert(patient=patient), receiver="slack", received_at_s=float(len(patient)), **changes)


def test_make_group_of_one_is_the_item_and_members_keep_their_order() -> None:
    one = _item("P1")
    assert make_group([one]) is one and members_of(one) == (one,)
    members = [_item("P1"), _item("P22"), _item("P333")]
    group = make_group(members)
    assert members_of(group) == tuple(members)
    assert group.alert == members[0].alert and group.received_at_s == 2.0  # the oldest member's read time
    assert group.delivery_id.startswith("group-") and group.delivery_id.endswith("|slack")
    assert group.delivery_id == make_group(list(members)).delivery_id  # stable across retries
    assert group.log_fields()["group_size"] == 3


@pytest.mark.parametrize("odd", [{"tier": 1}, {"action": NotifyAction.RESOLVE}, {"receiver": "teams"}])
def test_make_group_refuses_members_that_cannot_share_a_message(odd: dict) -> None:
    with pytest.raises(ValueError, match="share receiver"):
        make_group([_item("P1"), _item("P2").with_(**odd)])
    with pytest.raises(ValueError, match="at least one"):
        make_group([])


def test_settle_sets_the_outcome_on_every_member_with_per_member_fallback() -> None:
    members = [_item("P1"), _item("P2")]
    group = make_group(members)
    done = settle(group, DeliveryOutcome.FAILED, 3, failure_reason="retries_exhausted",
                  delivered_by_member={members[1].log_key: "pager-fallback"})
    assert [(m.outcome, m.attempts, m.delivered_by) for m in done.group] == [
        (DeliveryOutcome.FAILED, 3, ""), (DeliveryOutcome.FAILED, 3, "pager-fallback")]
    single = settle(members[0], DeliveryOutcome.DELIVERED, 1, delivered_by="slack")
    assert (single.outcome, single.delivered_by, single.group) == (DeliveryOutcome.DELIVERED, "slack", ())


def _config(receiver: dict) -> dict:
    return {"receivers": [receiver], "route": {"receiver": receiver["name"]}}


@pytest.mark.parametrize(("receiver", "message"), [
    ({"name": "rrt", "type": "pagerduty", "routing_key": {"value": "k" * 32}, "group": {"group_by": ["unit"]}},
     "not allowed on a PagerDuty receiver"),
    ({"name": "ehr", "type": "webhook", "url": {"value": "http://127.0.0.1:1/x"}, "secret": {"value": "s"},
      "group": {}}, "'group' needs 'rate_per_s'"),
    ({"name": "ward", "type": "slack", "url": {"value": "http://127.0.0.1:1/x"},
      "group": {"group_by": ["unit", "unit"]}}, "duplicate fields ['unit']"),
    ({"name": "ward", "type": "slack", "url": {"value": "http://127.0.0.1:1/x"},
      "group": {"group_by": ["patient_key"]}}, "patient_key"),
    ({"name": "ward", "type": "slack", "url": {"value": "http://127.0.0.1:1/x"}, "group": {"max_group_size": 41}},
     "max_group_size"),
    ({"name": "ward", "type": "teams", "url": {"value": "http://127.0.0.1:1/x"}, "group": {"group_wait_s": -1}},
     "group_wait_s"),
])
def test_grouping_config_errors_name_the_field(receiver: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_config(receiver))
    assert message in str(raised.value)


def test_grouping_config_accepted_on_chat_and_rate_limited_webhook() -> None:
    config = parse_config({"receivers": [
        {"name": "ward", "type": "slack", "url": {"value": "http://127.0.0.1:1/x"},
         "group": {"group_by": ["unit"], "group_wait_s": 2, "max_group_size": 10}},
        {"name": "ehr", "type": "webhook", "url": {"value": "http://127.0.0.1:1/y"}, "secret": {"value": "s"},
         "rate_per_s": 5, "group": {}},
        {"name": "rrt", "type": "pagerduty", "routing_key": {"value": "k" * 32}},
    ], "route": {"receiver": "ward"}})
    ward, ehr, rrt = config.receivers
    assert ward.group == GroupPolicy(group_by=["unit"], group_wait_s=2, max_group_size=10)
    assert ehr.group == GroupPolicy() and rrt.group is None
    with pytest.raises(ValidationError):
        GroupPolicy(max_group_size=1)
