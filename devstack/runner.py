"""`sepsis-alert run` (what `make run` calls): the whole service on this machine, on real ICU data.

Starts, all on 127.0.0.1 and with data under `.local/run/` (wiped at each start
unless --keep-data):

1. a local Kafka broker (KRaft, from the jars) and every topic of schemas/topics.py;
2. the local receiver (devstack/local_receiver.py) standing in for pagers, chat and webhooks, and a
   local console account (its URL, user name and password are the banner's first lines);
3. the workers that exist, as child processes: ingest-hl7, ingest-fhir, detect, notify
   (a worker whose command is not there yet is reported "not available", not fatal);
4. a replay of a sample of PhysioNet 2019 stays through MLLP, at an accelerated rate.

Then it prints where to look and keeps running until Ctrl-C or --duration seconds.
A worker that crashes is restarted with back-off (1 s doubling to 30 s) and the console
says so. Stopping order: replay, ingest, detector, notifier (so in-flight work drains
downstream), then the receiver and the broker. Exit code 0 on a clean run, 1 if a worker
died (even if restarted) or the stack could not start.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from devstack.broker import LocalBroker, ensure_jars, free_port
from devstack.local_receiver import LocalReceiver, pages_summary
from devstack.local_receiver import register as register_receiver
from devstack.supervisor import ManagedProcess, RestartPolicy, http_status
from notifier.console.accounts import Role, UserStore
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaPlumbingError
from sepsis_alert.kafka.topics import ensure_topics

__all__ = ["RunOptions", "WorkerPlan", "plan_workers", "register", "run_stack", "stop_outcome"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHYSIONET = REPO_ROOT.parent / "shared" / "data" / "physionet2019"
CONSOLE_USERS_FILE = "console-users.json"
CONSOLE_USER = "ops"
"""The account `make run` creates: the ops role can do everything in the console (a responder's actions too)."""
WORKER_ORDER = ("ingest-hl7", "ingest-fhir", "detect", "notify")
"""Start order; stopped in the same order so that producers stop before their consumers."""


@dataclass(frozen=True)
class RunOptions:
    """What `sepsis-alert run` was asked to do. Durations in seconds (wall clock)."""

    physionet: Path = DEFAULT_PHYSIONET
    run_dir: Path = REPO_ROOT / ".local" / "run"
    patients: int = 20
    speed: float = 3600.0
    duration_s: float | None = None
    replay: bool = True
    keep_data: bool = False
    ready_timeout_s: float = 180.0
    stop_after_pages: int | None = None
    receiver_port: int = 0


@dataclass
class WorkerPlan:
    """How to launch one worker and where its ops endpoints are."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ops_url: str | None
    probe_path: str  # /readyz with the ops endpoints, /metrics when only metrics, "" with neither
    links: dict[str, str] = field(default_factory=dict)


def available_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, set[str]]:
    """{subcommand: its option strings} of the `sepsis-alert` CLI that registered `run` into `subparsers`
    (read from the argparse tree handed to `register`, so the runner never imports the CLI that imports it)."""
    return {name: {opt for action in sub._actions for opt in action.option_strings}
            for name, sub in subparsers.choices.items()}


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    for _ in range(count):
        ports.append(free_port(exclude=ports))
    return ports


def _ops_args(options: set[str], port: int) -> tuple[list[str], str]:
    if "--ops-port" in options:
        return ["--ops-port", str(port)], "/readyz"
    if "--metrics-port" in options:
        return ["--metrics-port", str(port)], "/metrics"
    return [], ""  # no ops endpoint yet: reported as "running (no ops endpoint)"


def plan_workers(commands: dict[str, set[str]], bootstrap: str, run_dir: Path) -> tuple[list[WorkerPlan], list[str]]:
    """The launch plan of each available worker, and the names of those not available yet.

    `commands` is `available_commands()`; every port is a free one on 127.0.0.1, every URL local.
    """
    hl7_ops, mllp, fhir_ops, fhir_http, detect_ops, notify_ops, notify_api = _free_ports(7)
    base_env = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SEPSIS_OPS_HOST": "127.0.0.1",
                "SEPSIS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "sepsis_alert.cli"]
    plans: list[WorkerPlan] = []
    missing: list[str] = []
    # name: (ops port, arguments, extra environment, links printed for the operator)
    wanted: dict[str, tuple[int, list[str], dict[str, str], dict[str, str]]] = {
        "ingest-hl7": (hl7_ops, ["--host", "127.0.0.1", "--port", str(mllp)], {}, {"mllp": f"127.0.0.1:{mllp}"}),
        "ingest-fhir": (fhir_ops, ["--host", "127.0.0.1", "--port", str(fhir_http), "--dev"], {},
                        {"fhir": f"http://127.0.0.1:{fhir_http}/fhir"}),
        "detect": (detect_ops, [], {}, {}),
        "notify": (notify_ops, ["--config", str(run_dir / "notifier.yaml"), "--api-port", str(notify_api)],
                   {"SEPSIS_NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{notify_api}",
                    "SEPSIS_NOTIFIER_API_HOST": "127.0.0.1",
                    "SEPSIS_NOTIFIER_CONSOLE_USERS_FILE": str(run_dir / CONSOLE_USERS_FILE)},
                   {"api": f"http://127.0.0.1:{notify_api}", "console": f"http://127.0.0.1:{notify_api}/console/"}),
    }
    for name in WORKER_ORDER:
        if name not in commands:
            missing.append(name)
            continue
        port, args, env, links = wanted[name]
        args = [a for a in args if a != "--dev" or "--dev" in commands[name]]
        ops_args, probe = _ops_args(commands[name], port)
        plans.append(WorkerPlan(name, [*cli, name, *args, *ops_args],
                                {**base_env, "SEPSIS_OPS_PORT": str(port), **env},
                                f"http://127.0.0.1:{port}" if probe else None, probe, links))
    return plans, missing


def notifier_config(receiver_url: str, webhook_secret: str) -> str:
    """Routing YAML pointing every receiver kind at the local receiver (only 127.0.0.1 traffic).

    The demo shows the ward, bed, scores and reasons (no name, no identifier: the receiver page is public
    on this machine).
    """
    phi = "unit, room, bed, level, transition, scores, reasons, links"
    return f"""# Written by `sepsis-alert run`: every receiver is the local receiver at {receiver_url}.
receivers:
  - name: ward-chat
    type: slack
    url: {{value: "{receiver_url}/slack/ward-chat"}}
    phi: {{allow: [{phi}]}}
  - name: charge-nurse-teams
    type: teams
    url: {{value: "{receiver_url}/teams/charge-nurse"}}
    phi: {{allow: [{phi}]}}
  - name: rrt-pager
    type: pagerduty
    routing_key: {{value: "local0000000000000000000000000000"}}
    url: {{value: "{receiver_url}/pagerduty/v2/enqueue"}}
    phi: {{allow: [{phi}]}}
  - name: ehr-inbox
    type: webhook
    url: {{value: "{receiver_url}/webhook/ehr-inbox"}}
    secret: {{value: "{webhook_secret}"}}
    phi: {{allow: [{phi}]}}
route:
  receiver: ward-chat
  routes:
    - name: treating-team
      match: {{treatment_started: true}}
      receiver: charge-nurse-teams
      continue: true
    - name: rapid-response
      match: {{treatment_started: false, min_level: 3}}
      receiver: rrt-pager
      continue: true
    - name: ehr-record
      match: {{kinds: [page, update, resolve]}}
      receiver: ehr-inbox
      continue: true
    - name: ward
      match: {{}}
      receiver: ward-chat
paging: {{min_level: 3, lookback_h: 6, max_pages_per_24h: 2}}
fallback_receiver: ehr-inbox
retry: {{max_attempts: 3, base_delay_s: 0.2, max_delay_s: 2}}
"""


class _Stop:
    """Set by SIGINT / SIGTERM (installed only while the stack runs)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name
        self.event.set()


WORKER_STOP_WAIT_S = 20.0


def stop_outcome(code: int | None) -> str:
    """How a worker ended after the runner's SIGTERM, for the stop summary."""
    if code == 0:
        return "stopped"
    if code == -signal.SIGTERM:
        # uvicorn (ingest-fhir) shuts down cleanly on SIGTERM and then re-raises it, so its exit status is the
        # signal the runner sent, not a failure.
        return "stopped on SIGTERM"
    if code == -signal.SIGKILL:
        return f"killed: it did not stop within {WORKER_STOP_WAIT_S:.0f} s of SIGTERM"
    if code is None:
        return "still running after SIGKILL"
    return f"stopped with exit status {code}"


def _say(text: str) -> None:
    print(text, flush=True)


def _wait_ready(workers: list[tuple[WorkerPlan, ManagedProcess]], deadline: float, stop: _Stop) -> dict[str, str]:
    """Poll each worker's probe until it answers 200, it exits, or the deadline passes. {name: state}."""
    state = {plan.name: "starting" for plan, _ in workers}
    while not stop.event.is_set():
        for plan, proc in workers:
            if state[plan.name] != "starting":
                continue
            if proc.poll() is not None:
                state[plan.name] = f"exited ({proc.poll()})"
            elif plan.ops_url is None:
                state[plan.name] = "running (no ops endpoint)"
            elif http_status(plan.ops_url + plan.probe_path) == 200:
                state[plan.name] = "ready" if plan.probe_path == "/readyz" else "up (/metrics only)"
        if all(s != "starting" for s in state.values()) or time.monotonic() > deadline:
            break
        stop.event.wait(1.0)
    return {name: ("not ready in time" if s == "starting" else s) for name, s in state.items()}


def run_stack(options: RunOptions, commands: dict[str, set[str]]) -> int:
    """Run the local stack (see the module docstring) with the workers among `commands` (`available_commands`);
    returns the process exit code."""
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    run_dir = options.run_dir.resolve()
    if run_dir.exists() and not options.keep_data:
        shutil.rmtree(run_dir)
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker: LocalBroker | None = None
    receiver: LocalReceiver | None = None
    started: list[tuple[WorkerPlan, ManagedProcess]] = []
    replay: ManagedProcess | None = None
    failed = False
    try:
        _say(f"sepsis-alert run: data and logs under {run_dir}")
        ensure_jars()
        broker = LocalBroker(run_dir / "kafka", *_free_ports(2))
        _say(f"starting Kafka on {broker.host}:{broker.port} ...")
        broker.start(180.0)
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, client_id="sepsis-run")
        created = ensure_topics(settings)
        _say(f"Kafka ready at {broker.bootstrap}; {len(created)} topics")
        webhook_secret = secrets.token_hex(16)
        receiver = LocalReceiver("127.0.0.1", options.receiver_port, webhook_secret=webhook_secret,
                                 journal=run_dir / "pages.jsonl")
        (run_dir / "notifier.yaml").write_text(notifier_config(receiver.url, webhook_secret))
        console_password = secrets.token_urlsafe(12)
        UserStore(run_dir / CONSOLE_USERS_FILE).add(CONSOLE_USER, console_password, Role.OPS)
        plans, missing = plan_workers(commands, broker.bootstrap, run_dir)
        for name in missing:
            _say(f"  {name:<12} not available (no `sepsis-alert {name}` command in this build)")
        for plan in plans:
            proc = ManagedProcess(plan.name, plan.argv, logs / f"{plan.name}.log", plan.env, cwd=REPO_ROOT)
            proc.start()
            started.append((plan, proc))
        states = _wait_ready(started, time.monotonic() + options.ready_timeout_s, stop)
        stack = _describe(options, run_dir, broker.bootstrap, receiver.url, started, states, missing)
        (run_dir / "stack.json").write_text(json.dumps(stack, indent=2))
        _print_banner(stack, console_password)
        for plan, proc in started:
            if states[plan.name].startswith(("exited", "not ready")):
                _say(f"--- {plan.name}: {states[plan.name]}; last log lines:\n{proc.log_tail(15)}")
        hl7 = next((plan for plan, _ in started if plan.name == "ingest-hl7"), None)
        if options.replay and hl7 is not None and not stop.event.is_set():
            replay = _start_replay(options, hl7.links["mllp"], logs / "replay.log")
        elif options.replay:
            _say("replay skipped: the HL7 ingest worker is not available")
        failed = _supervise(options, started, replay, receiver, stop)
    except KafkaPlumbingError as exc:
        _say(f"error: Kafka: {exc}")
        failed = True
    except OSError as exc:
        _say(f"error: {exc}")
        failed = True
    finally:
        _say("stopping ...")
        if replay is not None:
            replay.stop(5.0)
        for plan, proc in started:
            _say(f"  {plan.name:<12} {stop_outcome(proc.stop(WORKER_STOP_WAIT_S))}")
        pages = len(receiver.pages()) if receiver is not None else 0
        summary = pages_summary(receiver.pages()) if receiver is not None else ""
        if receiver is not None:
            receiver.stop()
        if broker is not None:
            broker.stop(60.0)
            _say("  kafka        stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _say(f"deliveries received by the local receiver: {pages} (journal {run_dir / 'pages.jsonl'})")
        if summary:
            _say(summary)
    return 1 if failed else 0


def _start_replay(options: RunOptions, mllp: str, log: Path) -> ManagedProcess:
    argv = [sys.executable, "-m", "sepsis_alert.cli", "replay", "physionet", str(options.physionet),
            "--to", "mllp", mllp, "--patients", str(options.patients), "--sample",
            "--speed", str(options.speed), "--order", "time", "--no-progress"]
    proc = ManagedProcess("replay", argv, log, {"PYTHONUNBUFFERED": "1"}, cwd=REPO_ROOT)
    proc.start()
    _say(f"replaying {options.patients} PhysioNet 2019 stays through MLLP {mllp} at {options.speed:g}x "
         f"(log {log})")
    return proc


def _supervise(options: RunOptions, started: list[tuple[WorkerPlan, ManagedProcess]],
               replay: ManagedProcess | None, receiver: LocalReceiver, stop: _Stop) -> bool:
    """Wait for Ctrl-C, the duration or the page target; restart crashed workers. True if a worker died.

    A worker that exits is restarted after a back-off (RestartPolicy: 1 s doubling to 30 s, reset once
    it ran a minute), and each death and restart is said on the console with the log tail, so a crash
    is visible but does not stop the stack (issue #20: nothing else restarts them outside Kubernetes).
    """
    began = time.monotonic()
    died: set[str] = set()
    policies = {plan.name: RestartPolicy() for plan, _ in started}
    restart_at: dict[str, float] = {}
    replay_reported = False
    next_status = began + 10.0
    while not stop.event.wait(0.5):
        now = time.monotonic()
        for plan, proc in started:
            due = restart_at.get(plan.name)
            if due is None and proc.poll() is not None:
                died.add(plan.name)
                delay = policies[plan.name].next_delay(proc.ran_for_s())
                restart_at[plan.name] = now + delay
                _say(f"!! {plan.name} exited with code {proc.poll()}; restarting it in {delay:.0f} s "
                     f"(restart #{proc.restarts + 1}); last log lines:\n{proc.log_tail(20)}")
            elif due is not None and now >= due:
                del restart_at[plan.name]
                try:
                    proc.restart()
                except OSError as exc:
                    _say(f"!! {plan.name} could not be restarted: {exc}")
                    continue
                _say(f"restarted {plan.name} (pid {proc.pid}, restart #{proc.restarts})")
        if replay is not None and not replay_reported and replay.poll() is not None:
            replay_reported = True
            _say(f"replay finished (exit {replay.poll()}); the stack keeps running")
            if replay.poll() != 0:
                _say(replay.log_tail(15))
        pages = len(receiver.pages())
        if now >= next_status:
            next_status = now + 10.0
            _say(f"[{now - began:5.0f} s] deliveries received: {pages}; {pages_summary(receiver.pages())}; "
                 f"workers running: {sum(1 for _, p in started if p.running())}/{len(started)}"
                 + (f"; restarts: {sum(p.restarts for _, p in started)}" if died else ""))
        if options.stop_after_pages is not None and pages >= options.stop_after_pages:
            _say(f"{pages} pages received: stopping (--stop-after-pages)")
            break
        if options.duration_s is not None and now - began >= options.duration_s:
            _say(f"--duration {options.duration_s:g} s reached")
            break
    if stop.event.is_set():
        _say(f"{stop.reason} received")
    return bool(died)


def _describe(options: RunOptions, run_dir: Path, bootstrap: str, receiver_url: str,
              started: list[tuple[WorkerPlan, ManagedProcess]], states: dict[str, str],
              missing: list[str]) -> dict[str, object]:
    workers: dict[str, object] = {}
    for plan, proc in started:
        ops = plan.ops_url
        workers[plan.name] = {
            "state": states[plan.name], "pid": proc.pid, "log": str(proc.log_path),
            "metrics": f"{ops}/metrics" if ops else None,
            "readyz": f"{ops}/readyz" if ops and plan.probe_path == "/readyz" else None,
            "healthz": f"{ops}/healthz" if ops and plan.probe_path == "/readyz" else None,
            **plan.links,
        }
    for name in missing:
        workers[name] = {"state": "not available"}
    return {"run_dir": str(run_dir), "kafka": bootstrap, "receiver": receiver_url + "/",
            "pages_json": receiver_url + "/pages.json", "logs": str(run_dir / "logs"), "workers": workers,
            "replay": {"patients": options.patients, "speed": options.speed, "enabled": options.replay}}


def _print_banner(stack: dict[str, object], console_password: str) -> None:
    workers = stack["workers"]
    assert isinstance(workers, dict)
    console = workers.get("notify", {}).get("console")
    lines = ["", "=" * 78, "sepsis-alert is running locally (only 127.0.0.1)"]
    if console:
        lines += [f"  CONSOLE            {console}",
                  f"  {'':<18} user {CONSOLE_USER}   password {console_password}"]
    lines += [f"  test receiver      {stack['receiver']} (every delivery, as pagers and chat got it)",
              f"  Kafka              {stack['kafka']}",
             f"  logs               {stack['logs']}/<worker>.log"]
    for name, info in workers.items():
        lines.append(f"  {name:<12} {info.get('state', '?'):<18} {info.get('metrics') or ''}")
        for key in ("readyz", "mllp", "fhir", "api", "console"):
            if info.get(key):
                lines.append(f"  {'':<12} {'':<18} {key}: {info[key]}")
    lines += ["Press Ctrl-C to stop everything.", "=" * 78, ""]
    _say("\n".join(lines))


def _run(args: argparse.Namespace) -> int:
    options = RunOptions(
        physionet=Path(args.physionet), run_dir=Path(args.run_dir), patients=args.patients, speed=args.speed,
        duration_s=args.duration, replay=not args.no_replay, keep_data=args.keep_data,
        ready_timeout_s=args.ready_timeout, stop_after_pages=args.stop_after_pages, receiver_port=args.receiver_port,
    )
    if options.replay and not options.physionet.exists():
        print(f"error: PhysioNet data not found at {options.physionet} (use --physionet DIR or --no-replay)",
              file=sys.stderr)
        return 2
    return run_stack(options, available_commands(args.cli_commands))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sepsis-alert run` and `sepsis-alert local-receiver`."""
    parser = subparsers.add_parser("run", help="run the whole service locally on replayed ICU data (make run)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--physionet", default=str(DEFAULT_PHYSIONET),
                        help="PhysioNet 2019 folder (.psv files or training_set*.tar.gz); "
                             "default ../shared/data/physionet2019 beside the repository")
    parser.add_argument("--patients", type=int, default=20, help="how many stays to replay (random sample; 20)")
    parser.add_argument("--speed", type=float, default=3600.0,
                        help="event time runs this many times faster than real time (3600 = 1 ICU hour/s)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--no-replay", action="store_true", help="start the stack without replaying data")
    parser.add_argument("--run-dir", default=str(REPO_ROOT / ".local" / "run"),
                        help="broker data, logs, pages journal (default .local/run; wiped at start)")
    parser.add_argument("--keep-data", action="store_true", help="do not wipe --run-dir at start")
    parser.add_argument("--ready-timeout", type=float, default=180.0, metavar="S",
                        help="seconds to wait for the workers to report ready (default 180)")
    parser.add_argument("--stop-after-pages", type=int, default=None, metavar="N",
                        help="stop once the local receiver has N pages (tests)")
    parser.add_argument("--receiver-port", type=int, default=0,
                        help="port of the local receiver page (default: any free port)")
    parser.set_defaults(func=_run, cli_commands=subparsers)
    register_receiver(subparsers)
