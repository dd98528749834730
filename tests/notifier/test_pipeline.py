"""Stage combinators: Sequence stops when nothing is left, Fanout/ByReceiver run every branch and join errors."""

from __future__ import annotations

import asyncio

import pytest

from notifier.core.model import Notification
from notifier.pipeline import ByReceiver, Fanout, Sequence
from tests.notifier.helpers import make_alert


class Tag:
    def __init__(self, name: str, drop: bool = False, fail: bool = False) -> None:
        self.name, self.drop, self.fail, self.calls = name, drop, fail, 0

    async def run(self, items: list[Notification]) -> list[Notification]:
        self.calls += 1
        if self.fail:
            raise RuntimeError(self.name)
        return [] if self.drop else [i.with_(notes=(*i.notes, self.name)) for i in items]


def test_sequence_runs_in_order_and_stops_when_empty() -> None:
    first, dropper, never = Tag("a"), Tag("drop", drop=True), Tag("never")
    out = asyncio.run(Sequence([first, dropper, never]).run([Notification(make_alert())]))
    assert out == [] and never.calls == 0 and first.calls == 1


def test_fanout_runs_every_branch_and_joins_errors() -> None:
    ok, bad = Tag("ok"), Tag("bad", fail=True)
    with pytest.raises(ExceptionGroup) as err:
        asyncio.run(Fanout([bad, ok]).run([Notification(make_alert())]))
    assert ok.calls == 1 and [str(e) for e in err.value.exceptions] == ["bad"]
    both = asyncio.run(Fanout([Tag("x"), Tag("y")]).run([Notification(make_alert())]))
    assert sorted(n.notes for n in both) == [("x",), ("y",)]


def test_by_receiver_splits_the_batch() -> None:
    a, b = Tag("A"), Tag("B")
    items = [Notification(make_alert(), receiver="a"), Notification(make_alert(), receiver="b"),
             Notification(make_alert(sequence=1), receiver="a")]
    out = asyncio.run(ByReceiver({"a": a, "b": b}).run(items))
    assert sorted((n.receiver, n.notes) for n in out) == [("a", ("A",)), ("a", ("A",)), ("b", ("B",))]
    assert a.calls == 1 and b.calls == 1
