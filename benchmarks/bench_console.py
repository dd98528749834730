"""Console benchmark: how fast a new alert reaches an open worklist, and how long the worklist takes to render.

Starts its own LocalBroker, a fast HTTP receiver in a subprocess (the one bench_notifier uses) and one
NotifierApp replica in this process with its console (an anonymous viewer, allowed on loopback only, so no
sign-in round trips are timed), with production poll settings.

* `console_live_update_*_ms`: an alert is produced to Kafka (wall clock just before the send) until the
  worklist's server-sent event stream (`GET /console/events`) delivers `event: changed`, one alert at a time.
  This is what issue 18 asks to be "within a second": Kafka produce + consume, the notifier's handling, the
  console's read model and the event stream.
* `console_worklist_<n>_open_*_ms`: `GET /console/` with n open episodes (server-side render of every row,
  sparkline and reason; HTTP on loopback), 100 and 1,000 open at once (more than the open sepsis episodes
  of the largest hospital).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

import httpx
from pydantic import SecretStr

from benchmarks.bench_notifier import _alert, _config, receiver_and_broker
from devstack.broker import free_port
from notifier.app import NotifierApp
from notifier.config import NotifierSettings, parse_config
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer

LIVE_ALERTS = 100
RENDER_REPEATS = 20
SIZES = (100, 1000)


def _longer_than(items: list[float], count: int) -> bool:
    return len(items) > count


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _changed_events(base: str, arrivals: list[float], ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=None) as client, \
            client.stream("GET", "/console/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: hello"):
                ready.set()
            elif line == "event: changed":
                arrivals.append(time.time())


async def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"console benchmark: {what} not seen within {timeout_s} s")
        await asyncio.sleep(0.005)


async def _bench(kafka: KafkaSettings, receiver_port: int) -> dict[str, float | int]:
    settings = NotifierSettings(consumer_group="bench-console", api_port=free_port(),
                                link_secret=SecretStr("bench-link"), console_anonymous_role="viewer")
    app = NotifierApp(settings, parse_config(_config(receiver_port)), kafka, worker_id="bench-console")
    await app.start()
    base = f"http://127.0.0.1:{app.api_port}"
    figures: dict[str, float | int] = {}
    arrivals: list[float] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_changed_events(base, arrivals, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        t0 = time.time()
        latencies: list[float] = []
        with EventProducer(kafka, linger_ms=0) as producer:
            for i in range(LIVE_ALERTS):
                seen = len(arrivals)
                sent = time.time()
                producer.send_event(Topics.ALERTS, _alert(30_000_000 + i, t0))
                producer.flush(30)
                await _wait_for(partial(_longer_than, arrivals, seen), 30, "a changed event")
                latencies.append((arrivals[seen] - sent) * 1000)
                await asyncio.sleep(0.05)  # let the notifier's follow-up changes (deliveries) settle
            figures["console_live_update_p50_ms"] = round(statistics.median(latencies), 1)
            figures["console_live_update_p99_ms"] = round(_percentile(latencies, 0.99), 1)
            figures["console_live_update_max_ms"] = round(max(latencies), 1)
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                produced = LIVE_ALERTS
                for size in SIZES:
                    for i in range(produced, size):
                        producer.send_event(Topics.ALERTS, _alert(30_000_000 + i, t0))
                    producer.flush(60)
                    produced = size
                    marker = f"{size} open episodes"
                    await _wait_for_page(client, marker, 120)
                    times = []
                    for _ in range(RENDER_REPEATS):
                        start = time.perf_counter()
                        page = await client.get("/console/")
                        times.append((time.perf_counter() - start) * 1000)
                        assert page.status_code == 200 and marker in page.text
                    figures[f"console_worklist_{size}_open_p50_ms"] = round(statistics.median(times), 1)
                    figures[f"console_worklist_{size}_open_p99_ms"] = round(_percentile(times, 0.99), 1)
                    figures[f"console_worklist_{size}_open_kib"] = round(len(page.content) / 1024, 1)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await app.stop()
    return figures


async def _wait_for_page(client: httpx.AsyncClient, marker: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while marker not in (await client.get("/console/")).text:
        if time.monotonic() > deadline:
            raise TimeoutError(f"console benchmark: the worklist never showed {marker!r}")
        await asyncio.sleep(0.2)


def run() -> dict[str, float | int | str]:
    load_1m = os.getloadavg()[0]
    with receiver_and_broker("bench-console") as (port, kafka):
        figures: dict[str, float | int | str] = dict(asyncio.run(_bench(kafka, port)))
    figures["console_load_avg_1m_at_start"] = round(load_1m, 2)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
