"""The numba window scans (detector/core/timing_compiled.py) give exactly what timing's Python scans give.

Oracle: `timing._select_reference` (the Python scans). For random windows and random timing configs, the
compiled `select_inputs` must return an equal `SelectedInputs` with the same `repr` (so the same float bits,
int-vs-float types and ACVPU letters) and the same insertion order in every `*_times` dict. Windows are drawn
with few distinct times and values, so ties (newest wins), SBP/DBP/MAP readings at the same time, values at the
window edges and carried-forward values are common; pressures with 4 decimals produce derived-MAP near-ties,
where the kernel must hand back to the reference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core import timing
from detector.core.config import TimingConfig
from detector.core.infection import CARE_KIND_CODE, NO_CODE, CareLog
from detector.core.timing import SelectedInputs, _scan_params, _select_reference, select_inputs
from detector.core.timing_compiled import O_LEN, window_scans
from detector.core.window import MEASURE_INDEX, PatientWindow, source_hash
from schemas.care_event import CareEventKind
from schemas.measures import Measure

H, M = 3600, 60
NOW = 100 * H

# measure -> values to draw from (few levels: ties); None = any value in the range with 4 decimals
_VALUES: dict[Measure, tuple[float, ...] | tuple[float, float, None]] = {
    Measure.HEART_RATE: (60.0, 90.0, 91.0, 130.0),
    Measure.RESPIRATORY_RATE: (12.0, 20.0, 22.0, 30.0),
    Measure.TEMPERATURE: (35.5, 36.0, 37.0, 38.4),
    Measure.SYSTOLIC_BP: (85.0, 100.0, 120.0, 100.025, 80.0, 200.0, None),
    Measure.DIASTOLIC_BP: (40.0, 60.0, 80.0, 30.0, 120.0, None),
    Measure.MEAN_BP: (60.0, 65.0, 90.0),
    Measure.SPO2: (88.0, 94.0, 98.0),
    Measure.CONSCIOUSNESS: (0.0, 1.0, 2.0, 4.0),
    Measure.ON_OXYGEN: (0.0, 0.5, 1.0),
    Measure.O2_FLOW: (0.0, 2.0, 15.0),
    Measure.FIO2: (0.21, 0.2101, 0.4, 1.0),
    Measure.SPO2_SCALE: (1.0, 2.0, 2.0001),
    Measure.WBC: (3.5, 4.0, 12.0, 12.5),
    Measure.BANDS: (5.0, 11.0),
    Measure.LACTATE: (1.0, 2.0, 4.5),
    Measure.CREATININE: (0.8, 2.0, 3.5),
    Measure.BILIRUBIN: (0.5, 6.0),
    Measure.PLATELETS: (20.0, 150.0, 151.0),
    Measure.PACO2: (31.0, 40.0),
    Measure.INR: (1.0, 1.6),
    Measure.APTT: (30.0, 61.0),
    Measure.GCS: (3.0, 6.0, 8.0, 10.0, 12.0, 13.0, 14.0, 15.0),  # every SOFA CNS and qSOFA boundary
    Measure.GCS_EYE: (2.0, 4.0),
    Measure.GCS_VERBAL: (3.0, 5.0),
    Measure.GCS_MOTOR: (4.0, 6.0),
    Measure.RESP_SUPPORT: (0.0, 0.5, 1.0),
    Measure.PAO2: (21.0, 42.0, 60.0, 63.0, 84.0, 90.0, 160.0),  # P/F 100/200/300/400 on room air
    Measure.URINE_OUTPUT: (50.0, 199.0, 200.0, 300.0, 499.0, 500.0),
}
_RANGES = {Measure.SYSTOLIC_BP: (60.0, 220.0), Measure.DIASTOLIC_BP: (25.0, 130.0)}


@st.composite
def _values(draw: st.DrawFn, measure: Measure) -> float:
    value = draw(st.sampled_from(_VALUES[measure]))
    if value is None:  # 4 decimals: derived MAPs include near-ties that round2_fast defers to Decimal
        low, high = _RANGES[measure]
        value = draw(st.integers(int(low * 10_000), int(high * 10_000))) / 10_000
    return value


# times: a coarse grid, mostly the last 8 h (so measures share times: SBP/DBP/MAP readings, ties), plus the
# edges of the default spans
_OFFSETS = st.one_of(st.integers(-2, 8 * 4).map(lambda q: q * 15 * M),
                     st.integers(-2, 30 * 4).map(lambda q: q * 15 * M),
                     st.sampled_from([0, 1, 15 * M, 15 * M + 1, 4 * H, 4 * H + 1, 6 * H, 6 * H + 1, 12 * H,
                                      12 * H + 1, 24 * H, 24 * H + 1, 26 * H]))


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[int, Measure, float]]:
    measures = draw(st.lists(st.sampled_from(list(_VALUES)), min_size=1, max_size=12, unique=True))
    times = draw(st.lists(_OFFSETS, min_size=1, max_size=10, unique=True))  # shared by the measures
    rows = []
    for measure in measures:
        for offset in draw(st.lists(st.one_of(st.sampled_from(times), _OFFSETS), min_size=1, max_size=8)):
            rows.append((NOW - offset, measure, draw(_values(measure))))
    # blood-pressure readings (SBP and DBP at one time, sometimes a measured MAP): the derived-MAP merge, with
    # repeated readings (ties: the newest wins)
    pairs = draw(st.lists(st.tuples(_values(Measure.SYSTOLIC_BP), _values(Measure.DIASTOLIC_BP)), min_size=1,
                          max_size=3))
    for offset in draw(st.lists(st.sampled_from(times), max_size=8, unique=True)):
        sbp, dbp = draw(st.sampled_from(pairs))
        rows += [(NOW - offset, Measure.SYSTOLIC_BP, sbp), (NOW - offset, Measure.DIASTOLIC_BP, dbp)]
        if draw(st.integers(0, 3)) == 0:
            rows.append((NOW - offset, Measure.MEAN_BP, draw(_values(Measure.MEAN_BP))))
    return rows


_CONFIGS = st.builds(
    TimingConfig,
    observation_set_minutes=st.sampled_from([15.0, 1.0, 60.0]),
    carry_forward_hours=st.sampled_from([4.0, 0.0, 12.0]),
    criteria_window_hours=st.sampled_from([6.0, 1.0, 24.0]),
    shock_index_pair_minutes=st.sampled_from([15.0, 120.0]),
    sofa_lab_window_hours=st.sampled_from([24.0, 2.0, 48.0]),  # 2 h < the criteria window: the other split order
    lactate_window_hours=st.sampled_from([6.0, 0.5]),
    vital_stale_hours=st.sampled_from([12.0, 3.0, 48.0]),
    lab_stale_hours=st.sampled_from([24.0, 5.0, 72.0]),
)


def _window(rows: list[tuple[int, Measure, float]]) -> PatientWindow:
    window = PatientWindow()
    for i, (t, measure, value) in enumerate(rows):
        window.add(MEASURE_INDEX[measure], t, value, source_hash(f"r{i}"), length_s=60 * H, grace_s=60 * H,
                   max_entries=288)
    return window


def _ventilation(hours_ago: float, kind: CareEventKind) -> CareLog:
    log = CareLog()
    log.add((NOW - int(hours_ago * H), CARE_KIND_CODE[kind], 1, NO_CODE, NO_CODE, NO_CODE), 32)
    return log


def _assert_same(compiled: SelectedInputs, reference: SelectedInputs) -> None:
    assert compiled == reference
    assert repr(compiled) == repr(reference)  # float bits, int vs float, letters
    for field in ("set_times", "criteria_times", "sofa_times"):  # insertion order too
        assert list(getattr(compiled, field).items()) == list(getattr(reference, field).items())


@pytest.fixture
def compiled_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "USE_COMPILED_SCANS", True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(), config=_CONFIGS, now_shift=st.sampled_from([0, -1, -15 * M, -6 * H]),
       care=st.sampled_from([None, (1.0, CareEventKind.VENTILATION_STARTED), (3.0, CareEventKind.VENTILATION_STOPPED)]),
       weight=st.sampled_from([None, 80.0]))
def test_compiled_select_equals_the_python_scans(rows: list[tuple[int, Measure, float]], config: TimingConfig,
                                                 now_shift: int, care: tuple[float, CareEventKind] | None,
                                                 weight: float | None) -> None:
    window = _window(rows)
    log = CareLog() if care is None else _ventilation(*care)
    now_s = NOW + now_shift  # also scorings with newer values in the window (replayed / late arrivals)
    reference = _select_reference(window, log, now_s, config, weight)
    assert timing.USE_COMPILED_SCANS  # the default: select_inputs runs the kernel (or falls back on a near-tie)
    _assert_same(select_inputs(window, log, now_s, config, weight), reference)


def test_derived_map_near_tie_goes_to_the_reference(compiled_scans: None) -> None:
    # (100.025 + 2 x 80) / 3 = 86.675: a half-way case that round2_fast hands to Decimal; the kernel gives up
    rows = [(NOW - H, Measure.SYSTOLIC_BP, 100.025), (NOW - H, Measure.DIASTOLIC_BP, 80.0),
            (NOW, Measure.HEART_RATE, 80.0)]
    window, config = _window(rows), TimingConfig()
    assert window_scans(window.data, window.lengths, NOW, _scan_params(config)) is None
    selected = select_inputs(window, CareLog(), NOW, config)
    _assert_same(selected, _select_reference(window, CareLog(), NOW, config))
    assert selected.criteria.map == 86.68  # half-up on the decimal repr (clinical-scores.md §0)


def test_scans_report_what_the_kernel_found(compiled_scans: None) -> None:
    rows = [(NOW - 2 * H, Measure.HEART_RATE, 120.0), (NOW - H, Measure.HEART_RATE, 80.0),
            (NOW - H, Measure.SYSTOLIC_BP, 120.0), (NOW - H, Measure.DIASTOLIC_BP, 60.0),
            (NOW - 3 * H, Measure.MEAN_BP, 70.0)]
    window = _window(rows)
    found = window_scans(window.data, window.lengths, NOW, _scan_params(TimingConfig()))
    assert found is not None and len(found) == O_LEN
    selected = select_inputs(window, CareLog(), NOW, TimingConfig())
    _assert_same(selected, _select_reference(window, CareLog(), NOW, TimingConfig()))
    assert (selected.criteria.hr, selected.criteria.map, selected.sofa.map) == (120.0, 70.0, 70.0)
    assert selected.observation_set.hr == 80.0 and selected.set_anchor_s == NOW - H


def test_the_python_path_stays_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(timing, "window_scans", lambda *args: calls.append(1))  # would break the compiled path
    monkeypatch.setattr(timing, "USE_COMPILED_SCANS", False)
    window = _window([(NOW, Measure.HEART_RATE, 80.0)])
    assert select_inputs(window, CareLog(), NOW, TimingConfig()).observation_set.hr == 80.0
    assert calls == []
