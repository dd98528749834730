"""`sepsis-alert replay physionet DIR` and `sepsis-alert eval physionet DIR --out OUTDIR`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal

__all__ = ["register"]


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--base-time needs an offset (e.g. 2019-01-01T00:00:00Z), got {text!r}")
    return moment


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="DIR",
                        help="folder of .psv files, or a folder with training_set*.tar.gz (unpacked once into "
                             ".local/physionet/)")
    parser.add_argument("--patients", type=int, metavar="N", help="only N patients (the first N by file name)")
    parser.add_argument("--sample", action="store_true", help="with --patients: a seeded random sample instead")
    parser.add_argument("--seed", type=int, default=2019, help="seed of --sample (default 2019)")
    parser.add_argument("--config", type=Path, help="detector config YAML (default: the packaged default.yaml)")


def _run_replay(args: argparse.Namespace) -> int:
    from evaluation.dataset import list_patient_files
    from evaluation.replay import DEFAULT_BASE_TIME, ReplayOptions, run_replay
    from evaluation.sinks import make_sink

    target, *rest = args.to
    if (target in ("offline", "kafka") and rest) or (target in ("mllp", "fhir") and len(rest) != 1):
        print(f"--to {' '.join(args.to)}: use offline | kafka | mllp HOST:PORT | fhir URL", file=sys.stderr)
        return 2
    order: Literal["patient", "time"] = args.order or ("time" if args.speed else "patient")
    options = ReplayOptions(base_time=args.base_time or DEFAULT_BASE_TIME, order=order, speed=args.speed,
                            stagger_minutes=args.stagger_minutes, key_prefix=args.key_prefix)
    files = list_patient_files(args.data, patients=args.patients, sample=args.sample, seed=args.seed)
    kwargs: dict[str, object] = {}
    if target == "offline" and args.config:
        from detector.core.config import load_config

        kwargs["config"] = load_config(args.config)
    if target == "kafka":
        from sepsis_alert.kafka.config import KafkaSettings

        kwargs["settings"] = KafkaSettings()
    sink = make_sink(target, rest[0] if rest else None, **kwargs)
    stats = run_replay(files, sink, options, progress=not args.no_progress)
    print(json.dumps(stats.as_dict(), indent=2))
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from evaluation.evaluate import EvalOptions, evaluate_physionet

    options = EvalOptions(workers=args.workers, config_path=args.config, predictions=args.predictions,
                          prediction_threshold=args.prediction_threshold, progress=not args.no_progress,
                          in_stream_model=args.in_stream_model)
    report = evaluate_physionet(args.data, args.out, patients=args.patients, sample=args.sample, seed=args.seed,
                                options=options)
    print(report.summary_text())
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `replay physionet` and `eval physionet`."""
    replay = subparsers.add_parser("replay", help="replay recorded ICU data as a live feed")
    replay_sources = replay.add_subparsers(dest="source", metavar="SOURCE", required=True)
    physionet = replay_sources.add_parser(
        "physionet", help="PhysioNet/CinC 2019 PSV files",
        description="Replay PhysioNet 2019 stays: each row becomes canonical observations at base time + ICULOS "
                    "hours, each stay starts with an admission (age, sex, ICU unit).")
    _add_selection(physionet)
    physionet.add_argument("--to", nargs="+", default=["offline"], metavar="TARGET",
                           help="offline (in-process detector, default) | kafka | mllp HOST:PORT | fhir URL")
    physionet.add_argument("--speed", type=_positive, metavar="N",
                           help="N x real time in event time (3600 = one ICU hour per second); "
                                "default: as fast as the target accepts")
    physionet.add_argument("--order", choices=("patient", "time"),
                           help="patient: each stay whole; time: all stays interleaved by event time "
                                "(default: time with --speed, else patient)")
    physionet.add_argument("--base-time", type=_aware, help="admission time of the stays, ISO 8601 with offset "
                                                            "(default 2019-01-01T00:00:00Z)")
    physionet.add_argument("--stagger-minutes", type=float, default=0.0,
                           help="admit stay i at base time + i x this (smooths live load; default 0)")
    physionet.add_argument("--key-prefix", default="", help="prefix for every patient key (a fresh namespace, "
                                                            "so a repeated live replay is not de-duplicated)")
    physionet.add_argument("--no-progress", action="store_true", help="no progress bar")
    physionet.set_defaults(func=_run_replay)

    evaluate = subparsers.add_parser("eval", help="evaluate the alert rules on recorded ICU data")
    eval_sources = evaluate.add_subparsers(dest="source", metavar="SOURCE", required=True)
    eval_physionet = eval_sources.add_parser(
        "physionet", help="PhysioNet/CinC 2019 PSV files",
        description="Run the production detector over every stay in event time and report the challenge's "
                    "utility, AUROC/AUPRC, sensitivity, PPV, alert burden and lead time per rule and ladder level.")
    _add_selection(eval_physionet)
    eval_physionet.add_argument("--out", type=Path, required=True, metavar="OUTDIR",
                                help="where report.json, report.md and the plots go")
    eval_physionet.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    eval_physionet.add_argument("--prediction-threshold", type=float, default=None, metavar="P",
                                help="alert threshold for the learned model's rule (default: the alert threshold "
                                     "stored in the configured model artifact)")
    eval_physionet.add_argument("--predictions", type=Path, metavar="FILE",
                                help="optional out-of-fold hourly risk predictions of a learned model "
                                     "(.npz or .csv: patient, row, risk) reported beside the rules")
    eval_physionet.add_argument("--no-progress", action="store_true", help="no progress bar")
    eval_physionet.add_argument("--in-stream-model", action="store_true",
                                help="also run the shipped learned model inside the engine (off by default: it was "
                                     "trained on PhysioNet set A, so on set A its in-stream scores are in-sample; "
                                     "pass its out-of-fold predictions with --predictions instead)")
    eval_physionet.set_defaults(func=_run_eval)
