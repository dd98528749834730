"""`python -m devstack.broker_cli up|down|status --data-dir DIR`: the developer broker of `make kafka-up` /
`make kafka-down`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.broker import LocalBroker, ensure_jars
from sepsis_alert.kafka.commands import quiet_kafka_logging
from sepsis_alert.kafka.errors import BrokerStartError

__all__ = ["broker_main"]


def broker_main(argv: Sequence[str] | None = None) -> int:
    """`python -m devstack.broker_cli up|down|status --data-dir DIR [--port 9092]`.

    `up` starts a detached broker (it outlives this process; pid file in the
    data directory) and waits until it serves requests; it is a no-op when the
    broker already runs. `down` stops it gracefully. `status` exits 0 when
    running, 3 when not.
    """
    parser = argparse.ArgumentParser(prog="python -m devstack.broker_cli",
                                     description="A detached local Kafka broker (KRaft, single node).")
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--data-dir", required=True, type=Path, help="broker data directory")
    parser.add_argument("--port", type=int, default=None,
                        help="client port of a new data directory (default 9092; the controller uses port+1)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for start-up / shutdown")
    args = parser.parse_args(argv)
    quiet_kafka_logging()
    data_dir: Path = args.data_dir.resolve()
    try:
        if args.action == "up":
            port: int | None = args.port
            if port is None and not (data_dir / "server.properties").exists():
                port = 9092
            ensure_jars()
            broker = LocalBroker(data_dir, port, None if port is None else port + 1, detached=True)
            already = broker.is_running()
            started = time.monotonic()
            broker.start(args.timeout)
            verb = "already running" if already else f"started in {time.monotonic() - started:.1f} s"
            print(f"Kafka broker {verb}: bootstrap {broker.bootstrap} (pid {broker.pid}, "
                  f"data {broker.data_dir}, log {broker.log_file})")
            return 0
        broker = LocalBroker(data_dir)
        if args.action == "down":
            if not broker.is_running():
                print(f"Kafka broker in {broker.data_dir} is not running")
                return 0
            broker.stop(args.timeout)
            print(f"Kafka broker in {broker.data_dir} stopped")
            return 0
        pid = broker.pid
        if pid is None:
            print(f"not running (data {broker.data_dir})")
            return 3
        state = "ready" if broker.is_ready() else "starting or unhealthy"
        print(f"running, {state}: bootstrap {broker.bootstrap} (pid {pid}, data {broker.data_dir})")
        return 0
    except BrokerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(broker_main())
