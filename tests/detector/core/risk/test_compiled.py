"""The numba fast path (detector/core/risk/compiled.py) gives the reference's floats exactly.

Reference = features.extract_features + RiskModel.margin (the generated Python). Every comparison is `==` on
floats, NaN equal to NaN, for the whole feature vector, the margin and the calibrated probability:
random windows (hypothesis), windows that could overflow int64 (fallback), random trees with every
missing-value rule, and real PhysioNet stays replayed through the engine with the shipped config.
The compiled explanation (`CompiledRisk.contributions`) is checked the same way against RiskModel.contributions
(the Python explainer) and contributions_reference (the tree walk): bias and every contribution `==`, then the
top signals and explanation text of a RiskResult from `score` equal those from `score_reference`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core.config import DEFAULT_RISK_MODEL_PATH, INSTALL_ROOT, load_config
from detector.core.engine import DetectorEngine
from detector.core.risk import RiskContext, RiskScorer
from detector.core.risk.compiled import (
    CompiledRisk,
    _contributions,
    _edge_changes,
    _flatten,
    _margin,
    _signal_sums,
    packed_features,
    reference_window,
)
from detector.core.risk.explain import SIGNAL_INDEX, SIGNALS, top_signals, top_signals_from_sums
from detector.core.risk.features import (
    FEATURE_NAMES,
    LAB_MEASURES,
    NEWS2_PARAMETERS,
    SCORE_VALUES,
    SIRS_CRITERIA,
    SOFA_SYSTEMS,
    VITAL_MEASURES,
    extract_features,
)
from detector.core.risk.model import Tree, _compile, _Explainer
from detector.core.risk.serving import RiskServing
from detector.core.scores import ScoreResult
from detector.core.scores.inputs import make_result
from detector.core.window import MEASURE_INDEX, MEASURE_LIST, VALUE_SCALE, PatientWindow
from evaluation.dataset import list_patient_files
from evaluation.physionet import admit_event, hour_messages, read_psv
from evaluation.replay import DEFAULT_BASE_TIME
from schemas.measures import Measure

SHIPPED = INSTALL_ROOT / DEFAULT_RISK_MODEL_PATH
SAMPLE = INSTALL_ROOT / "tests" / "learning" / "data" / "physionet_sample"
H = 3600
NOW = 600_000_000  # seconds since 2000 (2019)
FEATURE_SLOTS = [MEASURE_INDEX[m] for m, _ in VITAL_MEASURES + LAB_MEASURES]


def _same(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def scorer() -> RiskScorer:
    scorer = RiskScorer.load(SHIPPED)
    scorer.prepare_compiled()
    return scorer


def _assert_same_result(scorer: RiskScorer, window: PatientWindow, scores: Mapping[str, ScoreResult],
                        baseline: int | None, context: RiskContext, now_s: int) -> None:
    expected = scorer.score_reference(window, scores, baseline, context, now_s)
    got = scorer.score(window, scores, baseline, context, now_s)
    assert _same(list(got.features), expected.features), [
        (FEATURE_NAMES[i], a, b) for i, (a, b) in enumerate(zip(got.features, expected.features, strict=True))
        if not (a == b or (math.isnan(a) and math.isnan(b)))]
    assert got.margin == expected.margin
    assert got.probability == expected.probability


# ----------------------------------------------------------------------------- random windows

# Steps between values: same second (duplicates of a time), minutes, hours, and jumps over the span borders.
_steps = st.sampled_from([0, 0, 1, 60, 1800, 3599, 3600, 3601, 7200, 6 * H, 12 * H, 20 * H])
_values = st.one_of(st.integers(-50 * VALUE_SCALE, 2000 * VALUE_SCALE),  # includes negatives (base excess)
                    st.sampled_from([0, 1, -1, 300 * VALUE_SCALE, -40 * VALUE_SCALE]))
_hashes = st.integers(-(2**31), 2**31 - 1)


@st.composite
def _series(draw: st.DrawFn) -> array:
    """One slot's triples, sorted by (t, hash) as the window keeps them; may reach past `NOW` (the future)."""
    count = draw(st.integers(1, 40))
    t = NOW - draw(st.integers(0, 30 * H))
    triples = []
    for _ in range(count):
        triples.append((t, draw(_values), draw(_hashes)))
        t += draw(_steps)
    triples.sort(key=lambda tr: (tr[0], tr[2]))
    return array("i", [v for tr in triples for v in tr])


