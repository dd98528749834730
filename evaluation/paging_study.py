r"""How the learned risk and the classic triggers combine into the level that pages: the measurement behind the
defaults in detector/config/default.yaml (docs/paging.md).

    python -m evaluation.paging_study ../shared/data/physionet2019 \
        --predictions evaluation/data/risk_model_oof_set_a.npz

Every variant replays set A through the production detector (out-of-fold model probabilities on its ladder) and
the shipped paging policy and routing, exactly as `sepsis-alert eval` does, and reports the report's `paged`
figures. Then the level-3 (paging) probability threshold is chosen by patient-grouped cross-validation: for each
fold of the model's training, the threshold that gives the highest paged utility on the other folds within the
page budget (pages per patient-day, share of patients paged); the held-out folds' figures at their chosen
thresholds are the out-of-fold result. Writes JSON to stdout (and `--out FILE`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evaluation.dataset import DEFAULT_CACHE_DIR, list_patient_files
from evaluation.evaluate import EvalOptions, evaluate_files, load_predictions
from evaluation.paging import paged_figures
from evaluation.series import HourlySeries

__all__ = ["VARIANTS", "main"]

SHOCK_AT_ONCE = {"ladder": {"shock_index_confirm_sets": 1}}
SPEC_LADDER = {"ladder": {"shock_index_confirm_sets": 1, "trigger_levels": {"news2_emergency": 3}}}
VARIANTS: dict[str, dict[str, Any]] = {
    "§3.4 ladder + model at its artifact thresholds": {**SPEC_LADDER, "risk_model": {"thresholds": None}},
    "level-4 shock signs alone (shock index at once)": {**SHOCK_AT_ONCE, "risk_model": {"enabled": False},
                                                        "ladder": {"shock_index_confirm_sets": 1,
                                                                   "trigger_levels": {"news2_emergency": 2}}},
    "level-4 shock signs alone (shock index on 2 sets)": {"risk_model": {"enabled": False}},
    "NEWS2 >= 7 at level 3 (with the defaults)": {"ladder": {"trigger_levels": {"news2_emergency": 3}}},
    "defaults, shock index at once": SHOCK_AT_ONCE,
}
"""Detector config overrides, merged into the packaged default (the model's level-3 threshold sweep is added)."""

SWEEP = (0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 0.08)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _config_file(folder: Path, name: str, overrides: dict[str, Any]) -> Path:
    from detector.core.config import DetectorConfig, load_config

    data = _merge(load_config().model_dump(mode="json"), overrides)
    if "risk_model" in overrides and "thresholds" in overrides["risk_model"]:
        data["risk_model"]["thresholds"] = overrides["risk_model"]["thresholds"]  # replace, do not merge
    DetectorConfig.model_validate(data)
    path = folder / f"{abs(hash(name))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _default_level_2() -> float:
    """The shipped level-2 (console flag) threshold, kept while the paging threshold is swept."""
    from detector.core.config import load_config

    thresholds = load_config().risk_model.thresholds
    assert thresholds is not None and 2 in thresholds, "the packaged default sets the model's level 2"
    return thresholds[2]


def _figures(series: HourlySeries, index: list[int]) -> dict[str, Any]:
    labels = list(series.per_patient(series.labels))
    figures, _ = paged_figures([labels[i] for i in index], [series.paging[i] for i in index])
    return {k: figures[k] for k in ("utility", "sensitivity", "median_lead_h", "pages_per_patient_day",
                                    "patients_paged_share", "pages_per_episode_p95", "pages_per_episode_max",
                                    "ppv_pages")}


def _cross_validate(sweep: dict[float, HourlySeries], folds: np.ndarray, max_ppd: float,
                    max_share: float) -> dict[str, Any]:
    chosen: dict[int, float] = {}
    for fold in sorted(set(folds.tolist())):
        train = [i for i, f in enumerate(folds) if f != fold]
        best: tuple[tuple[bool, float], float] | None = None
        for threshold, series in sweep.items():
            figures = _figures(series, train)
            ok = figures["pages_per_patient_day"] <= max_ppd and figures["patients_paged_share"] <= max_share
            key = (ok, figures["utility"] if ok else -figures["pages_per_patient_day"])
            if best is None or key > best[0]:
                best = (key, threshold)
        assert best is not None
        chosen[fold] = best[1]
    # out of fold: each fold's patients at the threshold its training folds chose
    any_series = next(iter(sweep.values()))
    order = [i for fold in sorted(chosen) for i, f in enumerate(folds) if f == fold]
    labels = list(any_series.per_patient(any_series.labels))
    figures, _ = paged_figures([labels[i] for i in order], [sweep[chosen[int(folds[i])]].paging[i] for i in order])
    return {"thresholds_by_fold": {str(k): v for k, v in chosen.items()}, "out_of_fold": figures,
            "budget": {"max_pages_per_patient_day": max_ppd, "max_patients_paged_share": max_share}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.paging_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--predictions", type=Path, required=True, help="out-of-fold predictions (.npz with fold)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-pages-per-patient-day", type=float, default=0.4)
    parser.add_argument("--max-patients-paged-share", type=float, default=0.35)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    files = list_patient_files(args.data, cache_dir=DEFAULT_CACHE_DIR)
    risks = load_predictions(args.predictions)
    data = np.load(args.predictions, allow_pickle=False)
    fold_of = dict(zip(data["patient"].astype(str).tolist(), data["fold"].tolist(), strict=True))
    results: dict[str, Any] = {"variants": {}, "sweep": {}}
    with tempfile.TemporaryDirectory() as folder:
        def run(name: str, overrides: dict[str, Any]) -> HourlySeries:
            options = EvalOptions(workers=args.workers, config_path=_config_file(Path(folder), name, overrides),
                                  progress=False)
            series = evaluate_files(files, options, risks=risks)
            print(f"{name}: {json.dumps(_figures(series, list(range(len(series.paging)))))}", file=sys.stderr)
            return series

        everyone = None
        for name, overrides in VARIANTS.items():
            series = run(name, overrides)
            everyone = list(range(len(series.paging)))
            results["variants"][name] = _figures(series, everyone)
        level_2 = _default_level_2()
        sweep = {t: run(f"defaults, model level 3 at {t}", {"risk_model": {"thresholds": {2: level_2, 3: t}}})
                 for t in SWEEP}
        assert everyone is not None
        results["sweep"] = {str(t): _figures(s, everyone) for t, s in sweep.items()}
        folds = np.asarray([fold_of.get(key, -1) for key in next(iter(sweep.values())).patient_keys])
        results["cross_validation"] = _cross_validate(sweep, folds, args.max_pages_per_patient_day,
                                                      args.max_patients_paged_share)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
