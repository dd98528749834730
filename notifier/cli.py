"""Command-line subcommands of the notifier.

    sepsis-alert notify [--config FILE] [--ops-host H] [--ops-port N] [--api-port N]   run the worker
    sepsis-alert ack EPISODE [--by NAME]                                    acknowledge an episode
    sepsis-alert silence create (--unit U | --facility F | --patient P | --episode E)...
                                --duration 2h --by NAME --reason TEXT [--starts-in 30m]
    sepsis-alert silence list
    sepsis-alert silence expire SILENCE_ID --by NAME

`ack` and `silence` write straight to the acks / silences topics (the same
records the HTTP API writes), so they work whether or not a notifier is running;
they honour the same SEPSIS_NOTIFIER_TOPIC_ACKS / _SILENCES names as the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from notifier.errors import ConfigError, NotifierError
from sepsis_alert.ops.settings import add_ops_arguments

if TYPE_CHECKING:
    from notifier.config import NotifierTopicSettings
    from notifier.core.silence import Silence
    from sepsis_alert.kafka.config import KafkaSettings

__all__ = ["parse_duration", "register"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `2h`, `1d` or a combination such as `1h30m` -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"duration: expected e.g. 90s, 30m, 2h, 1h30m (got {text!r})")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `notify`, `ack` and `silence`."""
    notify = subparsers.add_parser("notify", help="run the notifier worker (alerts -> pagers and chat)")
    notify.add_argument("--config", type=Path, help="routing / receiver YAML (default: SEPSIS_NOTIFIER_CONFIG_FILE)")
    notify.add_argument("--metrics-port", type=int,
                        help="deprecated alias of --ops-port (ignored when --ops-port is given)")
    notify.add_argument("--api-port", type=int, help="HTTP API port (acks, silences, PagerDuty webhooks)")
    notify.add_argument("--check", action="store_true", help="validate the config and exit")
    add_ops_arguments(notify, "notify")
    notify.set_defaults(func=_cmd_notify)

    ack = subparsers.add_parser("ack", help="acknowledge an alert episode (stops its escalation)")
    ack.add_argument("episode", help="episode id (ep-...)")
    ack.add_argument("--by", default="cli", help="who acknowledges (audit)")
    ack.set_defaults(func=_cmd_ack)

    silence = subparsers.add_parser("silence", help="create, list or expire silences")
    sil_sub = silence.add_subparsers(dest="silence_command", metavar="ACTION", required=True)
    create = sil_sub.add_parser("create", help="mute matching alerts for a while (audited)")
    create.add_argument("--facility")
    create.add_argument("--unit")
    create.add_argument("--patient", dest="patient_key")
    create.add_argument("--episode", dest="episode_id")
    create.add_argument("--duration", type=parse_duration, required=True, help="e.g. 2h, 30m")
    create.add_argument("--starts-in", type=parse_duration, default=0.0, help="delay before it starts, e.g. 1h")
    create.add_argument("--by", required=True, help="author (audit)")
    create.add_argument("--reason", required=True, help="why (audit)")
    create.add_argument("--config", type=Path, help="config YAML (for max_silence_s)")
    create.set_defaults(func=_cmd_silence_create)
    listing = sil_sub.add_parser("list", help="current and future silences (JSON lines)")
    listing.set_defaults(func=_cmd_silence_list)
    expire = sil_sub.add_parser("expire", help="end a silence early (audited)")
    expire.add_argument("silence_id")
    expire.add_argument("--by", required=True)
    expire.set_defaults(func=_cmd_silence_expire)


def _kafka() -> KafkaSettings:
    """The broker of a one-off command (ack, silence): SEPSIS_KAFKA_*, else a running `make run` stack's."""
    from sepsis_alert.kafka.local_stack import cli_kafka_settings

    return cli_kafka_settings()


def _topics() -> NotifierTopicSettings:
    """Topic names from SEPSIS_NOTIFIER_TOPIC_* (the notifier's own, without needing its secrets)."""
    from notifier.config import NotifierTopicSettings

    return NotifierTopicSettings()


