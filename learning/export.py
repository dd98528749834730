"""LightGBM booster + calibration -> the compact JSON artifact that detector/core/risk/model.py serves.

The artifact is deterministic for a given booster (no timestamps; sorted keys), so retraining with the same
seed on the same data gives the same bytes and the same `model_version`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb

from detector.core.risk.features import FEATURE_NAMES, FEATURE_SET_HASH, FEATURE_SET_VERSION
from detector.core.risk.model import ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, artifact_content_hash

__all__ = ["booster_trees", "build_artifact", "write_artifact"]


def _flatten(structure: dict[str, Any]) -> dict[str, list[Any]]:
    """One dumped LightGBM tree -> flat arrays; internal nodes numbered in pre-order, leaves as ~leaf."""
    tree: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "default_left", "missing_type", "left",
                                                   "right", "internal_value", "leaf_value")}
    if "leaf_value" in structure and "split_feature" not in structure:
        tree["leaf_value"].append(float(structure["leaf_value"]))
        return tree

    def visit(node: dict[str, Any]) -> int:
        if "split_feature" not in node:
            tree["leaf_value"].append(float(node["leaf_value"]))
            return ~(len(tree["leaf_value"]) - 1)
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node.get('decision_type')!r}: categorical features are not used")
        index = len(tree["feature"])
        tree["feature"].append(int(node["split_feature"]))
        tree["threshold"].append(float(node["threshold"]))
        tree["default_left"].append(bool(node["default_left"]))
        tree["missing_type"].append(str(node["missing_type"]))
        tree["internal_value"].append(float(node["internal_value"]))
        tree["left"].append(0)
        tree["right"].append(0)
        tree["left"][index] = visit(node["left_child"])
        tree["right"][index] = visit(node["right_child"])
        return index

    visit(structure)
    return tree


def booster_trees(booster: lgb.Booster) -> list[dict[str, list[Any]]]:
    """Every tree of a binary-objective booster as flat arrays (see model.Tree)."""
    dump = booster.dump_model()
    names = dump.get("feature_names", [])
    if tuple(names) != FEATURE_NAMES:
        raise ValueError("the booster was trained on a different feature list than FEATURE_NAMES")
    return [_flatten(info["tree_structure"]) for info in dump["tree_info"]]


def build_artifact(booster: lgb.Booster, *, calibration_x: list[float], calibration_y: list[float],
                   alert_threshold: float, level_thresholds: dict[int, float], training: dict[str, Any],
                   metrics: dict[str, Any]) -> dict[str, Any]:
    """The artifact dict (with model_version and content_hash filled in)."""
    artifact: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "feature_set_version": FEATURE_SET_VERSION,
        "feature_set_hash": FEATURE_SET_HASH,
        "feature_names": list(FEATURE_NAMES),
        "objective": "binary (log-odds margin, then isotonic calibration)",
        "trees": booster_trees(booster),
        "calibration": {"kind": "isotonic", "x": calibration_x, "y": calibration_y},
        "alert_threshold": alert_threshold,
        "level_thresholds": {str(k): v for k, v in sorted(level_thresholds.items())},
        "training": training,
        "metrics": metrics,
        "intended_use": "decision support for ICU sepsis screening; not a diagnosis (docs/model-card.md)",
    }
    artifact["model_version"] = "risk-" + artifact_content_hash(artifact)[:10]
    artifact["content_hash"] = artifact_content_hash(artifact)
    return artifact


def write_artifact(artifact: dict[str, Any], path: Path) -> int:
    """Write the artifact as compact, key-sorted JSON; returns the size in bytes."""
    text = json.dumps(artifact, sort_keys=True, separators=(",", ":"), allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(text) + 1
