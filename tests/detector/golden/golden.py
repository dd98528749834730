"""Golden digests of the detector's behaviour on real and synthetic stays.

Selection (fixed, so the digest is reproducible):

* `physionet`: the first 300 stays of PhysioNet 2019 set A by file name (`list_patient_files(root, patients=300)`,
  p000001.psv ... p000306.psv), replayed as the offline evaluation replays them: the admission, then one message
  per ICU hour through `DetectorEngine.process_fields` (evaluation/physionet.hour_fields), base time
  evaluation.replay.DEFAULT_BASE_TIME.
* `care`: the benchmark's synthetic care workload (benchmarks.bench_detector.care_workload, 60 patients x 24 h):
  PhysioNet rows carry no care events, so suspected infection, SEP-1, Sepsis-3 and vasopressor doses are covered
  by this one.

Each stay is run twice with the shipped configuration (learned model on):

* streaming: no hook, as `sepsis-alert detect` runs. Digest: every alert (transition, levels, sequence, episode,
  reasons text, scores with bands, inputs and reason texts, cannot-rule-out list) and the final state bytes
  (state.encode_state, format 5).
* evaluation: with an `on_scored` hook recording every scoring's score values and ladder level, as `make eval` does.

The committed file holds one SHA-256 per stay and mode plus a few alerts in full (readable samples). Regenerate
only for an intended behaviour change, and say why in the commit message:
`.venv/bin/python -m tests.detector.golden.golden --write`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.core.config import DetectorConfig
from detector.core.engine import DetectorEngine
from detector.core.scores import ScoreResult
from schemas.alert import Alert
from schemas.care_event import CareEvent
from schemas.observation import Observation, ResultStatus

GOLDEN_FILE = Path(__file__).with_name("detector_golden.json")
REPO_ROOT = Path(__file__).resolve().parents[3]
PHYSIONET = REPO_ROOT.parent / "shared" / "data" / "physionet2019"
PHYSIONET_STAYS = 300
CARE_PATIENTS, CARE_HOURS = 60, 24
SAMPLE_ALERTS = 2  # alerts kept in full in the golden file (the first ones of the physionet selection)


def alert_digest(alert: Alert) -> dict[str, Any]:
    """The parts of an alert the detector decides (not envelope fields the schema owner may add)."""
    return {
        "transition": str(alert.transition), "level": int(alert.level), "previous_level": int(alert.previous_level),
        "sequence": alert.sequence, "episode_id": alert.episode_id, "event_time": alert.event_time.isoformat(),
        "reasons": list(alert.reasons), "infection_suspected": alert.infection_suspected,
        "treatment_started": alert.treatment_started, "cannot_rule_out": list(alert.cannot_rule_out),
        "scores": [{"name": s.name, "value": s.value, "band": s.band, "incomplete": s.incomplete,
                    "missing": list(s.missing), "reason": s.reason,
                    "inputs": [[i.measure, i.value, i.unit, i.effective_at.isoformat() if i.effective_at else None]
                               for i in s.inputs]}
                   for s in alert.scores],
    }


def _sha(payload: object) -> str:
    return _short(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())


def _short(data: bytes) -> str:
    """The first 64 bits of the SHA-256 (hex): plenty to tell two digests apart, small to commit."""
    return hashlib.sha256(data).hexdigest()[:16]


class _Recorder:
    """on_scored hook: every scoring's (time, level, score values and bands)."""

    def __init__(self) -> None:
        self.rows: list[list[object]] = []

    def __call__(self, key: str, event_time: datetime, scores: dict[str, ScoreResult], level: int) -> None:
        self.rows.append([event_time.isoformat(), level,
                          [[name, r.value, r.band, r.incomplete] for name, r in scores.items()]])


def _physionet_stays() -> Iterator[tuple[str, list[Any]]]:
    """(key, steps) per selected stay; a step is an event or a ('fields', args) tuple for process_fields."""
    from evaluation.dataset import list_patient_files
    from evaluation.physionet import admit_event, hour_fields, read_psv
    from evaluation.replay import DEFAULT_BASE_TIME

    for path in list_patient_files(PHYSIONET, patients=PHYSIONET_STAYS):
        record = read_psv(path)
        key = record.patient_key
        steps: list[Any] = [admit_event(record, DEFAULT_BASE_TIME)]
        for message in hour_fields(record, DEFAULT_BASE_TIME):
            parts = len(message.items)
            for part, (measure, value, source_id) in enumerate(message.items):
                steps.append(("fields", (key, measure, message.event_s, message.event_s, value, None, source_id,
                                         ResultStatus.FINAL, part, parts, None, key)))
        yield key, steps


def _care_stays() -> Iterator[tuple[str, list[Any]]]:
    from benchmarks.bench_detector import care_workload

    by_key: dict[str, list[Observation | CareEvent]] = {}
    for event in care_workload(CARE_PATIENTS, CARE_HOURS):
        by_key.setdefault(event.patient_key, []).append(event)
    for key in sorted(by_key):
        yield key, list(by_key[key])


def _run(key: str, steps: Iterable[Any], hook: _Recorder | None) -> tuple[list[Alert], bytes]:
    engine = DetectorEngine(DetectorConfig(), on_scored=hook)
    alerts: list[Alert] = []
    for step in steps:
        if isinstance(step, tuple):
            alerts += engine.process_fields(*step[1])
        else:
            alerts += engine.process(step)
    return alerts, engine.export_state(key) or b""


def compute() -> dict[str, Any]:
    """The digest of every selected stay: {"stays": {set: {key: {alerts, state, scorings}}}, "samples": [...]}."""
    stays: dict[str, dict[str, dict[str, str | int]]] = {}
    samples: list[dict[str, Any]] = []
    for name, source in (("physionet", _physionet_stays()), ("care", _care_stays())):
        table = stays[name] = {}
        for key, steps in source:
            alerts, state = _run(key, steps, None)
            recorder = _Recorder()
            _run(key, steps, recorder)
            digests = [alert_digest(a) for a in alerts]
            if name == "physionet" and len(samples) < SAMPLE_ALERTS and digests:
                samples.append({"stay": key, "alert": digests[0]})
            table[key] = {"alert_count": len(alerts), "alerts": _sha(digests),
                          "state": _short(state), "scorings": _sha(recorder.rows)}
    return {"selection": {"physionet": f"first {PHYSIONET_STAYS} files of set A by name",
                          "care": f"benchmarks.bench_detector.care_workload({CARE_PATIENTS}, {CARE_HOURS})"},
            "stays": stays, "samples": samples}


def render(digest: dict[str, Any]) -> str:
    """The golden file's text: readable samples, then one line per stay (small diffs when a stay changes)."""
    lines = ["{", f' "selection": {json.dumps(digest["selection"], sort_keys=True)},',
             f' "samples": {json.dumps(digest["samples"], indent=1, sort_keys=True)},', ' "stays": {']
    groups = list(digest["stays"].items())
    for g, (name, table) in enumerate(groups):
        lines.append(f'  "{name}": {{')
        rows = [f'   "{key}": {json.dumps(value, sort_keys=True)}' for key, value in table.items()]
        lines.append(",\n".join(rows))
        lines.append("  }" + ("," if g < len(groups) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN_FILE.name}")
    args = parser.parse_args(argv)
    digest = compute()
    text = render(digest)
    if args.write:
        GOLDEN_FILE.write_text(text)
        print(f"wrote {GOLDEN_FILE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
