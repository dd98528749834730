"""Serving the learned risk model: load the JSON artifact, check it, predict fast, explain (pure: no clock).

The artifact (written by learning/export.py) holds gradient-boosted trees in flat arrays, an isotonic
calibration map, suggested thresholds and the feature list with its hash. Loading refuses an artifact whose
feature list or hash differs from this code's `FEATURE_NAMES` (`RiskModelMismatch`), because a model fed
features in a different order or meaning would give confident nonsense.

Speed and dependencies: on load the trees are compiled into one Python function of nested `if` statements
(generated source, numbers only, from the committed artifact), so serving needs neither LightGBM nor numpy and
costs about 0.15 µs per tree (250 trees: ~35 µs, faster than `Booster.predict` on one row for the same booster
in benchmarks/bench_risk.py); that is CPython's floor for ~1,500 comparisons, and 93 % of the trees' inputs
cross a split between two scorings of a patient, so caching leaves would not pay. Tests check it against
LightGBM on random and real rows. (LightGBM's own single-row C predictor was measured at ~21 µs for the same
trees, but it is reachable only through LightGBM internals, so serving stays on the compiled Python.)

Explanations (tree-path contributions, Saabas) use a second compiled function that only finds each tree's leaf,
then add that leaf's precomputed path steps: the same floats as the tree walk, ~4x cheaper (~0.12 ms).

Missing values follow LightGBM's rules exactly (src/io/tree.h NumericalDecision): per split `missing_type`
"NaN" sends NaN the `default_left` way; "None" treats NaN as 0.0; "Zero" sends 0 and NaN the default way.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.core.risk.features import FEATURE_NAMES, FEATURE_SET_HASH, FEATURE_SET_VERSION

__all__ = [
    "ARTIFACT_FORMAT",
    "RiskModel",
    "RiskModelError",
    "RiskModelMismatch",
    "artifact_content_hash",
]

ARTIFACT_FORMAT = "sepsis-alert/risk-model"
ARTIFACT_FORMAT_VERSION = 1
_ZERO = 1e-35  # LightGBM kZeroThreshold


class RiskModelError(ValueError):
    """The model artifact cannot be used (missing file, unreadable, wrong format or corrupt)."""


class RiskModelMismatch(RiskModelError):
    """The artifact was trained on a different feature list than this code computes."""


def artifact_content_hash(artifact: dict[str, Any]) -> str:
    """SHA-256 of the artifact's canonical JSON without its own `content_hash` field (hex, first 16)."""
    body = {k: v for k, v in artifact.items() if k != "content_hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Tree:
    """One tree in flat arrays. Internal nodes 0..n-1; a child < 0 is leaf `~child`."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    default_left: tuple[bool, ...]
    missing_type: tuple[str, ...]  # "None", "Zero" or "NaN"
    left: tuple[int, ...]
    right: tuple[int, ...]
    internal_value: tuple[float, ...]
    leaf_value: tuple[float, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tree:
        return cls(tuple(data["feature"]), tuple(float(t) for t in data["threshold"]),
                   tuple(bool(d) for d in data["default_left"]), tuple(data["missing_type"]),
                   tuple(data["left"]), tuple(data["right"]), tuple(float(v) for v in data["internal_value"]),
                   tuple(float(v) for v in data["leaf_value"]))

    def goes_left(self, node: int, value: float) -> bool:
        """LightGBM's numerical decision at an internal node for feature value `value` (NaN = missing)."""
        missing = self.missing_type[node]
        if value != value and missing != "NaN":
            value = 0.0
        if (missing == "Zero" and -_ZERO <= value <= _ZERO) or (missing == "NaN" and value != value):
            return self.default_left[node]
        return value <= self.threshold[node]

    def path(self, x: Sequence[float]) -> tuple[list[int], int]:
        """Internal nodes visited by row `x`, and the leaf reached."""
        if not self.feature:  # a single-leaf tree
            return [], 0
        nodes: list[int] = []
        node = 0
        while node >= 0:
            nodes.append(node)
            node = self.left[node] if self.goes_left(node, x[self.feature[node]]) else self.right[node]
        return nodes, ~node

    def predict(self, x: Sequence[float]) -> float:
        """Leaf value for row `x` (the slow, obvious reference walk)."""
        return self.leaf_value[self.path(x)[1]]


def _nan_goes_left(tree: Tree, node: int) -> bool | None:
    """Where NaN goes at `node` under LightGBM's rule, or None for "Zero" splits (which need their own test)."""
    missing = tree.missing_type[node]
    if missing == "NaN":
        return tree.default_left[node]
    if missing == "None":  # NaN is read as 0.0
        return tree.threshold[node] >= 0.0
    return None


def _tree_source(tree: Tree, node: int, indent: int, lines: list[str], leaf: Callable[[int], str]) -> None:
    """Nested `if`s of one subtree; `leaf(i)` is the statement run at leaf `i`. Features are locals `x<i>`
    (unpacked once per call: cheaper than x[i])."""
    pad = " " * indent
    if node < 0:
        lines.append(f"{pad}{leaf(~node)}")
        return
    v, thr = f"x{tree.feature[node]}", repr(tree.threshold[node])
    first, second = tree.left[node], tree.right[node]
    nan_left = _nan_goes_left(tree, node)
    if nan_left is None:  # "Zero": 0 and NaN take the default side
        side = "True" if tree.default_left[node] else "False"
        condition = f"({side} if ({v} != {v} or -{_ZERO!r} <= {v} <= {_ZERO!r}) else {v} <= {thr})"
    elif nan_left:
        # `v > t` is False for NaN, so NaN lands in the else branch: the left child.
        condition, first, second = f"{v} > {thr}", second, first
    else:
        condition = f"{v} <= {thr}"  # False for NaN: NaN goes right
    lines.append(f"{pad}if {condition}:")
    _tree_source(tree, first, indent + 1, lines, leaf)
    lines.append(f"{pad}else:")
    _tree_source(tree, second, indent + 1, lines, leaf)


def _function(name: str, trees: Sequence[Tree], head: list[str], body: Callable[[int, Tree, list[str]], None],
              tail: str, namespace: dict[str, Any]) -> Callable[[Sequence[float]], Any]:
    """Compile `def name(x)`: unpack the features the trees read, `head`, one `body` per tree, `tail`."""
    used = sorted({f for tree in trees for f in tree.feature})
    lines = [f"def {name}(x):"]
    if len(used) == 1:
        lines.append(f" x{used[0]} = x[{used[0]}]")
    elif used:
        # Features become locals once per call (cheaper than x[i] at every split). A list of the full length (what
        # extract_features returns) is unpacked whole, which copies references without building a tuple; any other
        # sequence goes through one C-level itemgetter of the features the trees read.
        n = len(FEATURE_NAMES)
        lines.append(f" if len(x) == {n} and type(x) is list:")
        lines.append(f"  {', '.join(f'x{i}' for i in range(n))} = x")
        lines.append(" else:")
        lines.append(f"  {', '.join(f'x{i}' for i in used)} = _pick(x)")
    lines += head
    for t, tree in enumerate(trees):
        body(t, tree, lines)
    lines.append(tail)
    namespace["_pick"] = operator.itemgetter(*used) if len(used) > 1 else None
    exec(compile("\n".join(lines), f"<risk-model-{name}>", "exec"), namespace)
    return namespace[name]  # type: ignore[no-any-return]


def _compile(trees: Sequence[Tree]) -> Callable[[Sequence[float]], float]:
    """One function `margin(x)` summing every tree's leaf in tree order; generated from numbers only (module doc)."""

    def body(_: int, tree: Tree, lines: list[str]) -> None:
        if not tree.feature:
            lines.append(f" s += {tree.leaf_value[0]!r}")
        else:
            _tree_source(tree, 0, 1, lines, lambda leaf: f"s += {tree.leaf_value[leaf]!r}")

    return _function("margin", trees, [" s = 0.0"], body, " return s", {})


def _leaf_steps(tree: Tree) -> list[tuple[tuple[int, float], ...]]:
    """Per leaf: the (feature, change of the node's expected value) of every split on its path, root first.

    The change is computed exactly as the tree walk in `RiskModel.contributions_reference` computes it (the
    value after the split minus the value at the split), so adding these in the same order gives the same floats.
    """
    steps: list[tuple[tuple[int, float], ...]] = [()] * len(tree.leaf_value)

    def walk(node: int, path: list[int]) -> None:
        if node < 0:
            pairs = []
            for i, at in enumerate(path):
                after = tree.internal_value[path[i + 1]] if i + 1 < len(path) else tree.leaf_value[~node]
                pairs.append((tree.feature[at], after - tree.internal_value[at]))
            steps[~node] = tuple(pairs)
            return
        path.append(node)
        walk(tree.left[node], path)
        walk(tree.right[node], path)
        path.pop()

    if tree.feature:
        walk(0, [])
    return steps


class _Explainer:
    """Tree-path contributions fast: a compiled function finds the leaf of every tree (same splits as `margin`),
    then each leaf's precomputed path steps are added into the per-feature sums, in tree then path order."""

    def __init__(self, trees: Sequence[Tree]) -> None:
        bias = 0.0
        for tree in trees:
            bias += tree.internal_value[0] if tree.feature else tree.leaf_value[0]
        self.bias = bias
        self.steps: list[tuple[tuple[int, float], ...]] = []  # indexed by the global leaf number
        offsets: list[int] = []
        for tree in trees:
            offsets.append(len(self.steps))
            self.steps += _leaf_steps(tree)

        def body(t: int, tree: Tree, lines: list[str]) -> None:
            if tree.feature:  # a single-leaf tree adds to the bias only
                _tree_source(tree, 0, 1, lines, lambda leaf: f"a({offsets[t] + leaf})")

        self.leaves = _function("leaves", trees, [" out = []", " a = out.append"], body, " return out", {})

    def contributions(self, x: Sequence[float], n_features: int) -> list[float]:
        contrib = [0.0] * n_features
        steps = self.steps
        for leaf in self.leaves(x):
            for feature, change in steps[leaf]:
                contrib[feature] += change
        return contrib


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's share of a prediction, on the log-odds scale (positive = raises the risk)."""

    feature: str
    value: float
    contribution: float


class RiskModel:
    """A loaded, checked risk model. Build with `RiskModel.load(path)` or `RiskModel.from_artifact(dict)`."""

    def __init__(self, artifact: dict[str, Any]) -> None:
        if artifact.get("format") != ARTIFACT_FORMAT or artifact.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise RiskModelError(f"not a risk model artifact of format {ARTIFACT_FORMAT} v{ARTIFACT_FORMAT_VERSION} "
                                 f"(got {artifact.get('format')!r} v{artifact.get('format_version')!r})")
        names = tuple(artifact.get("feature_names", ()))
        if names != FEATURE_NAMES or artifact.get("feature_set_hash") != FEATURE_SET_HASH:
            missing = [n for n in FEATURE_NAMES if n not in names]
            extra = [n for n in names if n not in FEATURE_NAMES]
            detail = (f"{len(missing)} features the code computes are not in the model (e.g. {missing[:3]}), "
                      f"{len(extra)} model features the code does not compute (e.g. {extra[:3]})"
                      if missing or extra else "same names in a different order or feature-set version")
            raise RiskModelMismatch(
                f"risk model {artifact.get('model_version')!r} was trained on feature set "
                f"{artifact.get('feature_set_hash')!r} (v{artifact.get('feature_set_version')}), but this code "
                f"computes feature set {FEATURE_SET_HASH!r} (v{FEATURE_SET_VERSION}): {detail}. Retrain with "
                f"`sepsis-alert train physionet DIR --out MODEL` or deploy the matching detector version.")
        stored = artifact.get("content_hash")
        actual = artifact_content_hash(artifact)
        if stored != actual:
            raise RiskModelError(f"risk model content hash {stored!r} does not match its content ({actual!r}): "
                                 "the file was edited or truncated")
        self.artifact = artifact
        self.version: str = artifact["model_version"]
        self.content_hash: str = stored
        self.trees = tuple(Tree.from_json(t) for t in artifact["trees"])
        calibration = artifact["calibration"]
        self._cal_x: list[float] = [float(v) for v in calibration["x"]]
        self._cal_y: list[float] = [float(v) for v in calibration["y"]]
        self.alert_threshold: float = float(artifact["alert_threshold"])
        self.level_thresholds: dict[int, float] = {int(k): float(v)
                                                   for k, v in artifact.get("level_thresholds", {}).items()}
        self._margin: Callable[[Sequence[float]], float] = _compile(self.trees)
        self._explainer: _Explainer | None = None  # compiled on the first explanation (an alert needs one)

    @classmethod
    def load(cls, path: Path | str) -> RiskModel:
        """Read and check an artifact file; RiskModelError / RiskModelMismatch say what is wrong."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise RiskModelError(f"risk model file {path} does not exist (train one with `sepsis-alert train "
                                 f"physionet DIR --out {path}`, or disable the risk model in the config)") from exc
        try:
            artifact = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RiskModelError(f"risk model file {path} is not valid JSON: {exc}") from exc
        if not isinstance(artifact, dict):
            raise RiskModelError(f"risk model file {path} does not hold a JSON object")
        return cls(artifact)

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> RiskModel:
        return cls(artifact)

    # ------------------------------------------------------------------ prediction

    def margin(self, x: Sequence[float]) -> float:
        """Raw model output (log-odds, before calibration) for one feature vector (FEATURE_NAMES order)."""
        return self._margin(x)

    def margin_reference(self, x: Sequence[float]) -> float:
        """Same as `margin`, by walking the flat arrays (slow; the oracle for the compiled path)."""
        return sum(tree.predict(x) for tree in self.trees)

    def calibrate(self, margin: float) -> float:
        """Calibrated probability for a raw margin: the isotonic map, linear between its knots, clipped."""
        xs, ys = self._cal_x, self._cal_y
        if margin <= xs[0]:
            return ys[0]
        if margin >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, margin)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (margin - x0) / (x1 - x0)

    def probability(self, x: Sequence[float]) -> float:
        """Calibrated probability that the hour is labelled septic (sepsis onset within ~6 h or present)."""
        return self.calibrate(self._margin(x))

    def level_hint(self, probability: float) -> int:
        """Highest ladder level whose suggested threshold the probability meets (0 = none)."""
        level = 0
        for lvl, threshold in self.level_thresholds.items():
            if probability >= threshold and lvl > level:
                level = lvl
        return level

    def contributions(self, x: Sequence[float]) -> tuple[float, list[float]]:
        """Per-feature contributions on the log-odds scale (tree-path attribution, Saabas 2014).

        Walking each tree, the change in the node's expected value at every split is credited to the split's
        feature. Returns (bias, contributions) with bias + sum(contributions) == margin(x). Cheaper than
        TreeSHAP and adequate for naming the main drivers; computed only when an alert needs explaining.
        Same floats as `contributions_reference` (leaf paths precomputed; the leaf finder is compiled once,
        on first use: ~0.1 ms per call after that).
        """
        explainer = self._explainer or self.prepare_explanations()
        return explainer.bias, explainer.contributions(x, len(FEATURE_NAMES))

    def prepare_explanations(self) -> _Explainer:
        """Compile the contribution path now (else on the first `contributions` call); idempotent."""
        if self._explainer is None:
            self._explainer = _Explainer(self.trees)
        return self._explainer

    def contributions_reference(self, x: Sequence[float]) -> tuple[float, list[float]]:
        """Same as `contributions`, by walking the flat arrays (slow; the oracle for the fast path)."""
        contrib = [0.0] * len(FEATURE_NAMES)
        bias = 0.0
        for tree in self.trees:
            nodes, leaf = tree.path(x)
            if not nodes:
                bias += tree.leaf_value[0]
                continue
            bias += tree.internal_value[0]
            for i, node in enumerate(nodes):
                after = tree.internal_value[nodes[i + 1]] if i + 1 < len(nodes) else tree.leaf_value[leaf]
                contrib[tree.feature[node]] += after - tree.internal_value[node]
        return bias, contrib

    def top_contributions(self, x: Sequence[float], limit: int = 5) -> list[Contribution]:
        """The features that raised the risk most, largest first (positive contributions only)."""
        _, contrib = self.contributions(x)
        order = sorted(range(len(contrib)), key=lambda i: contrib[i], reverse=True)
        return [Contribution(FEATURE_NAMES[i], x[i], contrib[i]) for i in order[:limit] if contrib[i] > 0]

