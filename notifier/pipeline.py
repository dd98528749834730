"""The notification pipeline: a `Stage` protocol and the combinators that compose stages.

A stage takes a batch of notifications and returns the ones that go on (fewer
when it mutes or de-duplicates, more when it routes one alert to several
receivers, the same ones with a new outcome after sending). Stages get what
they need as explicit constructor arguments; nothing travels in a hidden context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from typing import Protocol

from notifier.core.model import Notification

__all__ = ["ByReceiver", "EachAlone", "Fanout", "Sequence", "Stage"]


class Stage(Protocol):
    """One step of the pipeline."""

    name: str

    async def run(self, items: list[Notification]) -> list[Notification]:
        """Process a batch; return what goes on to the next stage."""
        ...


class Sequence:
    """Run stages in order; stop early when nothing is left."""

    def __init__(self, stages: Seq[Stage], name: str = "sequence") -> None:
        self.stages = list(stages)
        self.name = name

    async def run(self, items: list[Notification]) -> list[Notification]:
        for stage in self.stages:
            if not items:
                break
            items = await stage.run(items)
        return items


class Fanout:
    """Run stages concurrently on the same batch and concatenate their outputs.

    Every branch runs to the end even when another fails; the failures are
    raised together afterwards (an ExceptionGroup), so one broken receiver
    never stops the others.
    """

    def __init__(self, stages: Seq[Stage], name: str = "fanout") -> None:
        self.stages = list(stages)
        self.name = name

    async def run(self, items: list[Notification]) -> list[Notification]:
        results = await asyncio.gather(*(s.run(items) for s in self.stages), return_exceptions=True)
        return _join(results, self.name)


class EachAlone:
    """Run `stage` on every item of the batch on its own, concurrently.

    Delivery uses it so that each notification is logged as soon as its own receiver answered, not once the
    slowest of its batch has (a throttled chat receiver takes one message a second: batch-wise, the first 2xx
    of ten would wait nine seconds for its log entry, and a crash in between would post it again).
    """

    def __init__(self, stage: Stage, name: str = "each_alone") -> None:
        self.stage = stage
        self.name = name

    async def run(self, items: list[Notification]) -> list[Notification]:
        if len(items) == 1:
            return await self.stage.run(items)
        results = await asyncio.gather(*(self.stage.run([item]) for item in items), return_exceptions=True)
        return _join(results, self.name)


class ByReceiver:
    """Split the batch by receiver and run each receiver's pipeline concurrently (Alertmanager's RoutingStage)."""

    def __init__(self, pipelines: Mapping[str, Stage], name: str = "by_receiver") -> None:
        self.pipelines = dict(pipelines)
        self.name = name

    async def run(self, items: list[Notification]) -> list[Notification]:
        groups: dict[str, list[Notification]] = {}
        for item in items:
            if item.receiver not in self.pipelines:
                raise KeyError(f"no pipeline for receiver {item.receiver!r}")
            groups.setdefault(item.receiver, []).append(item)
        if len(groups) == 1:  # the common case: no task to spawn
            [(receiver, group)] = groups.items()
            return await self.pipelines[receiver].run(group)
        results = await asyncio.gather(*(self.pipelines[r].run(g) for r, g in groups.items()),
                                       return_exceptions=True)
        return _join(results, self.name)


def _join(results: list[list[Notification] | BaseException], name: str) -> list[Notification]:
    out: list[Notification] = []
    errors: list[Exception] = []
    for result in results:
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            errors.append(result)
        else:
            out.extend(result)
    if errors:
        raise ExceptionGroup(f"{name}: {len(errors)} branch(es) failed", errors)
    return out