@st.composite
def _windows(draw: st.DrawFn) -> PatientWindow:
    window = PatientWindow()
    slots = draw(st.sets(st.sampled_from(range(len(MEASURE_LIST))), max_size=12)
                 | st.sets(st.sampled_from(FEATURE_SLOTS), max_size=len(FEATURE_SLOTS)))
    for slot in slots:
        window.set_measure(slot, draw(_series()))
    held = [window.data[window.span(slot)[0]] for slot in slots]
    window.first_s = min(held) if held else None
    return window


_NAMES_POINTS = {"news2": NEWS2_PARAMETERS, "sofa": SOFA_SYSTEMS, "sirs": SIRS_CRITERIA}


@st.composite
def _scores(draw: st.DrawFn) -> dict[str, ScoreResult]:
    out: dict[str, ScoreResult] = {}
    for name in draw(st.sets(st.sampled_from(SCORE_VALUES))):
        value = draw(st.one_of(st.none(), st.integers(0, 24), st.floats(0, 3, allow_nan=False)))
        keys = _NAMES_POINTS.get(name, ())
        points = {k: draw(st.integers(0, 4)) for k in draw(st.sets(st.sampled_from(keys))) } if keys else {}
        out[name] = make_result(name, value, None, points, (), (), "")
    return out


