"""Run the real NotifierApp as its own process, on the topics and config given in FAULTS_NOTIFIER_SPEC (JSON).

`sepsis-alert notify` always uses the shared topic names; fault tests need private topics on the
session broker, so this launcher builds the same NotifierApp with a NotifierTopics of their choosing
and runs it until SIGTERM (SIGKILL is the point of the tests). Usage:

    FAULTS_NOTIFIER_SPEC='{"topics": {...}, "config": {...}, "settings": {...}}' \
        python -m tests.faults.notifier_proc
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal

from notifier.adapters.kafka_state import NotifierTopics
from notifier.app import NotifierApp
from notifier.config import NotifierSettings, parse_config
from sepsis_alert.kafka.config import KafkaSettings


async def _main() -> None:
    spec = json.loads(os.environ["FAULTS_NOTIFIER_SPEC"])
    settings = NotifierSettings(**spec["settings"])
    app = NotifierApp(settings, parse_config(spec["config"]), KafkaSettings(), worker_id=spec.get("worker", "faults"),
                      topics=NotifierTopics(**spec["topics"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    logging.getLogger("faults").info("notifier process ready (api port %s)", app.api_port)
    await stop.wait()
    await app.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_main())
