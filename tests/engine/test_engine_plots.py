"""engine.report.plots: figures that explain themselves (issue 19): near-perfect ROC and
PR curves get a zoomed inset of the corner they hug; the per-class bars' legend sits
above the axes, where it covers no class."""

from __future__ import annotations

import numpy as np
import pytest

from engine.report.plots import class_bars_figure, pr_figure, roc_figure

ROC_GOOD = (np.array([0, 0, 0.02, 1]), np.array([0, 0.95, 1, 1]), 0.99)
ROC_FAIR = (np.array([0, 0.3, 1]), np.array([0, 0.7, 1]), 0.70)
PR_GOOD = (np.array([0, 0.9, 1]), np.array([1, 1, 0.95]), 0.99)


@pytest.mark.parametrize(
    ("figure", "curves", "zoomed"),
    [
        (roc_figure, {"a": ROC_GOOD, "b": ROC_GOOD}, ((0.0, 0.2), (0.8, 1.005))),
        (roc_figure, {"a": ROC_GOOD, "b": ROC_FAIR}, None),  # one curve far from the corner
        (pr_figure, {"a": PR_GOOD}, ((0.8, 1.0), (0.8, 1.005))),
        (pr_figure, {"a": (*PR_GOOD[:2], None)}, None),  # no summary: no claim it is perfect
    ],
)
def test_near_perfect_curves_get_a_zoomed_inset(figure, curves, zoomed):
    ax = figure(curves).axes[0]
    assert ax.get_xlim()[0] < 0 and ax.get_ylim()[1] > 1  # a margin past the unit square
    if zoomed is None:
        assert not ax.child_axes
        return
    (inset,) = ax.child_axes
    assert inset.get_xlim() == pytest.approx(zoomed[0]) and inset.get_ylim() == pytest.approx(
        zoomed[1]
    )
    assert len(inset.lines) == len(curves)


def test_class_bars_legend_sits_above_the_bars():
    fig = class_bars_figure(["0", "1", "2"], [1.0, 0.99, 1.0], [1.0, 1.0, 0.98], [1.0, 0.99, 0.99])
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend, frame = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.y0 >= frame.y1 - 1  # outside the axes, over the top edge
