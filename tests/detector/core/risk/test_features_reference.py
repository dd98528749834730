"""The fast trend and lab features equal a by-definition reference on arbitrary windows (hypothesis).

The serving code (features._vital_features / _lab_features) is one backward pass with exact integer sums and
reads a span's count and oldest value from the scan position; the reference here filters the values of each
span and computes the least-squares slope from its textbook formula, in exact fractions. Any window, any
scoring time (also before some values, i.e. "never see the future") must give the same floats.
"""

from __future__ import annotations

import math
from array import array
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.risk.features import TREND_HOURS, _lab_features, _vital_features
from detector.core.window import VALUE_SCALE

H = 3600
T0 = 600_000_000  # seconds since 2000 (2019)


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def _points(series: array, now_s: int, hours: int) -> list[tuple[int, int]]:
    """(t, scaled value) of the window's values in [now - hours, now], oldest first."""
    return [(series[i], series[i + 1]) for i in range(0, len(series), 3) if now_s - hours * H <= series[i] <= now_s]


def _slope_per_hour(points: list[tuple[int, int]]) -> float:
    n = len(points)
    mean_t = Fraction(sum(t for t, _ in points), n)
    mean_v = Fraction(sum(v for _, v in points), n)
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if n < 2 or sxx == 0:
        return math.nan
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in points)
    # Same rounding as the serving code: the exact integers n*Sxy and n*Sxx, then (num * 3600) / (den * scale).
    num, den = sxy * n, sxx * n
    assert num.denominator == 1 and den.denominator == 1
    return int(num) * H / (int(den) * float(VALUE_SCALE))


def _vital_reference(series: array, now_s: int) -> list[float]:
    day = _points(series, now_s, 24)
    if not day:
        return [math.nan, math.nan, 0.0] + [math.nan] * 4 * len(TREND_HOURS)
    t_last, v_last = day[-1]
    out = [v_last / VALUE_SCALE, (now_s - t_last) / H, float(len(_points(series, now_s, 6)))]
    for hours in TREND_HOURS:
        span = _points(series, now_s, hours)
        if not span:
            out += [math.nan] * 4
            continue
        values = [v for _, v in span]
        out += [_slope_per_hour(span), (v_last - values[0]) / VALUE_SCALE, min(values) / VALUE_SCALE,
                max(values) / VALUE_SCALE]
    return out


def _lab_reference(series: array, now_s: int) -> list[float]:
    day = _points(series, now_s, 24)
    if not day:
        return [math.nan] * 5
    t_last, last = day[-1]
    values = [v for _, v in day]
    previous = (last - values[-2]) / VALUE_SCALE if len(values) > 1 else math.nan
    return [last / VALUE_SCALE, (now_s - t_last) / H, previous, min(values) / VALUE_SCALE, max(values) / VALUE_SCALE]


# Steps between values: same second (several values at one time), minutes, hours, and gaps over a span border.
_steps = st.sampled_from([0, 1, 60, 1800, 3599, 3600, 3601, 7200, 6 * H, 12 * H, 20 * H])
_values = st.integers(min_value=-50 * VALUE_SCALE, max_value=2000 * VALUE_SCALE)


@st.composite
def _series_and_now(draw: st.DrawFn) -> tuple[array, int]:
    steps = draw(st.lists(_steps, min_size=0, max_size=40))
    triples: list[tuple[int, int, int]] = []
    t = T0
    for i, step in enumerate(steps):
        t += step
        triples.append((t, draw(_values), i))
    series = array("i", [v for triple in sorted(triples) for v in triple])
    newest = triples[-1][0] if triples else T0
    # the newest time (the engine's case), a little before it, on span borders, or long after
    now_s = newest + draw(st.sampled_from([0, 0, -1, -H, -6 * H, -6 * H - 1, -12 * H, -24 * H, -24 * H - 1, 1,
                                           3 * H, 25 * H]))
    return series, now_s


def _inside_others(series: array, now_s: int) -> tuple[array, int, int]:
    """The measure's triples between other measures' triples in one array (the window's layout), with values
    at `now_s` that would change every feature if they were read."""
    before = array("i", [now_s, 999 * VALUE_SCALE, 1, now_s - H, -999 * VALUE_SCALE, 2])
    after = array("i", [now_s, -5 * VALUE_SCALE, 3])
    return before + series + after, len(before), len(before) + len(series)


@settings(max_examples=400, deadline=None)
@given(_series_and_now())
def test_vital_trend_features_equal_the_definition(case: tuple[array, int]) -> None:
    series, now_s = case
    assert _same(_vital_features(*_inside_others(series, now_s), now_s), _vital_reference(series, now_s))


@settings(max_examples=300, deadline=None)
@given(_series_and_now())
def test_lab_features_equal_the_definition(case: tuple[array, int]) -> None:
    series, now_s = case
    assert _same(_lab_features(*_inside_others(series, now_s), now_s), _lab_reference(series, now_s))


def test_slope_of_a_straight_line_is_exact() -> None:
    # 16, 20, 24, 28 at -6, -4, -2, 0 h: 2 per hour in every span that holds them
    series = array("i", [v for k, value in enumerate((16, 20, 24, 28))
                         for v in (T0 - (6 - 2 * k) * H, value * VALUE_SCALE, k)])
    out = _vital_features(series, 0, len(series), T0)
    assert out[:3] == [28.0, 0.0, 4.0]
    assert out[3:7] == [2.0, 12.0, 16.0, 28.0]