_contexts = st.builds(RiskContext, st.one_of(st.none(), st.floats(15, 100)), st.one_of(st.none(), st.booleans()),
                      st.one_of(st.none(), st.integers(NOW - 200 * H, NOW + H)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=_windows(), scores=_scores(), baseline=st.one_of(st.none(), st.integers(0, 10)), context=_contexts,
       now_offset=st.sampled_from([0, 0, -1, -H, 1, 5 * H]))
def test_random_windows_give_the_reference_features_margin_and_probability(
        scorer: RiskScorer, window: PatientWindow, scores: dict[str, ScoreResult], baseline: int | None,
        context: RiskContext, now_offset: int) -> None:
    _assert_same_result(scorer, window, scores, baseline, context, NOW + now_offset)


def test_empty_window_and_single_values(scorer: RiskScorer) -> None:
    window = PatientWindow()
    _assert_same_result(scorer, window, {}, None, RiskContext(), NOW)
    for slot in FEATURE_SLOTS:
        window.set_measure(slot, array("i", [NOW - 2 * H, 123_4567, 7]))
    window.first_s = NOW - 2 * H
    _assert_same_result(scorer, window, {}, 3, RiskContext(70.0, True, None), NOW)
    _assert_same_result(scorer, window, {}, 3, RiskContext(70.0, False, NOW - 30 * H), NOW - 3 * H)  # all future


def test_lengths_that_do_not_describe_data_fall_back_instead_of_reading_out_of_bounds() -> None:
    window = PatientWindow()
    window.set_measure(MEASURE_INDEX[Measure.HEART_RATE], array("i", [NOW, 80 * VALUE_SCALE, 1]))
    assert packed_features(window.data, window.lengths, NOW)[0] == 80.0
    short = array("i", window.data[:2])
    with pytest.raises(OverflowError):
        packed_features(short, window.lengths, NOW)
    with pytest.raises(OverflowError):
        packed_features(window.data, array("H", window.lengths[:-1]), NOW)
    same = reference_window(window.data, window.lengths, 5)
    assert same.data is window.data and same.lengths is window.lengths and same.first_s == 5


# ----------------------------------------------------------------------------- int64 bound: fall back

def _huge_heart_rate_window(values: int) -> PatientWindow:
    """Values spread over 24 h, rising from -2e9 to 2e9 (not plausible, but int32): int64 sums could overflow."""
    window = PatientWindow()
    step = 86_000 // values
    low, high = -2_000_000_000, 2_000_000_000
    triples = []
    for k in range(values):
        triples += [NOW - 86_000 + k * step, low + (high - low) // (values - 1) * k, k]
    window.set_measure(MEASURE_INDEX[Measure.HEART_RATE], array("i", triples))
    window.first_s = triples[0]
    return window


def test_a_window_beyond_the_int64_bound_falls_back_to_the_reference(scorer: RiskScorer) -> None:
    window = _huge_heart_rate_window(300)
    with pytest.raises(OverflowError):
        packed_features(window.data, window.lengths, NOW)
    compiled = scorer.prepare_compiled()
    before = compiled.fallbacks
    _assert_same_result(scorer, window, {}, None, RiskContext(), NOW)
    assert compiled.fallbacks == before + 1


def test_the_bound_is_not_hit_by_plausible_values_at_the_configured_cap(scorer: RiskScorer) -> None:
    """288 values (the default cap) of 300/min over 24 h, alternating high and low: the worst plausible vital."""
    window = PatientWindow()
    cap = load_config(None).window.max_entries_per_measure
    triples = []
    for k in range(cap):
        triples += [NOW - 86_399 + k * (86_399 // cap), (300 if k % 2 else 0) * VALUE_SCALE, k]
    window.set_measure(MEASURE_INDEX[Measure.HEART_RATE], array("i", triples))
    window.first_s = triples[0]
    packed = packed_features(window.data, window.lengths, NOW)  # would raise OverflowError if the kernel fell back
    reference = extract_features(window, {}, None, RiskContext(), NOW)
    assert _same(list(packed[:223]), reference[:223])
    compiled = scorer.prepare_compiled()
    before = compiled.fallbacks
    _assert_same_result(scorer, window, {}, None, RiskContext(), NOW)
    assert compiled.fallbacks == before


# ----------------------------------------------------------------------------- trees: every missing-value rule

_ZERO = 1e-35
_thresholds = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 1e-36, -1e-36, _ZERO, 1e300])
_x_values = st.sampled_from([math.nan, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 1e-36, -1e-36, _ZERO, -_ZERO, 3.0, -7.0,
                             math.inf, -math.inf])


@st.composite
def _tree(draw: st.DrawFn) -> Tree:
    """A random binary tree over features 0..5 (LightGBM numbering: internal 0..n-1, leaves as ~index)."""
    internal = draw(st.integers(0, 12))
    if internal == 0:
        return Tree((), (), (), (), (), (), (), (draw(st.floats(-2, 2)),))
    left: list[int] = [0] * internal
    right: list[int] = [0] * internal
    free = [(0, "l"), (0, "r")]  # open child slots; nodes 1.. are attached to random open slots
    for node in range(1, internal):
        parent, side = free.pop(draw(st.integers(0, len(free) - 1)))
        (left if side == "l" else right)[parent] = node
        free += [(node, "l"), (node, "r")]
    for leaf, (parent, side) in enumerate(free):
        (left if side == "l" else right)[parent] = ~leaf
    n = internal
    return Tree(tuple(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))),
                tuple(draw(st.lists(_thresholds, min_size=n, max_size=n))),
                tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
                tuple(draw(st.lists(st.sampled_from(["None", "Zero", "NaN"]), min_size=n, max_size=n))),
                tuple(left), tuple(right), tuple([0.0] * n),
                tuple(draw(st.lists(st.floats(-2, 2), min_size=len(free), max_size=len(free)))))


@settings(max_examples=200, deadline=None)
@given(trees=st.lists(_tree(), min_size=1, max_size=20),  # >= 8: the side-by-side walk too
       rows=st.lists(st.lists(_x_values, min_size=6, max_size=6), min_size=1, max_size=8))
def test_random_trees_sum_the_same_leaves_as_the_generated_code(trees: list[Tree], rows: list[list[float]]) -> None:
    generated = _compile(trees)
    flat = _flatten(trees)
    for row in rows:
        expected = generated(row)
        assert _margin(np.array(row), *flat) == expected
        assert expected == sum(tree.predict(row) for tree in trees)  # the generated code is itself the walk


@settings(max_examples=200, deadline=None)
@given(trees=st.lists(_tree(), min_size=1, max_size=20),  # >= 8: the side-by-side walk too
       rows=st.lists(st.lists(_x_values, min_size=6, max_size=6), min_size=1, max_size=8))
