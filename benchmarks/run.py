"""`make bench`: run every benchmark module and write one flat JSON report.

Each `benchmarks/bench_<area>.py` exposes `run() -> dict[str, float | int | str]`
whose keys carry their unit (`hl7_normalise_msgs_per_s`, `mllp_roundtrip_p99_ms`).
Reference figures (e.g. the library a fast path replaces) are measured in the
same run and reported beside ours. A module that fails makes the run fail.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path


def _modules(selected: list[str] | None) -> list[str]:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=".bench/results.json")
    parser.add_argument("--only", nargs="*", help="run only modules whose name contains one of these")
    args = parser.parse_args(argv)
    results: dict[str, object] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "started_at_unix_s": round(time.time(), 3),
    }
    failed: list[str] = []
    for name in _modules(args.only):
        print(f"== {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        try:
            figures = module.run()
        except Exception as exc:  # a failing benchmark is reported and fails the run
            print(f"!! {name} failed: {exc!r}", file=sys.stderr)
            failed.append(name)
            continue
        results.update(figures)
        results[f"{name}_wall_s"] = round(time.perf_counter() - t0, 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=2, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
