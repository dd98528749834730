"""Command-line entry points of the Kafka plumbing.

`sepsis-alert topics create|list|describe` (registered into the main CLI). Connection settings come from
the `SEPSIS_KAFKA_*` environment (see KafkaSettings); `--bootstrap` overrides the broker list. The developer
broker's own commands are in devstack/broker_cli.py.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.local_stack import cli_kafka_settings

__all__ = ["quiet_kafka_logging", "register"]


def quiet_kafka_logging() -> None:
    """kafka-python logs every failed connection attempt; a CLI reports the outcome itself."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _settings(args: argparse.Namespace) -> KafkaSettings:
    return cli_kafka_settings(args.bootstrap)


def _guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Quiet the Kafka client's own logging; errors become one line at the top (sepsis_alert.cli)."""

    def run(args: argparse.Namespace) -> int:
        quiet_kafka_logging()
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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
