"""Sustained load through the whole pipeline: MLLP -> ingest-hl7 -> Kafka -> detect -> notify -> webhook.

Real processes (`sepsis-alert ingest-hl7`, `detect`, `notify`, and the webhook receiver,
benchmarks/load_receiver.py) on a private Kafka broker, fed with
PhysioNet 2019 ICU stays converted to HL7 v2 (ADT^A01 + one ORU^R01 per patient-hour), paced at
`SEPSIS_BENCH_LOAD_OBS_PER_S` observations/s (default 2,000) for `SEPSIS_BENCH_LOAD_S` seconds
(default 600, the 10 minutes the reliability issue asks for; set e.g. 60 for a quick run). Several
sender connections (patients hashed onto them, so each patient's messages stay in order), each
sending one message and waiting for its ACK, as interface engines do.

Reported (flat, units in the key names):
* counts end to end: messages sent / AA, observations sent / stored (distinct source ids), alerts
  on the alerts topic, alerts delivered to the webhook (distinct), `load_counts_match` (1/0);
* achieved observations/s beside the target;
* ACK -> webhook latency p50 / p99 (ms): webhook arrival minus the ACK of the message whose
  observation caused the alert (same host clock), after a warm-up (`SEPSIS_BENCH_LOAD_WARMUP_S`, 10 s; the
  p99 with the warm-up is reported too), beside the 100 ms target (issues 19 and 20), and where it
  goes: MLLP send -> ACK (ingest: parse, Kafka acks=all), ACK -> alert built (`emitted_at`: the
  detector's poll of the observation and the batch before it), built -> alert record (the detector's batch
  scoring and flush), alert record -> webhook (the notifier: poll, pipeline, HTTP);
* RSS of each worker (MiB): at start of load, peak, end, and the growth over the second half
  (a flat line is ~0);
* the notifier's niceness (`load_notify_nice`): it runs at -5 as deploy/ gives it the larger CPU weight (see
  NOTIFIER_NICE); `SEPSIS_BENCH_LOAD_NOTIFIER_NICE=0` measures the same host without it.

Run: `SEPSIS_BENCH_LOAD_S=60 .venv/bin/python -m benchmarks.run --only load`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PHYSIONET = REPO.parent / "shared" / "data" / "physionet2019"
SENDERS = 4
TARGET_P99_MS = 100.0
NOTIFIER_NICE = -5
"""The notifier runs at this niceness (`SEPSIS_BENCH_LOAD_NOTIFIER_NICE`; 0 = as the others), as deploy/ gives it the
larger CPU weight: on a shared busy host the last mile goes first (docs/operations.md, "Sharing a host"). Raising a
priority needs CAP_SYS_NICE; without it the run goes on at 0 and `load_notify_nice` says so."""
WARMUP_S = 10.0
"""Alerts caused by messages ACKed in the first seconds of the load are left out of the latency percentiles (and
reported in a figure of their own): a worker runs for weeks, the target is about the sustained state."""


def _set_own_niceness(niceness: int) -> Callable[[], None]:
    """A `preexec_fn` setting the child's niceness before it starts any thread (every thread inherits it); a
    refusal (no CAP_SYS_NICE) leaves it as it was."""
    def apply() -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    return apply


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc; 0 when unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Receiver:
    """The webhook receiver (benchmarks/load_receiver.py) in a process of its own, as a deployed endpoint is: in a
    thread of this process it shared the GIL with the senders (see that module). `arrivals` reads its journal."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.journal = workdir / "receiver.journal"
        self.journal.touch()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.load_receiver", str(self.port),
                                      str(self.journal)], cwd=REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the load receiver did not listen") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def arrivals(self) -> list[tuple[str, float]]:
        """(alert id, arrival wall time) of every delivery so far, in arrival order."""
        rows: list[tuple[str, float]] = []
        for line in self.journal.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:  # a line being written has no time yet
                with contextlib.suppress(ValueError):
                    rows.append((parts[0], float(parts[1])))
        return rows

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pager"


