"""Compiled (numba) serving of the learned risk score: window features + tree ensemble in ONE native call.

The Python code stays the REFERENCE: `features.extract_features` defines every feature and `RiskModel.margin`
(model.py, the generated `if` code) defines the margin. This module computes the same floats, bit for bit
(tests/detector/core/risk/test_compiled.py compares with `==`, NaN equal to NaN):

* Window features (7 vitals x 15, 23 labs x 5, then pulse pressure, shock index, BUN/creatinine) from the
  packed window (`PatientWindow.data` / `.lengths` as they are, no copy): window_kernels.py, which also says why
  the int64 sums cannot overflow with validated observations and what happens if they could.
* The score-derived tail (score values, points, SOFA rise, age, sex, hours since admission) is built in
  Python by the same expressions as `extract_features` (it reads ScoreResult objects) and passed in as a tuple.
* Trees: flat node arrays (`FlatTrees`), eight trees walked side by side, their leaves added in tree order
  (`s += leaf` from 0.0 like the generated code), with LightGBM's missing-value rules exactly as model.py
  compiles them (NaN takes the split's missing side; a "Zero" split also sends |v| <= kZeroThreshold that
  way; otherwise `v <= threshold`).
* Explanations (tree-path contributions, only read for alerts): the same walk, adding along each edge taken the
  change of the expected value that model.py's `_Explainer` adds for it (same expression, same floats), per
  feature in its order (tree, then path root first); the bias is the explainer's. ~10x cheaper than the Python
  explainer.

In the (never expected) int64 overflow case the kernel returns NaN and `CompiledRisk.score` recomputes that
scoring with the Python reference (`CompiledRisk.fallbacks` counts it).

Why compiled at all: the detector target >= 20,000 observations per CPU-second per process with the model on is
met with these kernels and missed with the Python reference (docs/benchmarks.md, the
`*_python_risk_reference_*` figures of the same run). The score and context features they read come from the
ScoreResults, i.e. from the one set of clinical tables (detector/core/rules/tables.py).

Numba caches the machine code (`cache=True`): in NUMBA_CACHE_DIR when set, else next to this file, else in the
user's cache directory; if none is writable the kernels compile in memory at every start (`jit.kernel`). What
comes from OTHER modules (measure slots, value scale, feature positions) is passed in at run time, not frozen
into the cached code, because numba's cache only notices edits of this file.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import numpy as np

from detector.core.jit import kernel
from detector.core.risk.explain import SIGNAL_INDEX, SIGNALS
from detector.core.risk.features import (
    FEATURE_NAMES,
    LAB_MEASURES,
    NEWS2_PARAMETERS,
    SCORE_VALUES,
    SIRS_CRITERIA,
    SOFA_SYSTEMS,
    TREND_HOURS,
    VITAL_MEASURES,
    RiskContext,
    extract_features,
    feature_index,
)
from detector.core.risk.model import RiskModel, Tree
from detector.core.risk.window_kernels import window_features
from detector.core.scores import ScoreResult
from detector.core.window import MEASURE_INDEX, MEASURE_LIST, VALUE_SCALE, PatientWindow

__all__ = ["CompiledRisk", "compiled_tail", "context_features", "packed_features", "reference_window"]

_HOUR = 3600
_NAN = math.nan
_ZERO = 1e-35  # LightGBM kZeroThreshold, as in model.py

# ---------------------------------------------------------------- layout (checked against FEATURE_NAMES)

_N_VITAL_FEATURES = 3 + 4 * len(TREND_HOURS)
_N_LAB_FEATURES = 5
_WINDOW_END = len(VITAL_MEASURES) * _N_VITAL_FEATURES + len(LAB_MEASURES) * _N_LAB_FEATURES
_N_FEATURES = len(FEATURE_NAMES)
_TAIL_FEATURES = 27  # the score and context features at the end of the vector (compiled_tail's)


def _check_layout() -> None:
    """The kernel writes features by position: refuse to import if features.py changed its vector layout."""
    names = FEATURE_NAMES
    for k, (_, p) in enumerate(VITAL_MEASURES):
        base = k * _N_VITAL_FEATURES
        expected = [f"{p}_last", f"{p}_hours_since", f"{p}_count_6h"]
        for h in TREND_HOURS:
            expected += [f"{p}_slope_{h}h", f"{p}_delta_{h}h", f"{p}_min_{h}h", f"{p}_max_{h}h"]
        if list(names[base:base + _N_VITAL_FEATURES]) != expected:
            raise ImportError(f"risk feature layout changed at vital {p!r}: update detector/core/risk/compiled.py")
    for k, (_, p) in enumerate(LAB_MEASURES):
        base = len(VITAL_MEASURES) * _N_VITAL_FEATURES + k * _N_LAB_FEATURES
        expected = [f"{p}_last", f"{p}_hours_since", f"{p}_delta_prev", f"{p}_min_24h", f"{p}_max_24h"]
        if list(names[base:base + _N_LAB_FEATURES]) != expected:
            raise ImportError(f"risk feature layout changed at lab {p!r}: update detector/core/risk/compiled.py")
    tail = ["pulse_pressure", "shock_index_last", "bun_creatinine_ratio"]
    tail += [f"score_{s}" for s in SCORE_VALUES] + ["score_sofa_rise"]
    tail += [f"news2_pts_{k}" for k in NEWS2_PARAMETERS] + [f"sofa_pts_{k}" for k in SOFA_SYSTEMS]
    tail += [f"sirs_pts_{k}" for k in SIRS_CRITERIA] + ["age_years", "sex_male", "hours_since_admission"]
    if list(names[_WINDOW_END:]) != tail or TREND_HOURS != (6, 12, 24) or len(tail) != 3 + _TAIL_FEATURES:
        raise ImportError("risk feature layout changed after the window features: update compiled.py")


_check_layout()

# The run-time plan the kernel reads (int64): [scale, span 6 h, span 12 h, span 24 h, number of slots,
# index of hr_last, sbp_last, dbp_last, bun_last, creatinine_last, number of vitals, number of labs,
# vital slots..., lab slots...]
_PLAN = np.array([VALUE_SCALE, *(h * _HOUR for h in TREND_HOURS), len(MEASURE_LIST),
                  feature_index("hr_last"), feature_index("sbp_last"), feature_index("dbp_last"),
                  feature_index("bun_last"), feature_index("creatinine_last"), len(VITAL_MEASURES), len(LAB_MEASURES),
                  *(MEASURE_INDEX[m] for m, _ in VITAL_MEASURES), *(MEASURE_INDEX[m] for m, _ in LAB_MEASURES)],
                 dtype=np.int64)
_SIGNAL_INDEX = np.array(SIGNAL_INDEX, dtype=np.int64)

# ---------------------------------------------------------------- tree kernels


@kernel
def _step(x: np.ndarray, split: np.ndarray, value: np.ndarray, children: np.ndarray, node: int) -> int:
    """One level down from `node` (a leaf maps to itself): left when `x[feature] <= threshold`, except that a
    value the split treats as missing (NaN; for a "Zero" split also |v| <= kZeroThreshold) takes the split's
    missing side. Branch-free on purpose: the comparisons feed an index, because the outcome is unpredictable
    (many features are NaN) and a mispredicted branch per level cost ~2x."""
    word = split[node]
    v = x[word >> 2]
    flag = np.int64(word & 3)
    missing = np.int64(v != v) | ((flag >> 1) & np.int64(v >= -_ZERO) & np.int64(v <= _ZERO))
    left = (np.int64(v <= value[node]) & (1 - missing)) | (missing & flag & 1)
    child: int = children[np.uint64(2 * node + 1 - left)]
    return child


@kernel
def _leaf(x: np.ndarray, split: np.ndarray, value: np.ndarray, children: np.ndarray, n_internal: int,
          node: int) -> int:
    """The leaf node (>= n_internal) that row `x` reaches from `node` (see `FlatTrees` for the layout)."""
    while node < n_internal:
        node = _step(x, split, value, children, node)
    return node


@kernel
def _leaves(x: np.ndarray, split: np.ndarray, value: np.ndarray, children: np.ndarray, roots: np.ndarray,
            n_internal: int, out: np.ndarray) -> None:
    """out[r] = the leaf node that row `x` reaches in tree r.

    Eight trees are walked side by side: their paths are independent, so the CPU overlaps their loads.
    (With the branch-free step and unsigned indices, which spare numba's negative-index wraparound code: the
    shipped 250 trees cost ~5 instead of 11.1 µs per row.)"""
    n = roots.shape[0]
    r = 0
    while r + 8 <= n:
        a, b, c, d = roots[r], roots[r + 1], roots[r + 2], roots[r + 3]
        e, f, g, h = roots[r + 4], roots[r + 5], roots[r + 6], roots[r + 7]
        while (a < n_internal or b < n_internal or c < n_internal or d < n_internal or e < n_internal
               or f < n_internal or g < n_internal or h < n_internal):
            a = _step(x, split, value, children, a)
            b = _step(x, split, value, children, b)
            c = _step(x, split, value, children, c)
            d = _step(x, split, value, children, d)
            e = _step(x, split, value, children, e)
            f = _step(x, split, value, children, f)
            g = _step(x, split, value, children, g)
            h = _step(x, split, value, children, h)
        out[r], out[r + 1], out[r + 2], out[r + 3] = a, b, c, d
        out[r + 4], out[r + 5], out[r + 6], out[r + 7] = e, f, g, h
        r += 8
    while r < n:
        out[r] = _leaf(x, split, value, children, n_internal, roots[r])
        r += 1


@kernel
def _margin(x: np.ndarray, split: np.ndarray, value: np.ndarray, children: np.ndarray, roots: np.ndarray,
            n_internal: int) -> float:
    """Sum of every tree's leaf value, in tree order from 0.0 (the generated `margin` function's order)."""
    leaves = np.empty(roots.shape[0], dtype=np.uint32)
    _leaves(x, split, value, children, roots, n_internal, leaves)
    s = 0.0
    for r in range(roots.shape[0]):
        s += value[leaves[r]]
    return s


@kernel
def _contributions(x: np.ndarray, split: np.ndarray, value: np.ndarray, children: np.ndarray, roots: np.ndarray,
                   n_internal: int, edge_change: np.ndarray, out: np.ndarray) -> None:
    """Tree-path contributions of row `x` into `out` (zeroed here): model._Explainer.contributions' sums.

    Per tree in tree order, the path `_leaf` takes, root first: out[feature of the split] += edge_change[2 node +
    side], the change of the expected value along that edge (`_edge_changes`: the explainer's floats). The
    additions into each feature run in the same order as the Python loop (no fastmath: numba keeps IEEE order),
    so every float is the same; a single-leaf tree has no edges (its value is in the bias). Walking the edges
    reads ~120 KB per model instead of the explainer's ~650 KB of per-leaf steps (cache misses dominated)."""
    for k in range(out.shape[0]):
        out[k] = 0.0
    for r in range(roots.shape[0]):
        node = roots[r]
        while node < n_internal:
            child = _step(x, split, value, children, node)
            side = 0 if child == children[2 * node] else 1
            out[split[node] >> 2] += edge_change[2 * node + side]
            node = child


@kernel
def _signal_sums(contributions: np.ndarray, signal_index: np.ndarray, sums: np.ndarray, first: np.ndarray) -> None:
    """Per signal, its features' non-zero contributions added in feature order from 0.0 (explain.top_signals'
    dict sums, the same floats) and the first such feature's index (-1: none)."""
    for s in range(sums.shape[0]):
        sums[s] = 0.0
        first[s] = -1
    for i in range(contributions.shape[0]):
        c = contributions[i]
        if c != 0.0:
            s = signal_index[i]
            if first[s] < 0:
                first[s] = i
            sums[s] += c


@kernel
def _score(data: np.ndarray, lengths: np.ndarray, now_s: int, plan: np.ndarray, tail: tuple[float, ...], x: np.ndarray,
           split: np.ndarray, value: np.ndarray, children: np.ndarray, roots: np.ndarray, n_internal: int) -> float:
    """Write `tail` (the score and context features) at the end of `x`, fill the window features and derived
    vitals and return the margin; NaN when the window features could not be computed exactly (the caller
    recomputes with the Python reference)."""
    start = x.shape[0] - len(tail)
    for k in range(len(tail)):
        x[start + k] = tail[k]
    if not window_features(data, lengths, now_s, plan, x):
        return np.nan
    margin: float = _margin(x, split, value, children, roots, n_internal)
    return margin


# ---------------------------------------------------------------- Python side


class FlatTrees(NamedTuple):
    """The ensemble as flat arrays for the kernels: nodes 0..n_internal-1 are the splits, the leaves follow
    (in tree order, so leaf node n_internal + j is the explainer's leaf j) and point to themselves.

    Per node: `split` = feature << 2 | bit 1 ("Zero" split) | bit 0 (a missing value goes left), 0 for a leaf;
    `value` (float64) = the threshold of a split, the value of a leaf; `children[2 node]` / `children[2 node
    + 1]` = left / right child. `roots`: one node per tree (a single-leaf tree's root is its leaf). Unsigned
    16-bit node and split words when the ensemble fits (the shipped one: 15,220 nodes, ~230 KB in all), else
    32-bit."""

    split: np.ndarray
    value: np.ndarray
    children: np.ndarray
    roots: np.ndarray
    n_internal: int


def _flatten(trees: Sequence[Tree]) -> FlatTrees:
    """The ensemble as `FlatTrees`, with LightGBM's missing-value rules as model.py compiles them: "NaN" splits
    send NaN the default_left way; "None" splits read NaN as 0.0, i.e. left when 0.0 <= threshold; "Zero"
    splits send NaN and |v| <= kZeroThreshold the default way."""
    n_internal = sum(len(tree.feature) for tree in trees)
    n_nodes = n_internal + sum(len(tree.leaf_value) for tree in trees)
    n_features = 1 + max((f for tree in trees for f in tree.feature), default=0)
    split_type = np.uint16 if n_features <= 0x3FFF else np.uint32
    node_type = np.uint16 if n_nodes <= 0xFFFF else np.uint32
    split = np.zeros(n_nodes, dtype=split_type)
    value = np.zeros(n_nodes, dtype=np.float64)
    children = np.zeros(2 * n_nodes, dtype=node_type)
    roots: list[int] = []
    node_base, leaf_base = 0, n_internal
    for tree in trees:
        def child(c: int, node_base: int = node_base, leaf_base: int = leaf_base) -> int:
            return node_base + c if c >= 0 else leaf_base + ~c

        for i, feature in enumerate(tree.feature):
            missing, default_left = tree.missing_type[i], tree.default_left[i]
            if missing in ("NaN", "Zero"):
                missing_left = default_left
            elif missing == "None":
                missing_left = tree.threshold[i] >= 0.0
            else:
                raise ValueError(f"tree split missing_type {missing!r} is not one of None, Zero, NaN")
            node = node_base + i
            split[node] = feature << 2 | (2 if missing == "Zero" else 0) | (1 if missing_left else 0)
            value[node] = tree.threshold[i]
            children[2 * node], children[2 * node + 1] = child(tree.left[i]), child(tree.right[i])
        for j, leaf_value in enumerate(tree.leaf_value):
            node = leaf_base + j
            children[2 * node] = children[2 * node + 1] = node
            value[node] = leaf_value
        roots.append(node_base if tree.feature else leaf_base)
        node_base += len(tree.feature)
        leaf_base += len(tree.leaf_value)
    return FlatTrees(split, value, children, np.array(roots, dtype=node_type), n_internal)


def _edge_changes(trees: Sequence[Tree]) -> np.ndarray:
    """Per split (FlatTrees numbering), the change of the expected value along its left and its right edge:
    [2 node] and [2 node + 1], by the expression of model._leaf_steps (the value after the split minus the
    value at the split), so the floats are the explainer's."""
    changes: list[float] = []
    for tree in trees:
        for i in range(len(tree.feature)):
            for c in (tree.left[i], tree.right[i]):
                after = tree.internal_value[c] if c >= 0 else tree.leaf_value[~c]
                changes.append(after - tree.internal_value[i])
    return np.array(changes, dtype=np.float64)


_POINTS = tuple((name, keys, (_NAN,) * len(keys))
                for name, keys in (("news2", NEWS2_PARAMETERS), ("sofa", SOFA_SYSTEMS), ("sirs", SIRS_CRITERIA)))


def compiled_tail(scores: Mapping[str, ScoreResult], sofa_baseline: int | None, context: RiskContext,
                  first_s: int | None, now_s: int) -> tuple[float, ...]:
    """The 27 score and context features (FEATURE_NAMES from score_news2 on), by extract_features' expressions.

    `first_s`: the earliest event time the window ever accepted (seconds since 2000), used when the context has
    no admission time; `now_s`: scoring time, event seconds since 2000. (One flat loop with a bound `append`:
    ~0.7 µs cheaper than helper calls per score.)"""
    get = scores.get
    out: list[float] = []
    append = out.append
    for name in SCORE_VALUES:
        result = get(name)
        append(_NAN if result is None or result.value is None else float(result.value))
    sofa_now = out[-2]
    append(sofa_now - sofa_baseline if sofa_baseline is not None and sofa_now == sofa_now else _NAN)
    for name, keys, unknown in _POINTS:
        result = get(name)
        if result is None:
            out += unknown
        else:
            pts = result.points
            for key in keys:
                append(float(pts[key]) if key in pts else _NAN)
    out += context_features(context, first_s, now_s)
    return tuple(out)


def context_features(context: RiskContext, first_s: int | None, now_s: int) -> tuple[float, float, float]:
    """(age in years, male 1/0, hours since admission), NaN when unknown, by extract_features' expressions; the
    window's first event time stands in for an unknown admission time."""
    admitted = context.admitted_s if context.admitted_s is not None else first_s
    return (_NAN if context.age_years is None else float(context.age_years),
            _NAN if context.male is None else (1.0 if context.male else 0.0),
            _NAN if admitted is None else max(now_s - admitted, 0) / _HOUR)


def reference_window(data: array[int], lengths: array[int], first_s: int | None) -> PatientWindow:
    """A `PatientWindow` over the same packed arrays (not copied): the Python reference then reads exactly the
    data the kernel read (the fallback, and tests)."""
    window = PatientWindow()
    window.data = data
    window.lengths = lengths
    window.first_s = first_s
    return window


def packed_features(data: array[int], lengths: array[int], now_s: int) -> np.ndarray:
    """The window features and derived vitals (the first 223 positions; the rest NaN) by the kernel, as a float64
    vector; OverflowError when the kernel would fall back to the Python reference (tests)."""
    x = np.full(_N_FEATURES, np.nan)
    exact = window_features(data, lengths, now_s, _PLAN, x)
    if not exact:
        raise OverflowError("the kernel falls back to the Python reference for this window (int64 bound)")
    return x


class CompiledRisk:
    """One model's trees as flat arrays plus the compiled kernels. `score(...) -> (features, margin)`,
    `contributions(features) -> (bias, contributions)`."""

    def __init__(self, model: RiskModel) -> None:
        self.model = model
        self.trees = _flatten(model.trees)
        self.fallbacks = 0  # scorings recomputed with the Python reference (int64 bound; expected: never)
        # Explanations: the Python explainer's bias, and per edge the change its per-leaf path steps add
        # (model.py `_Explainer`, `_leaf_steps`), so the compiled contributions add exactly its floats.
        explainer = model.prepare_explanations()
        if len(explainer.steps) != len(self.trees.value) - self.trees.n_internal:
            raise ValueError("explainer leaves do not match the flattened trees")  # a model.py change: never silent
        self.bias: float = explainer.bias
        self.edge_change = _edge_changes(model.trees)

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels for the packed window's types now."""
        data, lengths = array("i"), array("H", bytes(2 * len(MEASURE_LIST)))
        x, _ = self.score(data, lengths, None, {}, None, RiskContext(), 0)
        self.contributions(cast("Sequence[float]", x))  # a float64 vector indexes like a sequence

    def margin(self, x: Sequence[float]) -> float:
        """The margin of a full feature vector (FEATURE_NAMES order) by the compiled trees."""
        return float(_margin(np.asarray(x, dtype=np.float64), *self.trees))

    def contributions(self, x: Sequence[float]) -> tuple[float, list[float]]:
        """(bias, per-feature contributions) on the log-odds scale for a full feature vector (FEATURE_NAMES
        order): the same floats as `RiskModel.contributions` (tree-path attribution), by one native call.

        `x` is best the float64 vector `score` returns (no conversion); a list is converted first. The
        contributions come back as a Python list, so the explanation code downstream sees what it sees on the
        Python path."""
        vector = x if isinstance(x, np.ndarray) and x.dtype == np.float64 else np.asarray(x, dtype=np.float64)
        if vector.shape != (_N_FEATURES,):  # the kernel does not check bounds: never read past the vector
            raise ValueError(f"contributions: a feature vector of {_N_FEATURES} values expected, got {vector.shape}")
        out = np.empty(_N_FEATURES)
        _contributions(vector, *self.trees, self.edge_change, out)
        return self.bias, out.tolist()

    def signal_sums(self, x: np.ndarray) -> tuple[list[float], list[int]]:
        """Per clinical signal (explain.SIGNALS), the sum of its features' contributions for feature vector `x`
        (float64) and the index of its first contributing feature: what explain.top_signals_from_sums ranks."""
        contributions = np.empty(_N_FEATURES)
        _contributions(x, *self.trees, self.edge_change, contributions)
        sums = np.empty(len(SIGNALS))
        first = np.empty(len(SIGNALS), dtype=np.int64)
        _signal_sums(contributions, _SIGNAL_INDEX, sums, first)
        return sums.tolist(), first.tolist()

    def score(self, data: array[int], lengths: array[int], first_s: int | None, scores: Mapping[str, ScoreResult],
              sofa_baseline: int | None, context: RiskContext, now_s: int) -> tuple[np.ndarray | list[float], float]:
        """(feature vector, margin) at event time `now_s` (seconds since 2000) from the packed window.

        `data` is array('i') and `lengths` array('H') (numba reads them through the buffer protocol, cheaper than
        wrapping them in numpy arrays first). Same floats as extract_features + RiskModel.margin; in the
        (never expected) int64 overflow case, they are what the reference returns."""
        tail = compiled_tail(scores, sofa_baseline, context, first_s, now_s)
        x = np.empty(_N_FEATURES)
        margin = _score(data, lengths, now_s, _PLAN, tail, x, *self.trees)
        if margin != margin:
            self.fallbacks += 1
            ref = extract_features(reference_window(data, lengths, first_s), scores, sofa_baseline, context, now_s)
            return ref, self.model.margin(ref)
        return x, margin