def _cmd_notify(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from notifier.app import NotifierApp
    from notifier.config import NotifierSettings, load_config
    from notifier.worker import run_worker
    from schemas.base import describe_validation_error
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.ops.http import OpsServerError
    from sepsis_alert.ops.logging import configure_logging
    from sepsis_alert.ops.settings import ops_settings_from_args

    if args.ops_port is None and args.metrics_port is not None:
        print("sepsis-alert notify: --metrics-port is deprecated, use --ops-port", file=sys.stderr)
        args.ops_port = args.metrics_port
    overrides: dict[str, object] = {}
    if args.config:
        overrides["config_file"] = args.config
    if args.api_port is not None:
        overrides["api_port"] = args.api_port
    if args.check:
        return _check(overrides)
    try:
        settings = NotifierSettings.with_secret_files(**overrides)
        config = load_config(settings.config_file)
        kafka = KafkaSettings()  # a worker takes its broker from its settings, never from a stack file
        app = NotifierApp(settings, config, kafka)
        # Command-line ops flags or SEPSIS_OPS_PORT win; else the deprecated SEPSIS_NOTIFIER_METRICS_PORT.
        ops = (ops_settings_from_args(args)
               if args.ops_port is not None or args.ops_host is not None or "SEPSIS_OPS_PORT" in os.environ
               or settings.metrics_port is None else None)
        # Every secret the process holds is masked in every log line from here on.
        configure_logging("notify", os.environ.get("SEPSIS_LOG_LEVEL", "INFO"), secrets=app.secret_values)
    except ValidationError as exc:
        print(f"sepsis-alert notify: configuration error: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as exc:
        print(f"sepsis-alert notify: configuration error: {exc}", file=sys.stderr)
        return 2
    from sepsis_alert.kafka.errors import KafkaPlumbingError

    try:
        return run_worker(settings, config, kafka, ops, app=app)
    except OpsServerError as exc:
        print(f"sepsis-alert notify: {exc}", file=sys.stderr)
        return 2
    except (KafkaPlumbingError, TimeoutError) as exc:  # no broker, no topic, state topics not readable in time
        print(f"sepsis-alert notify: Kafka: {exc}", file=sys.stderr)
        return 1


def _check(overrides: dict[str, object]) -> int:
    """`notify --check`: every problem of the configuration (each missing secret named), then where alerts go."""
    from pydantic import ValidationError

    from notifier.check import dry_run, problems
    from notifier.config import NotifierSettings, load_config
    from schemas.base import describe_validation_error

    found: list[str] = []
    try:
        settings = NotifierSettings.with_secret_files(**overrides)
        config_file = settings.config_file
    except ValidationError as exc:
        found.append(f"settings: {describe_validation_error(exc)}")
        config_file = overrides.get("config_file") or NotifierSettings.model_fields["config_file"].default  # type: ignore[assignment]
    try:
        config = load_config(config_file)
    except (ConfigError, ValueError) as exc:
        print(f"notify --check: {exc}", file=sys.stderr)
        return 2
    found += problems(config)
    for line in found:
        print(f"notify --check: {config_file}: {line}", file=sys.stderr)
    print(f"{config_file}: {len(config.receivers)} receivers, "
          f"{'valid' if not found else f'{len(found)} problem(s)'}; where alerts go:")
    for line in dry_run(config):
        print(f"  {line}")
    return 2 if found else 0


def _cmd_ack(args: argparse.Namespace) -> int:
    from notifier.adapters.kafka_state import publish_ack
    from notifier.core.model import AckEvent
    from sepsis_alert.kafka.producer import EventProducer

    ack = AckEvent(episode_id=args.episode, acked_by=args.by, via="cli", acked_at_s=time.time())
    with EventProducer(_kafka()) as producer:
        asyncio.run(publish_ack(producer, ack, _topics().topic_acks))
    print(json.dumps(ack.model_dump(mode="json")))
    return 0


def _cmd_silence_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from notifier.adapters.kafka_state import publish_silence_audit
    from notifier.config import NotifierSettings, load_config
    from notifier.core.silence import SilenceAudit, SilenceRequest, new_silence
    from schemas.base import describe_validation_error
    from sepsis_alert.kafka.producer import EventProducer

    try:
        request = SilenceRequest(facility=args.facility, unit=args.unit, patient_key=args.patient_key,
                                 episode_id=args.episode_id, duration_s=args.duration, starts_in_s=args.starts_in,
                                 created_by=args.by, reason=args.reason)
        config_file = args.config or NotifierSettings().config_file
        max_s = load_config(config_file).max_silence_s if config_file.exists() else 12 * 3600.0
        now = time.time()
        silence = new_silence(request, now, max_s)
    except ValidationError as exc:
        print(f"silence create: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    except (NotifierError, ValueError) as exc:
        print(f"silence create: {exc}", file=sys.stderr)
        return 2
    audit = SilenceAudit(action="create", actor=args.by, at_s=now, silence=silence)
    with EventProducer(_kafka()) as producer:
        asyncio.run(publish_silence_audit(producer, audit, _topics().topic_silences))
    print(json.dumps(silence.model_dump(mode="json")))
    return 0


def _read_silences() -> dict[str, Silence]:
    from notifier.core.silence import SilenceAudit, apply_audit
    from sepsis_alert.kafka.consumer import read_all

    table: dict[str, Silence] = {}
    for record in read_all(_kafka(), _topics().topic_silences):
        if record.value:
            table = apply_audit(table, SilenceAudit.model_validate_json(record.value))
    return table


def _cmd_silence_list(args: argparse.Namespace) -> int:
    now = time.time()
    for silence in sorted(_read_silences().values(), key=lambda s: s.starts_at_s):
        if silence.ends_at_s > now and (silence.expired_at_s is None or silence.expired_at_s > now):
            print(json.dumps(silence.model_dump(mode="json")))
    return 0


def _cmd_silence_expire(args: argparse.Namespace) -> int:
    from notifier.adapters.kafka_state import publish_silence_audit
    from notifier.core.silence import SilenceAudit, ended_early
    from sepsis_alert.kafka.producer import EventProducer

    silence = _read_silences().get(args.silence_id)
    if silence is None:
        print(f"silence expire: silence_id: unknown silence {args.silence_id!r}", file=sys.stderr)
        return 2
    now = time.time()
    ended = ended_early(silence, now, args.by)
    audit = SilenceAudit(action="expire", actor=args.by, at_s=now, silence=ended)
    with EventProducer(_kafka()) as producer:
        asyncio.run(publish_silence_audit(producer, audit, _topics().topic_silences))
    print(json.dumps(ended.model_dump(mode="json")))
    return 0