def _messages(target_obs: int) -> list[tuple[str, bytes, int, list[tuple[str, str]]]]:
    """(patient, ER7 bytes, observations, [(patient, event time iso)]) in event-time order, ~target_obs obs."""
    from evaluation.dataset import list_patient_files
    from evaluation.hl7_messages import adt_a01, oru_r01
    from evaluation.physionet import ConversionCounts
    from evaluation.replay import ReplayOptions, replay_items
    from schemas.patient_event import PatientEvent

    patients = max(20, target_obs // 250 + 10)
    files = list_patient_files(PHYSIONET, patients=patients)
    options = ReplayOptions(order="time", key_prefix=f"load{int(time.time()) % 100000}-")
    out: list[tuple[str, bytes, int, list[tuple[str, str]]]] = []
    total = 0
    for item in replay_items(files, options, ConversionCounts()):
        if isinstance(item, PatientEvent):
            out.append((item.patient_key, adt_a01(item).encode(), 0, []))
            continue
        if not item.observations:
            continue
        raw = oru_r01(item.observations, control_id=item.message_id).encode()
        out.append((item.patient_key, raw, len(item.observations),
                    [(item.patient_key, item.event_time.isoformat())]))
        total += len(item.observations)
        if total >= target_obs:
            break
    return out


def _send_all(port: int, work: list[tuple[str, bytes, int, list[tuple[str, str]]]], rate: float,
              acks: dict[tuple[str, str], float], stats: dict[str, int],
              round_trips: list[tuple[float, float]] | None = None) -> float:
    """Pace `work` at `rate` observations/s over SENDERS connections; returns the wall time of sending."""
    queues: list[queue.Queue[tuple[float, bytes, int, list[tuple[str, str]]] | None]] = [
        queue.Queue(maxsize=2000) for _ in range(SENDERS)]
    lock = threading.Lock()

    def sender(q: queue.Queue[Any]) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        buffer = b""
        while (job := q.get()) is not None:
            due, raw, n_obs, keys = job
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent_at = time.time()
            sock.sendall(b"\x0b" + raw + b"\x1c\x0d")
            while b"\x1c\x0d" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("listener closed the connection")
                buffer += chunk
            end = buffer.index(b"\x1c\x0d")
            ack, buffer = buffer[:end], buffer[end + 2:]
            acked_at = time.time()
            ok = b"MSA|AA|" in ack
            with lock:
                stats["messages_sent"] += 1
                stats["observations_sent"] += n_obs
                stats["messages_aa"] += int(ok)
                if round_trips is not None:
                    round_trips.append((sent_at, (acked_at - sent_at) * 1000))
                for key in keys:
                    acks[key] = acked_at
        sock.close()

    threads = [threading.Thread(target=sender, args=(q,), daemon=True) for q in queues]
    for t in threads:
        t.start()
    started = time.monotonic()
    sent_obs = 0
    for patient, raw, n_obs, keys in work:
        queues[hash(patient) % SENDERS].put((started + sent_obs / rate, raw, n_obs, keys))
        sent_obs += n_obs
    for q in queues:
        q.put(None)
    for t in threads:
        t.join()
    return time.monotonic() - started


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(1.0)
    return True


def run() -> dict[str, float | int | str]:
    from devstack.broker import LocalBroker
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.kafka.consumer import read_all
    from sepsis_alert.kafka.topics import ensure_topics

    duration_s = float(os.environ.get("SEPSIS_BENCH_LOAD_S", "600"))
    warmup_s = float(os.environ.get("SEPSIS_BENCH_LOAD_WARMUP_S", str(WARMUP_S)))
    rate = float(os.environ.get("SEPSIS_BENCH_LOAD_OBS_PER_S", "2000"))
    notifier_nice = int(os.environ.get("SEPSIS_BENCH_LOAD_NOTIFIER_NICE", str(NOTIFIER_NICE)))
    work = _messages(int(duration_s * rate))
    # The prepared messages (~600,000 objects for 10 minutes) live until the end: out of the collector's walk, or
    # this process's own full collections (0.3-0.4 s each, every few seconds) stall the senders' and the
    # receiver's clocks and show up in the latency they measure.
    gc.collect()
    gc.freeze()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    receiver = _Receiver(workdir)
    receiver.start()
    broker = LocalBroker(workdir / "kafka")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    rss: dict[str, list[tuple[float, float]]] = {}
    sampling = threading.Event()
    cpu_used: dict[str, float] = {}
    busy_s = 0.0
    try:
        broker.start(180)
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        ensure_topics(kafka)
        config = workdir / "notifier.yaml"
        config.write_text(json.dumps({
            "receivers": [{"name": "pager", "type": "webhook", "url": {"value": receiver.url},
                           "secret": {"value": "bench-load-webhook-secret"},
                           "phi": {"allow": ["unit", "level", "transition", "scores", "reasons"]}}],
            # every alert, updates too (a record keeper's route): the run checks that each one reaches the webhook
            "route": {"receiver": "pager", "match": {"kinds": ["page", "update", "resolve"]}}}))
        port = _free_port()
        env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "PYTHONUNBUFFERED": "1",
               "SEPSIS_OPS_PORT": "0"}
        commands = {"ingest-hl7": ["ingest-hl7", "--port", str(port)], "detect": ["detect"],
                    "notify": ["notify", "--config", str(config), "--api-port", "0"]}
        for name, args in commands.items():
            log = (workdir / f"{name}.log").open("wb")
            priority = _set_own_niceness(notifier_nice) if name == "notify" else None
            procs[name] = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", *args], env=env, cwd=REPO,
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           preexec_fn=priority)
            rss[name] = []
        notify_nice_applied = os.getpriority(os.PRIO_PROCESS, procs["notify"].pid)

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        if not _wait(listening, 120):
            raise RuntimeError("ingest-hl7 did not listen in 120 s")
        time.sleep(5.0)  # detector and notifier join their consumer groups

        def sample() -> None:
            t0 = time.monotonic()
            while not sampling.is_set():
                for name, proc in procs.items():
                    rss[name].append((time.monotonic() - t0, _rss_mib(proc.pid)))
                sampling.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu_before = {name: _cpu_s(proc.pid) for name, proc in procs.items()}
        load_started = time.monotonic()
        load_started_wall = time.time()
        acks: dict[tuple[str, str], float] = {}
        stats = {"messages_sent": 0, "observations_sent": 0, "messages_aa": 0}
        round_trips: list[tuple[float, float]] = []
        send_wall_s = _send_all(port, work, rate, acks, stats, round_trips)

        def alerts_on_topic() -> list[dict[str, Any]]:
            # `_produced_s`: the record's CreateTime (the detector's clock = ours), to split the latency in two.
            return [dict(json.loads(r.value), _produced_s=r.timestamp / 1000)
                    for r in read_all(kafka, "sepsis.alerts", timeout_s=60) if r.value]

        previous = -1

        def settled() -> bool:
            nonlocal previous
            count = len(alerts_on_topic())
            delivered = len({a for a, _ in receiver.arrivals})
            done = count == previous and delivered >= count
            previous = count
            return done

        _wait(settled, max(300.0, duration_s))
        sampling.set()
        busy_s = time.monotonic() - load_started
        cpu_used = {name: _cpu_s(proc.pid) - cpu_before[name] for name, proc in procs.items()}
        alerts = alerts_on_topic()
        stored = {json.loads(r.value)["source_id"] for r in read_all(kafka, "sepsis.observations", timeout_s=120)
                  if r.value}
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        sampling.set()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        broker.stop()
        receiver.stop()

    by_id = {a["alert_id"]: a for a in alerts}
    first_arrival: dict[str, float] = {}
    for alert_id, arrived in receiver.arrivals:
        first_arrival.setdefault(alert_id, arrived)
    latencies: list[float] = []
    to_alert: list[float] = []
    to_webhook: list[float] = []
    to_emitted: list[float] = []
    emitted_to_record: list[float] = []
    samples: list[tuple[float, ...]] = []
    all_latencies: list[float] = []
    for alert_id, arrived in first_arrival.items():
        alert = by_id.get(alert_id)
        if alert is None:
            continue
        acked = acks.get((alert["patient_key"], datetime.fromisoformat(alert["event_time"]).isoformat()))
        if acked is None:
            continue
        emitted_s = datetime.fromisoformat(alert["emitted_at"]).timestamp()
        parts = ((arrived - acked) * 1000, (alert["_produced_s"] - acked) * 1000,
                 (arrived - alert["_produced_s"]) * 1000, (emitted_s - acked) * 1000,
                 (alert["_produced_s"] - emitted_s) * 1000)
        all_latencies.append(parts[0])
        samples.append((acked - load_started_wall, parts[0], parts[3], parts[4], parts[2]))
        if acked - load_started_wall < warmup_s:
            continue
        for series, value in zip((latencies, to_alert, to_webhook, to_emitted, emitted_to_record), parts,
                                 strict=True):
            series.append(value)
    steady_round_trips = [ms for sent, ms in round_trips if sent - load_started_wall >= warmup_s]
    if dump := os.environ.get("SEPSIS_BENCH_LOAD_SAMPLES"):
        # one line per alert: its ACK in s since the load began (warm-up included), then ACK -> webhook,
        # ACK -> built, built -> record, record -> webhook (ms)
        Path(dump).write_text("".join(" ".join(f"{v:.3f}" for v in row) + "\n" for row in sorted(samples)))
    figures: dict[str, float | int | str] = {
        "load_duration_target_s": duration_s,
        "load_send_wall_s": round(send_wall_s, 1),
        "load_obs_per_s_target": rate,
        "load_obs_per_s_achieved": round(stats["observations_sent"] / send_wall_s, 1) if send_wall_s else 0.0,
        "load_messages_sent": stats["messages_sent"],
        "load_messages_aa": stats["messages_aa"],
        "load_observations_sent": stats["observations_sent"],
        "load_observations_stored_distinct": len(stored),
        "load_alerts_on_topic_distinct": len(by_id),
        "load_alerts_delivered_distinct": len(first_arrival),
        "load_deliveries_total": len(receiver.arrivals),
        "load_ack_to_webhook_p50_ms": round(_percentile(latencies, 0.50), 1),
        "load_ack_to_webhook_p99_ms": round(_percentile(latencies, 0.99), 1),
        "load_ack_to_webhook_p99_target_ms": TARGET_P99_MS,
        # The two halves: ACK -> alert record produced (detector side), alert record -> webhook (notifier side).
        "load_ack_to_alert_record_p50_ms": round(_percentile(to_alert, 0.50), 1),
        "load_ack_to_alert_record_p99_ms": round(_percentile(to_alert, 0.99), 1),
        "load_alert_record_to_webhook_p50_ms": round(_percentile(to_webhook, 0.50), 1),
        "load_alert_record_to_webhook_p99_ms": round(_percentile(to_webhook, 0.99), 1),
        # The detector side split again at the alert's `emitted_at` (the detector's clock when it built the alert):
        # ACK -> alert built (observation topic, detector poll and scoring), built -> record (the detector's
        # batch flush and produce).
        "load_ack_to_alert_built_p50_ms": round(_percentile(to_emitted, 0.50), 1),
        "load_ack_to_alert_built_p99_ms": round(_percentile(to_emitted, 0.99), 1),
        "load_alert_built_to_record_p50_ms": round(_percentile(emitted_to_record, 0.50), 1),
        "load_alert_built_to_record_p99_ms": round(_percentile(emitted_to_record, 0.99), 1),
        "load_latency_samples": len(latencies),
        # Ingest's share, before the ACK: MLLP frame sent -> ACK read by the sender (HL7 parse, Kafka acks=all)
        "load_mllp_ack_p50_ms": round(_percentile(steady_round_trips, 0.50), 1),
        "load_mllp_ack_p99_ms": round(_percentile(steady_round_trips, 0.99), 1),
        # The same over the whole run, the warm-up included (workers just started: first connections, first
        # calls of every code path).
        "load_warmup_s": warmup_s,
        "load_ack_to_webhook_p99_incl_warmup_ms": round(_percentile(all_latencies, 0.99), 1),
        # The notifier's niceness in this run (the others run at 0): see NOTIFIER_NICE.
        "load_notify_nice": notify_nice_applied,
    }
    figures["load_counts_match"] = int(stats["messages_aa"] == stats["messages_sent"]
                                       and len(stored) == stats["observations_sent"]
                                       and set(first_arrival) == set(by_id))
    for name, used in cpu_used.items():
        # Share of one core over the load and the drain after it (the machine has 2 cores to share).
        figures[f"load_cpu_{name.replace('-', '_')}_core_share"] = round(used / busy_s, 3) if busy_s else 0.0
    for name, rss_samples in rss.items():
        values = [v for _, v in rss_samples if v > 0]
        if not values:
            continue
        half = values[len(values) // 2:]
        key = name.replace("-", "_")
        figures[f"load_rss_{key}_start_mib"] = round(values[0], 1)
        figures[f"load_rss_{key}_peak_mib"] = round(max(values), 1)
        figures[f"load_rss_{key}_end_mib"] = round(values[-1], 1)
        figures[f"load_rss_{key}_second_half_growth_mib"] = round(half[-1] - half[0], 1) if half else 0.0
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
