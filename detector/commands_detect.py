"""`sepsis-alert detect`: run a detector worker (settings from SEPSIS_DETECTOR_* / SEPSIS_KAFKA_* variables)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `detect`."""
    parser = subparsers.add_parser("detect", help="run the sepsis detector on the Kafka event topics")
    parser.add_argument("--config", type=Path, default=None,
                        help="detector rules YAML (default: the packaged detector/config/default.yaml)")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port")
    parser.add_argument("--group-id", default=None, help="consumer group (default: sepsis-detector)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from detector.app import DetectorSettings, run_detector
    from sepsis_alert.kafka.config import KafkaSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides: dict[str, object] = {}
    if args.config is not None:
        overrides["config_path"] = args.config
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    if args.group_id is not None:
        overrides["group_id"] = args.group_id
    try:
        settings = DetectorSettings(**overrides)  # type: ignore[arg-type]
        return run_detector(settings, KafkaSettings())
    except ValueError as exc:  # invalid settings or rules file: say which, exit 2
        print(f"sepsis-alert detect: {exc}")
        return 2
