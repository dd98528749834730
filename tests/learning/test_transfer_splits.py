"""The transfer check's splits on a tiny synthetic cohort (learning/transfer_splits.py), and its helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.core.risk.features import FEATURE_NAMES
from evaluation.physionet import PSV_HEADER
from learning.transfer import TIMING_FEATURES, calibration_summary, timing_columns
from learning.transfer_splits import (
    Split,
    StayInfo,
    id_order_split,
    pathway_splits,
    random_reference,
    read_stay_info,
    unit_splits,
)

UNITS = np.array(["MICU", "SICU", "", "MICU", "SICU", "SICU", "", "MICU", "MICU", "SICU"])
HOURS = np.array([-0.02, -50.0, -3.0, -24.0, -23.9, np.nan, -100.0, 0.0, -1.0, -30.0])
IDS = np.array([9, 3, 7, 1, 10, 2, 8, 4, 6, 5])
INFO = StayInfo(UNITS, HOURS, IDS)


def _covers(split: Split, n: int) -> None:
    assert np.intersect1d(split.train, split.test).size == 0
    assert split.train.size + split.test.size + split.left_out == n


def test_unit_split_assigns_by_flag_and_counts_the_rest() -> None:
    forward, backward = unit_splits(INFO)
    assert forward.train.tolist() == [0, 3, 7, 8] and forward.test.tolist() == [1, 4, 5, 9]
    assert backward.train.tolist() == forward.test.tolist() and backward.test.tolist() == forward.train.tolist()
    assert forward.left_out == backward.left_out == 2
    _covers(forward, UNITS.size)


def test_pathway_split_at_24_hours_leaves_out_missing() -> None:
    direct, transfer = pathway_splits(INFO)
    assert direct.train.tolist() == [0, 2, 4, 7, 8]  # -23.9 h is still direct; -24 h is a transfer
    assert direct.test.tolist() == [1, 3, 6, 9]
    assert direct.left_out == 1 and transfer.train.tolist() == direct.test.tolist()
    _covers(direct, UNITS.size)


def test_id_order_split_halves_by_id() -> None:
    split = id_order_split(INFO)
    assert sorted(IDS[split.train].tolist()) == [1, 2, 3, 4, 5]
    assert sorted(IDS[split.test].tolist()) == [6, 7, 8, 9, 10]
    _covers(split, UNITS.size)


def test_random_reference_keeps_pool_and_sizes_and_is_seeded() -> None:
    forward = unit_splits(INFO)[0]
    ref = random_reference(forward, seed=5)
    assert ref.train.size == forward.train.size and ref.test.size == forward.test.size
    assert set(ref.train) | set(ref.test) == set(forward.train) | set(forward.test)
    assert np.intersect1d(ref.train, ref.test).size == 0
    again = random_reference(forward, seed=5)
    assert np.array_equal(ref.train, again.train) and ref.reference == forward.name


def test_a_split_refuses_overlapping_parts() -> None:
    with pytest.raises(ValueError):
        Split("bad", "unit", np.array([1, 2]), np.array([2, 3]))


def test_read_stay_info_from_files(tmp_path: Path) -> None:
    header = "|".join(PSV_HEADER)

    def row(unit1: str, unit2: str, hosp: str) -> str:
        values = ["NaN"] * len(PSV_HEADER)
        values[PSV_HEADER.index("Unit1")], values[PSV_HEADER.index("Unit2")] = unit1, unit2
        values[PSV_HEADER.index("HospAdmTime")] = hosp
        return "|".join(values)

    files = []
    for name, (u1, u2, hosp) in {"p000007": ("1", "0", "-0.03"), "p000002": ("0", "1", "-40.5"),
                                 "p000011": ("NaN", "NaN", "NaN")}.items():
        path = tmp_path / f"{name}.psv"
        path.write_text(f"{header}\n{row(u1, u2, hosp)}\n{row(u1, u2, hosp)}\n", encoding="ascii")
        files.append(path)
    info = read_stay_info(files, ["p000011", "p000007", "p000002"])
    assert info.unit.tolist() == ["", "MICU", "SICU"]
    assert info.patient_id.tolist() == [11, 7, 2]
    assert np.isnan(info.hosp_adm_hours[0]) and info.hosp_adm_hours[2] == -40.5


def test_timing_features_are_the_charting_features_only() -> None:
    assert len(TIMING_FEATURES) == 37  # 7 vitals x (hours since, count 6 h) + 23 labs x hours since
    assert all(FEATURE_NAMES[i] in TIMING_FEATURES for i in timing_columns())
    assert "score_news2" not in TIMING_FEATURES and "lactate_last" not in TIMING_FEATURES


def test_calibration_summary_of_a_perfect_constant() -> None:
    labels = np.array([0, 0, 0, 1] * 25, dtype=np.int8)
    summary = calibration_summary(labels, np.full(labels.size, 0.25))
    assert summary["ece"] == pytest.approx(0.0) and summary["observed"] == pytest.approx(0.25)


def test_command_runs_end_to_end_on_the_sample(tmp_path: Path) -> None:
    # 50 real stays and 5 trees: checks the wiring and the report's shape, not the numbers.
    from learning.transfer import main

    data = Path(__file__).parent / "data" / "physionet_sample"
    out, table = tmp_path / "transfer.json", tmp_path / "transfer.md"
    status = main([str(data), "--out", str(out), "--markdown", str(table), "--rounds", "5", "--workers", "1",
                   "--no-cache", "--no-progress", "--splits", "unit", "within_unit", "--ablate", "unit"])
    assert status == 0
    report = json.loads(out.read_text())
    assert report["complete"] is True
    names = [r["name"] for r in report["splits"]]
    assert names[:2] == ["MICU -> SICU", "random, sized as MICU -> SICU"]
    assert "SICU -> SICU (within, 2-fold)" in names
    assert len(report["ablation_without_timing_features"]) == 4
    first = report["splits"][0]
    assert first["test"]["patients"] == report["stays"]["SICU"]
    assert first["left_out_stays"] == report["stays"]["neither_unit"]
    assert table.read_text().count("\n") == 2 + len(report["splits"])
