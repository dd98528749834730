"""`sepsis-alert detect`: run a detector worker (settings from SEPSIS_DETECTOR_* / SEPSIS_KAFKA_* / SEPSIS_OPS_*)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sepsis_alert.ops.settings import add_ops_arguments

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `detect`."""
    parser = subparsers.add_parser("detect", help="run the sepsis detector on the Kafka event topics")
    parser.add_argument("--config", type=Path, default=None,
                        help="detector rules YAML (default: the packaged detector/config/default.yaml)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="deprecated alias of --ops-port (ignored when --ops-port is given)")
    parser.add_argument("--group-id", default=None, help="consumer group (default: sepsis-detector)")
    add_ops_arguments(parser, "detect")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from detector.app import DetectorSettings, kafka_secrets, run_detector
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.ops.http import OpsServerError
    from sepsis_alert.ops.logging import configure_logging
    from sepsis_alert.ops.settings import ops_settings_from_args

    if args.ops_port is None and args.metrics_port is not None:
        print("sepsis-alert detect: --metrics-port is deprecated, use --ops-port", file=sys.stderr)
        args.ops_port = args.metrics_port
    overrides: dict[str, object] = {}
    if args.config is not None:
        overrides["config_path"] = args.config
    if args.group_id is not None:
        overrides["group_id"] = args.group_id
    try:
        kafka = KafkaSettings()
        configure_logging("detect", os.environ.get("SEPSIS_LOG_LEVEL", "INFO"), secrets=kafka_secrets(kafka))
        settings = DetectorSettings(**overrides)  # type: ignore[arg-type]
        ops = ops_settings_from_args(args)
        return run_detector(settings, kafka, ops=ops)
    # invalid settings, rules file or ops port; a required risk model that is missing or does not match the
    # code's feature list (detector.core.risk.RiskModelError is a ValueError): exit 2 with the reason
    except ValidationError:
        raise  # sepsis_alert.cli names each bad setting on one line
    except (ValueError, OpsServerError) as exc:
        print(f"sepsis-alert detect: {exc}", file=sys.stderr)
        return 2