def test_random_trees_give_the_python_explainers_contributions(trees: list[Tree], rows: list[list[float]]) -> None:
    """Every missing-value rule, single-leaf trees, repeated features on a path: the kernel adds the explainer's
    steps in its order, so each per-feature sum is the same float (not just close)."""
    explainer = _Explainer(trees)
    flat = _flatten(trees)
    changes = _edge_changes(trees)
    for row in rows:
        expected = explainer.contributions(row, 6)
        out = np.full(6, math.nan)  # the kernel must overwrite every position
        _contributions(np.array(row), *flat, changes, out)
        assert out.tolist() == expected


def test_shipped_trees_on_feature_vectors_at_their_thresholds(scorer: RiskScorer) -> None:
    """Every split of the shipped model gets its own threshold, a value just above, NaN and 0 (per feature)."""
    model = scorer.model
    compiled = scorer.prepare_compiled()
    rng = np.random.default_rng(8)
    by_feature: dict[int, list[float]] = {}
    for tree in model.trees:
        for f, t in zip(tree.feature, tree.threshold, strict=True):
            by_feature.setdefault(f, []).extend([t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)])
    for _ in range(300):
        row = [math.nan] * len(FEATURE_NAMES)
        for f, candidates in by_feature.items():
            pick = rng.integers(0, len(candidates) + 2)
            row[f] = candidates[pick] if pick < len(candidates) else (math.nan if pick == len(candidates) else 0.0)
        assert compiled.margin(row) == model.margin(row) == model.margin_reference(row)


def _assert_same_contributions(compiled: CompiledRisk, row: Sequence[float]) -> None:
    """Compiled == Python explainer == tree walk: the bias and every contribution, as the same floats."""
    model = compiled.model
    bias, contributions = compiled.contributions(row)
    expected_bias, expected = model.contributions(list(row))
    assert type(bias) is float and type(contributions) is list and len(contributions) == len(FEATURE_NAMES)
    assert bias == expected_bias and contributions == expected, [
        (FEATURE_NAMES[i], a, b) for i, (a, b) in enumerate(zip(contributions, expected, strict=True)) if a != b]
    assert model.contributions_reference(list(row)) == (bias, contributions)
    assert compiled.contributions(np.asarray(row, dtype=np.float64)) == (bias, contributions)  # list or vector


def test_shipped_contributions_on_random_vectors_with_nan_zero_and_thresholds(scorer: RiskScorer) -> None:
    """Random vectors mixing each feature's split thresholds (and the floats just beside them), NaN, 0, -0 and
    random values: the path through every tree (hence its leaf and its steps) varies at every split."""
    compiled = scorer.prepare_compiled()
    rng = np.random.default_rng(13)
    by_feature: dict[int, list[float]] = {}
    for tree in scorer.model.trees:
        for f, t in zip(tree.feature, tree.threshold, strict=True):
            by_feature.setdefault(f, []).extend([t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)])
    special = [math.nan, 0.0, -0.0, 1e-36, math.inf, -math.inf]
    for _ in range(200):
        row = rng.normal(0, 50, len(FEATURE_NAMES)).tolist()
        for f in range(len(FEATURE_NAMES)):
            pick = rng.random()
            if pick < 0.3:
                row[f] = special[rng.integers(0, len(special))]
            elif pick < 0.8 and f in by_feature:
                row[f] = by_feature[f][rng.integers(0, len(by_feature[f]))]
        _assert_same_contributions(compiled, row)
    for constant in (math.nan, 0.0):
        _assert_same_contributions(compiled, [constant] * len(FEATURE_NAMES))
    with pytest.raises(ValueError, match="feature vector"):
        compiled.contributions([0.0] * (len(FEATURE_NAMES) - 1))  # never read past the vector


# ----------------------------------------------------------------------------- the artifact and explanations

