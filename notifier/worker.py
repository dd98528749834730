"""Process wiring of `sepsis-alert notify`: JSON logs, the ops server, signals, one NotifierApp.

    code = run_worker(settings, config, kafka, ops)

Order: the ops server comes up first, so /healthz answers and /readyz says what
is missing (503) while the state topics are read; SIGTERM / SIGINT at any point
(even during the state load) stop the app cleanly: the batch in hand is
finished and logged, the alert offsets committed, the clients closed; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from notifier.app import NotifierApp
from notifier.config import NotifierConfig, NotifierSettings
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.heap import settle_heap
from sepsis_alert.ops.http import start_ops_server_from_settings
from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings

__all__ = ["ops_settings_for", "run_worker"]

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
            await stop.wait()
        else:
            log.info("stop requested during start-up")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        log.info("notifier stopping")
        await app.stop()
        log.info("notifier stopped")
    finally:
        if server is not None:
            server.stop()


def run_worker(settings: NotifierSettings, config: NotifierConfig, kafka: KafkaSettings,
               ops: OpsSettings | None = None, app: NotifierApp | None = None) -> int:
    """Run one notifier until SIGTERM / SIGINT; returns the exit code (0 on a clean stop).

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

    asyncio.run(main())
    return 0
