"""GroupStage with an in-memory `deliver` stage: who is sent alone, who shares a message, and that no caller
hangs or loses its group when delivery raises or another caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from notifier.clock import SystemClock
from notifier.core.grouping import GroupPolicy, members_of, settle
from notifier.core.model import DeliveryOutcome, Notification
from notifier.metrics import NotifierMetrics
from notifier.stages.group import GroupStage
from tests.notifier.helpers import make_alert


class RecordingDeliver:
    """Plays the receiver's retry + record stages: remembers each message and marks it delivered."""

    name = "deliver"

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[Notification] = []
        self.fail = fail

    async def run(self, items: list[Notification]) -> list[Notification]:
        self.messages.extend(items)
        if self.fail:
            raise RuntimeError("a stage bug")
        return [settle(item, DeliveryOutcome.DELIVERED, 1, delivered_by=item.receiver) for item in items]


def _items(count: int, **changes: object) -> list[Notification]:
    return [Notification(make_alert(patient=f"P{i}"), receiver="ward", **changes) for i in range(count)]  # type: ignore[arg-type]


def _stage(deliver: RecordingDeliver, **policy: object) -> GroupStage:
    # 20 tokens/s, burst 1: after the first notification the next token is 50 ms away.
    return GroupStage("ward", 20.0, 1.0, GroupPolicy.model_validate(policy), deliver, SystemClock(), NotifierMetrics())


def test_first_goes_alone_the_rest_share_one_message_and_each_caller_gets_its_own_outcome() -> None:
    deliver = RecordingDeliver()

    async def scenario() -> list[list[Notification]]:
        stage = _stage(deliver)
        return await asyncio.gather(*(stage.run([item]) for item in _items(5)))

    results = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert [len(members_of(m)) for m in deliver.messages] == [1, 4]
    assert [r[0].alert.patient_key for r in results] == [f"P{i}" for i in range(5)]
    assert all(r[0].outcome == DeliveryOutcome.DELIVERED and not r[0].group for r in results)


def test_one_call_with_several_items_keeps_their_order_and_tiers_apart() -> None:
    deliver = RecordingDeliver()
    items = _items(3) + _items(3, tier=1)
    out = asyncio.run(asyncio.wait_for(_stage(deliver).run(items), 10))
    assert [(n.alert.patient_key, n.tier) for n in out] == [(i.alert.patient_key, i.tier) for i in items]
    assert sorted((m.tier, len(members_of(m))) for m in deliver.messages) == [(0, 1), (0, 2), (1, 3)]


def test_a_failing_delivery_reaches_every_waiting_caller() -> None:
    deliver = RecordingDeliver(fail=True)

    async def scenario() -> list[object]:
        stage = _stage(deliver)
        return await asyncio.gather(*(stage.run([item]) for item in _items(4)), return_exceptions=True)

    results = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert [type(r).__name__ for r in results] == ["RuntimeError"] * 4


def test_a_cancelled_caller_does_not_cancel_the_group_of_the_others() -> None:
    deliver = RecordingDeliver()

    async def scenario() -> list[Notification]:
        stage = _stage(deliver)
        first, second, third = _items(3)
        await stage.run([first])  # takes the free token
        leaving = asyncio.create_task(stage.run([second]))  # opens the group
        staying = asyncio.create_task(stage.run([third]))  # joins it
        await asyncio.sleep(0)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    [kept] = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert kept.outcome == DeliveryOutcome.DELIVERED
    assert [len(members_of(m)) for m in deliver.messages] == [1, 2]  # the group still went out with both