def test_shipped_artifact_loads_compiles_and_explains_the_same(scorer: RiskScorer) -> None:
    compiled = scorer.prepare_compiled()
    assert isinstance(compiled, CompiledRisk) and scorer.prepare_compiled() is compiled
    assert compiled.trees.n_internal == sum(len(t.feature) for t in scorer.model.trees)
    window = PatientWindow()
    rows = {Measure.HEART_RATE: 128, Measure.RESPIRATORY_RATE: 30, Measure.LACTATE: 4.2, Measure.SYSTOLIC_BP: 88,
            Measure.DIASTOLIC_BP: 50, Measure.TEMPERATURE: 39.1}
    for measure, value in rows.items():
        triples = [(NOW - (11 - hour) * H, round(value * (0.8 + hour / 50) * VALUE_SCALE), hour) for hour in range(12)]
        window.set_measure(MEASURE_INDEX[measure], array("i", [v for triple in triples for v in triple]))
    window.first_s = NOW - 11 * H
    scores = {"news2": make_result("news2", 9, "high", {"rr": 3, "hr": 2}, (), (), ""),
              "sofa": make_result("sofa", 4, None, {"cardiovascular": 1}, (), (), "")}
    context = RiskContext(71.0, True, NOW - 20 * H)
    expected = scorer.score_reference(window, scores, 1, context, NOW)
    got = scorer.score(window, scores, 1, context, NOW)
    assert isinstance(got.features, np.ndarray) and got.features.dtype == np.float64
    assert got.margin == expected.margin and got.probability == expected.probability
    assert got._contributions == compiled.contributions and expected._contributions is None  # which explainer
    assert got.top_contributions == expected.top_contributions and got.top_contributions
    assert got.explanation == expected.explanation and got.explanation
    assert got.as_score_result().band == expected.as_score_result().band


# ----------------------------------------------------------------------------- real stays through the engine

class _ComparingScorer(RiskScorer):
    """Serves the reference and checks the compiled path against it at every scoring the engine makes."""

    def __init__(self, model: RiskScorer) -> None:
        super().__init__(model.model)
        self._compiled = model.prepare_compiled()
        self.checked = 0

    def score(self, window, scores, sofa_baseline, context, now_s):  # type: ignore[no-untyped-def, override]
        expected = self.score_reference(window, scores, sofa_baseline, context, now_s)
        got = super().score(window, scores, sofa_baseline, context, now_s)
        assert _same(list(got.features), expected.features), now_s
        assert got.margin == expected.margin and got.probability == expected.probability, now_s
        # the explanation: the compiled kernel on the packed result's vector vs the Python explainer on the list
        assert self._compiled is not None
        assert self._compiled.contributions(got.features) == self.model.contributions(expected.features), now_s
        assert got.top_contributions == expected.top_contributions, now_s
        assert got.explanation == expected.explanation, now_s
        self.checked += 1
        return expected


def test_real_physionet_stays_match_at_every_scoring(scorer: RiskScorer) -> None:
    config = load_config(None)
    comparing = _ComparingScorer(scorer)
    fallbacks = comparing.prepare_compiled().fallbacks
    stays = list_patient_files(SAMPLE)[:12]
    assert len(stays) == 12
    for path in stays:
        record = read_psv(path)
        engine = DetectorEngine(config)
        assert engine.risk is not None
        engine.risk = RiskServing(comparing, engine.risk.levels)
        engine.process(admit_event(record, DEFAULT_BASE_TIME))
        for message in hour_messages(record, DEFAULT_BASE_TIME):
            for obs in message.observations:
                engine.process(obs)
    assert comparing.checked > 300
    assert comparing.prepare_compiled().fallbacks == fallbacks  # real data never needs the reference


@settings(max_examples=200, deadline=None)
@given(contributions=st.lists(st.sampled_from([0.0, -0.0, 0.25, 0.5, 1.0, -1.0, 0.1, 0.2, 0.30000000000000004]),
                              min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)))
def test_signal_sums_rank_the_signals_as_the_python_explainer(contributions: list[float]) -> None:
    """Few distinct values: equal sums (ordered by the signal's first contributing feature), zeros and -0.0 (not
    counted), sums whose float depends on the addition order."""
    x = [float(i) for i in range(len(FEATURE_NAMES))]
    sums = np.empty(len(SIGNALS))
    first = np.empty(len(SIGNALS), dtype=np.int64)
    _signal_sums(np.array(contributions), np.array(SIGNAL_INDEX, dtype=np.int64), sums, first)
    assert (top_signals_from_sums(x, sums.tolist(), first.tolist(), limit=5)
            == top_signals(x, contributions, limit=5))
