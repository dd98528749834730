"""Inline SVG: the sparkline and the plot draw what they are given, escaped."""

from __future__ import annotations

from notifier.console.plots import ReferenceLine, line_plot, sparkline


def test_sparkline_needs_two_points_and_ends_on_the_last_value() -> None:
    assert sparkline([(0.0, 1.0)]) == ""
    svg = sparkline([(0.0, 0.0), (1.0, 1.0)], width=100, height=20, label="risk <6 h>")
    assert 'aria-label="risk &lt;6 h&gt;"' in svg
    assert 'points="2.0,17.0 98.0,3.0"' in svg and 'cx="98.0" cy="3.0"' in svg


def test_plot_draws_reference_lines_with_labels_and_escapes_the_title() -> None:
    svg = line_plot("<b>HR</b>", [(0.0, 80.0), (3600.0, 120.0)], [ReferenceLine(90, "SIRS >90")], unit="/min")
    assert "&lt;b&gt;HR&lt;/b&gt; (/min)" in svg and "<b>" not in svg
    assert svg.count('class="ref"') == 1 and "SIRS &gt;90" in svg
    assert svg.count("<circle") == 2
    assert line_plot("empty", []) == ""
