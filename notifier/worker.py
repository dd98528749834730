"""Process wiring of `sepsis-alert notify`: JSON logs, the ops server, signals, one NotifierApp.

    code = run_worker(settings, config, kafka, ops)

Order: the ops server comes up first, so /healthz answers and /readyz says what
is missing (503) while the state topics are read; SIGTERM / SIGINT at any point
(even during the state load) stop the app cleanly: the batch in hand is
finished and logged, the alert offsets committed, the clients closed; exit 0.

A loop of the app (alerts, escalation, state tail) that ends by itself is a failure, never a quiet state: the
process logs an OPS ALERT naming the loop and where it failed (code locations only: an exception's message may
quote an alert), stops the app as above and exits 1, so that its supervisor restarts it. The restarted worker
resumes from the committed offsets, so nothing is lost; without this the process stayed up and ready while it no
longer paged anybody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import traceback
from collections.abc import Sequence
from pathlib import Path

from notifier.app import NotifierApp
from notifier.config import NotifierConfig, NotifierSettings
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.heap import settle_heap
from sepsis_alert.ops.http import start_ops_server_from_settings
from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings

__all__ = ["NotifierLoopEndedError", "ops_settings_for", "run_worker", "serve", "stop_or_first_ended"]

log = logging.getLogger("notifier.worker")


def ops_settings_for(settings: NotifierSettings, ops: OpsSettings | None) -> OpsSettings:
    """`ops` when given (command line), else SEPSIS_OPS_*, with the deprecated SEPSIS_NOTIFIER_METRICS_PORT as
    the port when SEPSIS_OPS_PORT is not set, else the notifier's default ops port (9404)."""
    if ops is not None:
        return ops
    overrides: dict[str, object] = {}
    if "SEPSIS_OPS_PORT" not in os.environ:
        overrides["port"] = settings.metrics_port if settings.metrics_port is not None else DEFAULT_OPS_PORTS["notify"]
    return OpsSettings(**overrides)  # type: ignore[arg-type]


class NotifierLoopEndedError(RuntimeError):
    """One of the notifier's loops ended without a stop request (the worker exits 1)."""


async def stop_or_first_ended(stop: asyncio.Event, loops: Sequence[asyncio.Task[None]]) -> asyncio.Task[None] | None:
    """Wait until `stop` is set (None) or one of `loops` ends by itself (that task; a stop set meanwhile wins)."""
    waiter = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({waiter, *loops}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if stop.is_set():
        return None
    return next(task for task in loops if task.done())


def _how_it_ended(task: asyncio.Task[None]) -> tuple[str, str]:
    """(what ended it, where): the exception's type and its last code locations, never its message."""
    if task.cancelled():
        return "cancelled", ""
    exc = task.exception()
    if exc is None:
        return "returned", ""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return type(exc).__name__, " <- ".join(f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno} {f.name}"
                                          for f in reversed(frames))


async def serve(app: NotifierApp, ops: OpsSettings, stop: asyncio.Event) -> None:
    """Start the ops server and `app`, run until `stop` is set, then stop both (the app first)."""
    server = start_ops_server_from_settings(ops, readiness=app.readiness, registry=app.metrics.registry,
                                            worker="notify")
    try:
        starting = asyncio.create_task(app.start(), name="notifier-start")
        stopped = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            stopped.cancel()
            starting.result()  # raise a start-up failure (no broker, no topic) to the caller
            settle_heap()
            log.info("notifier running", extra={"api_port": app.api_port,
                                                "ops_url": server.url if server is not None else None})
            ended = await stop_or_first_ended(stop, app.loops)
        else:
            log.info("stop requested during start-up")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            ended = None
        if ended is not None:
            what, where = _how_it_ended(ended)
            log.error("OPS ALERT: the notifier's %s loop ended (%s at %s); stopping so that it is restarted",
                      ended.get_name(), what, where or "-")
        log.info("notifier stopping")
        await app.stop()
        log.info("notifier stopped")
        if ended is not None:
            raise NotifierLoopEndedError(f"the {ended.get_name()} loop ended ({what})")
    finally:
        if server is not None:
            server.stop()


def run_worker(settings: NotifierSettings, config: NotifierConfig, kafka: KafkaSettings,
               ops: OpsSettings | None = None, app: NotifierApp | None = None) -> int:
    """Run one notifier until SIGTERM / SIGINT; returns the exit code (0 on a clean stop, 1 when a loop of the app
    ended by itself: see the module docstring).

    Raises OpsServerError when the ops port is taken; Kafka start-up failures propagate.
    """
    app = app or NotifierApp(settings, config, kafka)
    ops_settings = ops_settings_for(settings, ops)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await serve(app, ops_settings, stop)

    try:
        asyncio.run(main())
    except NotifierLoopEndedError:  # logged as an OPS ALERT by serve; the supervisor restarts the worker
        return 1
    return 0
