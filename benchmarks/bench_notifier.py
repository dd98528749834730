"""Notifier benchmark: alert produced to Kafka -> webhook 2xx on loopback, latency and sustained throughput.

Starts its own LocalBroker (fresh data directory), a fast HTTP receiver in a
subprocess (raw asyncio HTTP/1.1, keep-alive, answers 200 at once) and one
NotifierApp replica in this process, routing everything to one signed generic
webhook. Latency per alert = notification-log `sent_at_s` (recorded right after
the 2xx) minus the wall-clock time just before the alert was produced, so it
includes Kafka produce + consume. Targets (issue 19): p99 < 50 ms, >= 50 notifications/s per process
on stock httpx (receivers accept 1-2 messages/s each; the notifier's own client is plain httpx).

The duplicate window (`notifier_log_window_*`): from a delivery's log entry being handed to the log sink (right
after the receiver's 2xx) to the broker's acknowledgement of it, over every delivery of the run. A crash inside
it repeats that delivery after the restart (SECURITY.md, "Delivery promise").

Reference figure measured in the same run: a bare httpx POST loop to the same
receiver (what the HTTP leg alone costs with the same client library).

Grouping (`grouping_*`): a burst of 100 alerts to a Slack-rate receiver (1 message/s,
burst 3) with a `group` section, in-process: how many messages and how long until every
alert is delivered, beside the token-bucket arithmetic of the same burst without grouping.

Honest on a shared machine: the notifier logs as in production (JSON lines at INFO,
redacted; written to /dev/null here), and beside each wall-clock figure the run
reports the CPU time this process used (`time.process_time`, all its threads:
event loop, Kafka I/O threads) per notification, and what that CPU cost means as a
rate on one uncontended core (`..._per_cpu_s`). On a 2-core host with a load
average of 8-12 the wall figures mostly measure the other tenants; the CPU figures
measure the notifier. The 1-minute load average at the start is reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from devstack.broker import LocalBroker, ensure_jars, free_port
from notifier.app import NotifierApp
from notifier.config import NotifierSettings, parse_config
from notifier.integrations.base import http_client
from schemas.alert import Alert, AlertLevel, AlertTransition, ScoreSnapshot, alert_id_for, episode_id_for
from schemas.base import Location
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.kafka.topics import ensure_topics
from sepsis_alert.ops.logging import configure_logging

LATENCY_ALERTS = 300
LATENCY_INTERVAL_S = 0.01
THROUGHPUT_ALERTS = 4000

_RECEIVER = r'''
import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep: return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length": length = int(value)
            if len(rest) < length: return
            self.buf = rest[length:]
            self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
async def main():
    server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def _alert(i: int, t0: float) -> Alert:
    from datetime import UTC, datetime

    now = datetime.fromtimestamp(t0, UTC)
    patient = f"BENCH{i:07d}"
    episode = episode_id_for(patient, now)
    return Alert(patient_key=patient, alert_id=alert_id_for(episode, 0), episode_id=episode, sequence=0,
                 level=AlertLevel.EMERGENCY, transition=AlertTransition.OPENED,  # pages (policy min_level 3)
                 scores=[ScoreSnapshot(name="news2", value=6, band="medium"), ScoreSnapshot(name="qsofa", value=2)],
                 reasons=["NEWS2 6", "qSOFA 2"], event_time=now, emitted_at=now,
                 location=Location(unit="4W", room="12", bed="A"))


def _config(port: int) -> dict[str, object]:
    return {
        "receivers": [{"name": "pager", "type": "webhook", "url": {"value": f"http://127.0.0.1:{port}/hook"},
                       "secret": {"value": "bench-webhook-secret"}}],
        "route": {"receiver": "pager"},
        "retry": {"max_attempts": 3, "base_delay_s": 0.05},
    }


GROUP_BURST_ALERTS = 100
GROUP_RATE_PER_S = 1.0
GROUP_BURST = 3


async def _grouped_burst(port: int) -> dict[str, float | int]:
    """A burst of alerts to a Slack-rate receiver (1 message/s, burst 3) with grouping, in-process (no Kafka).

    Reference beside it: what the same burst costs without grouping, from the token bucket alone (one message
    per alert at 1/s after the burst of 3), which is what the previous throttle-only pipeline did.
    """
    from notifier.clock import SystemClock
    from notifier.core.dedup import NotificationLogView
    from notifier.core.model import Notification, action_for
    from notifier.metrics import NotifierMetrics
    from notifier.ports import InMemoryDeadLetters, InMemoryLog
    from notifier.wiring import build_pipeline

    config = parse_config({
        "receivers": [{"name": "ward", "type": "slack", "url": {"value": f"http://127.0.0.1:{port}/slack"},
                       "rate_per_s": GROUP_RATE_PER_S, "burst": GROUP_BURST, "group": {"max_group_size": 40}}],
        "route": {"receiver": "ward"}})
    integrations = {r.name: r.build() for r in config.receivers}
    clock, metrics, log = SystemClock(), NotifierMetrics(), InMemoryLog()
    async with http_client(64) as http:
        built = build_pipeline(config, integrations, http, clock, metrics, NotificationLogView(), log,
                               InMemoryDeadLetters(), list, lambda episode: f"http://127.0.0.1/ack/{episode}")
        t0 = time.time()
        alerts = [_alert(20_000_000 + i, t0) for i in range(GROUP_BURST_ALERTS)]
        await asyncio.gather(*(built.pipeline.run([Notification(a, action=action_for(a), received_at_s=t0)])
                               for a in alerts))
        drain_s = time.time() - t0
    messages = int(metrics.registry.get_sample_value("sepsis_notifier_delivery_attempts_total",
                                                     {"receiver": "ward", "kind": "none"}) or 0)
    return {
        "grouping_burst_alerts": GROUP_BURST_ALERTS,
        "grouping_burst_messages": messages,
        "grouping_burst_logged_members": len({e.key for e in log.entries}),
        "grouping_burst_drain_s": round(drain_s, 2),
        "ref_ungrouped_burst_messages": GROUP_BURST_ALERTS,
        "ref_ungrouped_burst_drain_s": round((GROUP_BURST_ALERTS - GROUP_BURST) / GROUP_RATE_PER_S, 2),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _reference_httpx(port: int, prefix: str) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/hook"
    body = b'{"episode_id":"ep-x","level":2}' * 4
    async with httpx.AsyncClient() as client:
        samples = []
        for _ in range(200):
            t = time.perf_counter()
            (await client.post(url, content=body)).raise_for_status()
            samples.append((time.perf_counter() - t) * 1000)
        sem = asyncio.Semaphore(64)

        async def one() -> None:
            async with sem:
                (await client.post(url, content=body)).raise_for_status()

        n = 600
        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        rate = n / (time.perf_counter() - t)
    return {f"{prefix}_post_p50_ms": round(_percentile(samples, 50), 2),
            f"{prefix}_post_p99_ms": round(_percentile(samples, 99), 2),
            f"{prefix}_post_concurrent_per_s": round(rate)}


async def _bench(kafka: KafkaSettings, receiver_port: int) -> dict[str, float | int | str]:
    settings = NotifierSettings(consumer_group="bench-notifier", api_port=0, link_secret=SecretStr("bench-link"),
                                poll_timeout_ms=20, max_poll_records=1000, max_concurrency=128)
    app = NotifierApp(settings, parse_config(_config(receiver_port)), kafka, worker_id="bench")
    # The duplicate window: a delivery's log entry handed over (right after the 2xx) -> acknowledged by the broker.
    log_windows: list[float] = []
    metric = app.log_sink.on_acked

    def on_acked(seconds: float) -> None:
        log_windows.append(seconds)
        if metric is not None:
            metric(seconds)

    app.log_sink.on_acked = on_acked
    await app.start()
    producer = EventProducer(kafka, linger_ms=0)
    loop = asyncio.get_running_loop()
    try:
        # Warm-up: connections, group assignment.
        warm = [_alert(10_000_000 + i, time.time()) for i in range(20)]
        for alert in warm:
            producer.send_event(Topics.ALERTS, alert)
        producer.flush(10)
        await _wait(lambda: len(app.log_view) >= len(warm), 60)

        # Latency: one alert at a time, unloaded.
        sent_at: dict[str, float] = {}
        base = len(app.log_view)
        cpu_latency = time.process_time()

        def send_and_wait(alert: Alert) -> None:
            producer.send_event(Topics.ALERTS, alert).get(10)

        for i in range(LATENCY_ALERTS):
            alert = _alert(i, time.time())
            sent_at[f"{alert.alert_id}|pager"] = time.time()
            await loop.run_in_executor(None, send_and_wait, alert)
            await asyncio.sleep(LATENCY_INTERVAL_S)
        await _wait(lambda: len(app.log_view) >= base + LATENCY_ALERTS, 60)
        cpu_latency = time.process_time() - cpu_latency
        latencies = [(app.log_view.entries[k].sent_at_s - t) * 1000 for k, t in sent_at.items()]

        # Throughput: a burst of distinct patients written first by another process (as the detector would),
        # then drained: time from the first delivery to the last.
        base = len(app.log_view)
        t_produce = time.time()
        cpu_throughput = time.process_time()
        await loop.run_in_executor(None, lambda: subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_notifier", "produce", kafka.bootstrap_servers,
             str(THROUGHPUT_ALERTS)], check=True, timeout=120))
        produced_s = time.time() - t_produce
        await _wait(lambda: len(app.log_view) >= base + THROUGHPUT_ALERTS, 120)
        cpu_throughput = time.process_time() - cpu_throughput
        sent = sorted(e.sent_at_s for e in app.log_view.entries.values())[-THROUGHPUT_ALERTS:]
        elapsed = max(1e-3, sent[-1] - sent[0])
        delivered = app.metrics.registry.get_sample_value("sepsis_notifier_deliveries_total",
                                                          {"receiver": "pager", "outcome": "delivered"})
    finally:
        producer.close()
        await app.stop()
    return {
        "notifier_kafka_to_webhook_p50_ms": round(statistics.median(latencies), 2),
        "notifier_kafka_to_webhook_p99_ms": round(_percentile(latencies, 99), 2),
        "notifier_kafka_to_webhook_max_ms": round(max(latencies), 2),
        "notifier_kafka_to_webhook_cpu_ms_per_alert": round(cpu_latency * 1000 / LATENCY_ALERTS, 3),
        "notifier_log_window_p50_ms": round(_percentile(log_windows, 50) * 1000, 2),
        "notifier_log_window_p99_ms": round(_percentile(log_windows, 99) * 1000, 2),
        "notifier_log_window_max_ms": round(max(log_windows) * 1000, 2),
        "notifier_throughput_notifications_per_s": round(THROUGHPUT_ALERTS / elapsed),
        "notifier_throughput_cpu_ms_per_notification": round(cpu_throughput * 1000 / THROUGHPUT_ALERTS, 3),
        "notifier_throughput_notifications_per_cpu_s": round(THROUGHPUT_ALERTS / max(cpu_throughput, 1e-6)),
        "notifier_throughput_alerts": THROUGHPUT_ALERTS,
        "notifier_throughput_produce_s": round(produced_s, 2),
        "notifier_throughput_drain_s": round(elapsed, 2),
        "notifier_delivered_total": int(delivered or 0),
        "notifier_p99_target_ms": 50,
        "notifier_throughput_target_per_s": 50,
    }


async def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark did not finish within {timeout_s} s")
        await asyncio.sleep(0.005)


@contextlib.contextmanager
def receiver_and_broker(name: str) -> Iterator[tuple[int, KafkaSettings]]:
    """A fast loopback HTTP receiver (a subprocess answering 200 at once) and a fresh LocalBroker with the
    project's topics; yields (receiver port, Kafka settings). Shared with bench_console."""
    ensure_jars()
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            broker = LocalBroker(Path(tmp) / "kafka", port=free_port())
            broker.start(180)
            try:
                kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, client_id=name)
                ensure_topics(kafka)
                yield port, kafka
            finally:
                broker.stop()
    finally:
        receiver.terminate()
        receiver.wait(10)


