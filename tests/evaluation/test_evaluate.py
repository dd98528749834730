"""`eval physionet` end to end on 20 real stays: the production engine, report.json, report.md, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.cli import register  # noqa: F401  (the command module imports cleanly)
from evaluation.evaluate import EvalOptions, evaluate_physionet, model_alert_threshold
from evaluation.physionet import read_psv
from evaluation.plots import calibration_bins
from evaluation.series import RULES
from sepsis_alert.cli import main

REAL = Path(__file__).parent / "data" / "physionet_sample"
REQUIRED = {"utility", "auroc", "auprc", "sensitivity", "ppv", "alerts_per_patient_day", "alerted_share",
            "median_lead_h"}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    # A learned model's out-of-fold risks plug in beside the rules: here the label itself (a perfect model).
    patients, rows, risks = [], [], []
    for path in sorted(REAL.glob("*.psv")):
        labels = read_psv(path).labels
        patients += [path.stem] * labels.size
        rows += list(range(labels.size))
        risks += labels.astype(float).tolist()
    predictions = out / "oof.npz"
    np.savez(predictions, patient=np.array(patients), row=np.array(rows), risk=np.array(risks))
    evaluate_physionet(REAL, out, options=EvalOptions(workers=2, progress=False, predictions=predictions,
                                                      prediction_threshold=0.5))
    return out


def test_report_json_has_every_rule_and_level_with_the_required_figures(report_dir: Path) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    assert report["summary"]["patients"] == 20
    assert report["summary"]["septic_patients"] == 6
    assert report["summary"]["scorings"] > 0
    for rule in RULES:
        assert set(report["rules"][rule.name]) >= REQUIRED, rule.name
    assert set(report["ladder"]) == {"review", "urgent", "emergency", "critical"}
    for row in report["ladder"].values():
        assert set(row) >= REQUIRED
    news2 = report["rules"]["NEWS2 >= 5"]
    assert 0.0 <= news2["auroc"] <= 1.0 and 0.0 <= news2["sensitivity"] <= 1.0
    assert news2["utility"] is not None and news2["utility"] <= 1.0
    # Alerts at a higher ladder level are a subset in time of those at a lower level.
    shares = [report["ladder"][k]["alerted_share"] for k in ("review", "urgent", "emergency", "critical")]
    assert shares == sorted(shares, reverse=True)


def test_learned_model_predictions_are_reported_beside_the_rules(report_dir: Path) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    assert report["scores"]["risk_model"]["auroc"] == pytest.approx(1.0)
    perfect = report["rules"]["risk_model >= 0.5"]
    assert perfect["sensitivity"] == pytest.approx(1.0)  # label hours are inside [onset-12, onset+3]
    assert perfect["alerted_share"] == pytest.approx(6 / 20)


def test_markdown_and_plots_are_written(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    assert "| NEWS2 >= 5 |" in md and "Why our numbers differ" in md
    for name in ("roc.png", "utility_vs_threshold.png", "lead_time.png", "burden_vs_sensitivity.png",
                 "calibration.png"):
        png = report_dir / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name})" in md


def test_cli_eval_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "physionet", str(REAL), "--out", str(tmp_path), "--patients", "5", "--workers", "1",
                 "--no-progress"])
    assert code == 0
    assert "5 patients" in capsys.readouterr().out
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["patients"] == 5


def test_predictions_file_formats(tmp_path: Path) -> None:
    from evaluation.evaluate import load_predictions

    csv = tmp_path / "oof.csv"
    csv.write_text("patient,row,risk\np000001,0,0.1\np000001,2,0.7\np000002,1,0.3\n")
    loaded = load_predictions(csv)
    assert set(loaded) == {"p000001", "p000002"}
    np.testing.assert_allclose(loaded["p000001"], [0.1, np.nan, 0.7])
    np.testing.assert_allclose(loaded["p000002"], [np.nan, 0.3])


def test_model_rule_defaults_to_the_artifacts_alert_threshold(tmp_path: Path) -> None:
    threshold = model_alert_threshold(None)
    assert 0.0 < threshold < 0.5  # the shipped model's utility-chosen operating point, not 0.5
    predictions = tmp_path / "oof.npz"
    np.savez(predictions, patient=np.array(["p000001"]), row=np.array([0]), risk=np.array([0.9]))
    report = evaluate_physionet(REAL, tmp_path, patients=3, options=EvalOptions(
        workers=1, progress=False, predictions=predictions))
    assert list(report.rules)[-1] == f"risk_model >= {threshold:.4g}"


def test_calibration_bins_compare_predicted_and_observed_rates() -> None:
    risk = np.array([0.1] * 50 + [0.9] * 50 + [np.nan] * 7)
    labels = np.array([0] * 45 + [1] * 5 + [1] * 45 + [0] * 5 + [1] * 7)
    bins = calibration_bins(risk, labels, bins=2)
    assert bins == [(pytest.approx(0.1), pytest.approx(0.1), 50), (pytest.approx(0.9), pytest.approx(0.9), 50)]
    assert calibration_bins(np.full(3, np.nan), np.zeros(3)) == []
