"""The progress flag has one name across `eval` and `train`; train's older `--quiet` still works."""

from __future__ import annotations

import pytest

from sepsis_alert.cli import build_parser


@pytest.mark.parametrize("argv", [
    ["train", "physionet", "data", "--out", "m.json", "--no-progress"],
    ["train", "physionet", "data", "--out", "m.json", "--quiet"],
    ["eval", "physionet", "data", "--out", "outdir", "--no-progress"],
])
def test_progress_flag_is_no_progress_everywhere(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.no_progress is True


@pytest.mark.parametrize("argv", [["train", "physionet", "data", "--out", "m.json"],
                                  ["eval", "physionet", "data", "--out", "outdir"]])
def test_progress_is_shown_by_default(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).no_progress is False
