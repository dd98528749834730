"""Inline SVG drawn on the server: a sparkline for a worklist row, a small line plot with reference lines.

No JavaScript chart library and nothing fetched at run time: the page carries the picture. Pure
(strings in, SVG markup out); every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["ReferenceLine", "line_plot", "sparkline"]


@dataclass(frozen=True)
class ReferenceLine:
    """A horizontal line drawn across a plot (a threshold), with its label."""

    value: float
    label: str


def _scale(values: Sequence[float], low: float, high: float, size: float, pad: float, invert: bool) -> list[float]:
    span = (high - low) or 1.0
    out = [(v - low) / span * (size - 2 * pad) + pad for v in values]
    return [size - v for v in out] if invert else out


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def sparkline(points: Sequence[tuple[float, float]], width: int = 96, height: int = 24, label: str = "") -> Markup:
    """A polyline of (time, value) points, the last one dotted; an empty string for fewer than two points."""
    if len(points) < 2:
        return Markup("")
    times = [t for t, _ in points]
    values = [v for _, v in points]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    xs = _scale(times, min(times), max(times), width, 2, invert=False)
    ys = _scale(values, low, high, height, 3, invert=True)
    return Markup(
        f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{_path(xs, ys)}"/><circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2.5" fill="currentColor"/></svg>')


def line_plot(title: str, points: Sequence[tuple[float, float]], references: Sequence[ReferenceLine] = (),
              unit: str = "", width: int = 320, height: int = 120, step: bool = False) -> Markup:
    """A titled plot of (epoch seconds, value) with dashed reference lines; `step` draws levels as steps."""
    if not points:
        return Markup("")
    times = [t for t, _ in points]
    values = [v for _, v in points]
    bounds = values + [r.value for r in references]
    low, high = min(bounds), max(bounds)
    margin = (high - low) * 0.1 or 1.0
    low, high = low - margin, high + margin
    t0, t1 = min(times), max(times)
    if t1 == t0:
        t0, t1 = t0 - 1800, t1 + 1800
    xs = _scale(times, t0, t1, width, 30, invert=False)
    ys = _scale(values, low, high, height, 12, invert=True)
    if step and len(xs) > 1:
        sx, sy = [xs[0]], [ys[0]]
        for x, y in zip(xs[1:], ys[1:], strict=True):
            sx += [x, x]
            sy += [sy[-1], y]
        line_xs, line_ys = sx, sy
    else:
        line_xs, line_ys = xs, ys
    parts = [f'<svg class="plot" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<text x="2" y="10" class="plot-title">{escape(title)}{escape(" (" + unit + ")" if unit else "")}'
             f'</text>']
    for ref in references:
        (y,) = _scale([ref.value], low, high, height, 12, invert=True)
        parts.append(f'<line class="ref" x1="30" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke-dasharray="4 3"/>'
                     f'<text class="ref-label" x="{width - 4}" y="{y - 2:.1f}" text-anchor="end">'
                     f'{escape(ref.label)}</text>')
    parts.append(f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{_path(line_xs, line_ys)}"/>')
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="currentColor"><title>{v:.4g}</title></circle>'
              for x, y, v in zip(xs, ys, values, strict=True)]
    parts.append(f'<text class="axis" x="2" y="{ys[-1]:.1f}">{values[-1]:.3g}</text></svg>')
    return Markup("".join(parts))
