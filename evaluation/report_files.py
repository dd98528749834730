"""Write an evaluation report to a folder: report.json, report.md and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.plots import write_plots
from evaluation.report import EvalReport
from evaluation.report_md import render_markdown
from evaluation.series import HourlySeries

__all__ = ["write_report"]


def write_report(report: EvalReport, series: HourlySeries, out_dir: Path) -> list[Path]:
    """Write report.json, report.md and the PNG plots into `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report.as_json(), indent=2, allow_nan=False) + "\n")
    plots = write_plots(report, series, out_dir)
    md_path = out_dir / "report.md"
    md_path.write_text(render_markdown(report, [p.name for p in plots]))
    return [json_path, md_path, *plots]
