"""Command-line entry points of the Kafka plumbing.

`sepsis-alert topics create|list|describe` (registered into the main CLI) and
`python -m sepsis_alert.kafka.broker up|down|status` (the developer broker,
used by `make kafka-up` / `make kafka-down`). Connection settings come from
the `SEPSIS_KAFKA_*` environment (see KafkaSettings); `--bootstrap` overrides
the broker list.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import BrokerStartError
from sepsis_alert.kafka.local_stack import cli_kafka_settings

__all__ = ["broker_main", "register"]


def _quiet_kafka_logging() -> None:
    """kafka-python logs every failed connection attempt; a CLI reports the outcome itself."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _settings(args: argparse.Namespace) -> KafkaSettings:
    return cli_kafka_settings(args.bootstrap)


def _guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Quiet the Kafka client's own logging; errors become one line at the top (sepsis_alert.cli)."""

    def run(args: argparse.Namespace) -> int:
        _quiet_kafka_logging()
        return action(args)

    return run


def _topics_create(args: argparse.Namespace) -> int:
    from sepsis_alert.kafka.topics import ensure_topics

    for name, status in ensure_topics(_settings(args), timeout_s=args.timeout).items():
        print(f"{name}: {status}")
    return 0


def _topics_list(args: argparse.Namespace) -> int:
    from sepsis_alert.kafka.topics import list_topics

    for name, partitions in list_topics(_settings(args)).items():
        print(f"{name}\tpartitions={partitions}")
    return 0


def _topics_describe(args: argparse.Namespace) -> int:
    from sepsis_alert.kafka.topics import describe_topic_configs, topic_partitions

    settings = _settings(args)
    configs = describe_topic_configs(settings, args.name, only_overrides=not args.all)
    print(f"{args.name}\tpartitions={topic_partitions(settings, args.name)}")
    for key in sorted(configs):
        print(f"  {key}={configs[key]}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `topics create|list|describe` to the `sepsis-alert` command line."""
    topics = subparsers.add_parser("topics", help="create / inspect the service's Kafka topics")
    sub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str, action: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--bootstrap", metavar="HOST:PORT[,...]", default=None,
                            help="brokers to use (default: $SEPSIS_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
        parser.set_defaults(func=_guarded(action))
        return parser

    create = add("create", "create missing topics, align configs of existing ones (idempotent)", _topics_create)
    create.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the cluster")
    add("list", "list topics and their partition counts", _topics_list)
    describe = add("describe", "show a topic's partition count and configs, as read from the broker",
                   _topics_describe)
    describe.add_argument("name", help="topic name")
    describe.add_argument("--all", action="store_true", help="all effective configs, not only overrides")


def broker_main(argv: Sequence[str] | None = None) -> int:
    """`python -m sepsis_alert.kafka.broker up|down|status --data-dir DIR [--port 9092]`.

    `up` starts a detached broker (it outlives this process; pid file in the
    data directory) and waits until it serves requests; it is a no-op when the
    broker already runs. `down` stops it gracefully. `status` exits 0 when
    running, 3 when not.
    """
    from sepsis_alert.kafka.broker import LocalBroker, ensure_jars

    parser = argparse.ArgumentParser(prog="python -m sepsis_alert.kafka.broker",
                                     description="A detached local Kafka broker (KRaft, single node).")
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--data-dir", required=True, type=Path, help="broker data directory")
    parser.add_argument("--port", type=int, default=None,
                        help="client port of a new data directory (default 9092; the controller uses port+1)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for start-up / shutdown")
    args = parser.parse_args(argv)
    _quiet_kafka_logging()
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