def run() -> dict[str, float | int | str]:
    load_1m = os.getloadavg()[0]
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    configure_logging("notify-bench", "INFO", stream=devnull, secrets=["bench-webhook-secret", "bench-link"])
    try:
        with receiver_and_broker("bench-notifier") as (port, kafka):
            reference = asyncio.run(_reference_httpx(port, "ref_httpx_default"))
            figures = asyncio.run(_bench(kafka, port))
            figures.update(asyncio.run(_grouped_burst(port)))
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "sepsis-json"]:
            root.removeHandler(handler)
        devnull.close()
    figures.update(reference)
    figures["notifier_load_avg_1m_at_start"] = round(load_1m, 2)
    figures["notifier_host_cpus"] = os.cpu_count() or 0
    return figures


def _produce(bootstrap: str, count: int) -> None:
    """Write `count` alerts of distinct patients (run in a separate process by the throughput phase)."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap, client_id="bench-notifier-producer")
    t0 = time.time()
    with EventProducer(kafka, linger_ms=5) as producer:
        for i in range(count):
            producer.send_event(Topics.ALERTS, _alert(1_000_000 + i, t0))
        producer.flush(60)


if __name__ == "__main__":
    import json

    if len(sys.argv) == 4 and sys.argv[1] == "produce":
        _produce(sys.argv[2], int(sys.argv[3]))
    else:
        print(json.dumps(run(), indent=2))
