"""`sepsis-alert score`: score JSON input sets from stdin with the same code as the streaming detector.

Input: one JSON object per line with the clinical-scores.md §6 keys in canonical units (plus the optional
inr, aptt, urine_ml_24h and vasopressor keys of `ScoreInputs`); absent keys and `null` are missing. Blank
lines are skipped.

Output: one JSON object per scored line, in input order:
`line` (1-based input line number), `sirs`, `sirs_sep1`, `qsofa`, `news2`, `news2_band`, `mews`, `sofa`,
`sofa_points` (per system), `shock_index` (2 dp or null), `incomplete` (any score computed with missing
inputs), `incomplete_scores`, `missing` (input keys missing for some score), and with `--explain` the
`reasons` texts. With `--infection-suspected`, also `sep1_severe_sepsis` and `sep1_septic_shock`.

Bad input (not JSON, not an object, unknown key, wrong type, out of range): an error on stderr
("line N: key: message"), nothing on stdout for that line, and the remaining lines are still processed.
The exit status is 1 if any line was bad, else 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

import orjson

from detector.core.scores import INPUT_KEYS, ScoreInputError, ScoreInputs, score_all

__all__ = ["register", "score_line", "score_stream"]

_KEY_ORDER = {key: i for i, key in enumerate(INPUT_KEYS)}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `score` subcommand."""
    parser = subparsers.add_parser(
        "score",
        help="score JSON input sets (one object per line on stdin) with SIRS, qSOFA, NEWS2, MEWS, SOFA, SI",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--explain", action="store_true", help="add the human-readable reason of each score")
    parser.add_argument("--infection-suspected", action="store_true",
                        help="treat infection as documented and add the SEP-1 severe sepsis / septic shock verdicts")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return score_stream(sys.stdin.buffer, sys.stdout, sys.stderr, explain=args.explain,
                        infection_suspected=args.infection_suspected)


def score_line(inputs: ScoreInputs, *, explain: bool = False, infection_suspected: bool = False) -> dict[str, Any]:
    """The output object (without `line`) for one validated input set."""
    results = score_all(inputs, infection_suspected=True if infection_suspected else None)
    classic = [results[name] for name in ("sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa", "shock_index")]
    missing = sorted({key for result in classic for key in result.missing}, key=_KEY_ORDER.__getitem__)
    out: dict[str, Any] = {
        "sirs": results["sirs"].value,
        "sirs_sep1": results["sirs_sep1"].value,
        "qsofa": results["qsofa"].value,
        "news2": results["news2"].value,
        "news2_band": results["news2"].band,
        "mews": results["mews"].value,
        "sofa": results["sofa"].value,
        "sofa_points": results["sofa"].points,
        "shock_index": results["shock_index"].value,
        "incomplete": any(result.incomplete for result in classic),
        "incomplete_scores": [result.name for result in classic if result.incomplete],
        "missing": missing,
    }
    if infection_suspected:
        out["sep1_severe_sepsis"] = results["sep1_severe_sepsis"].value
        out["sep1_septic_shock"] = results["sep1_septic_shock"].value
    if explain:
        out["reasons"] = {name: result.reason for name, result in results.items()}
    return out


def score_stream(source: IO[bytes], sink: IO[str], errors: IO[str], *, explain: bool = False,
                 infection_suspected: bool = False) -> int:
    """Score every line of `source`; write results to `sink` and errors to `errors`. Returns the exit status."""
    status = 0
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            errors.write(f"line {number}: invalid JSON: {exc}\n")
            status = 1
            continue
        if not isinstance(data, dict):
            errors.write(f"line {number}: expected a JSON object, got {type(data).__name__}\n")
            status = 1
            continue
        try:
            inputs = ScoreInputs.from_mapping(data)
        except ScoreInputError as exc:
            errors.write(f"line {number}: {exc.key}: {exc.message}\n")
            status = 1
            continue
        out = {"line": number, **score_line(inputs, explain=explain, infection_suspected=infection_suspected)}
        sink.write(orjson.dumps(out).decode() + "\n")
    sink.flush()
    return status
