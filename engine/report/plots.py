"""Evaluation figures: confusion matrices, ROC and precision-recall curves, per-class bars.

Each function takes plain arrays and returns a matplotlib ``Figure``;
:func:`save_figure` writes it as a PNG and returns its pixels, so the same picture goes
to ``eval/*.png`` and to TensorBoard's IMAGES tab. matplotlib is imported here only,
with the file-only Agg backend (no display needed), and only when something is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # draws into memory and files; works without a display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> np.ndarray:
    """Write ``fig`` to ``path`` as PNG (atomically) and return it as ``(H, W, 3)`` uint8."""
    plt = _pyplot()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 4) -> RGB
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    plt.close(fig)
    return pixels


def confusion_figure(counts: np.ndarray, class_names: Sequence[str]) -> Any:
    """Counts (left) and rows normalized to the fraction of each true class (right).

    Row i, column j: samples of class i predicted as j; the diagonal is what is right.
    """
    plt = _pyplot()
    counts = np.asarray(counts)
    totals = counts.sum(1, keepdims=True)
    normalized = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = min(4 + 0.45 * len(class_names), 14)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size), dpi=80)
    for ax, values, title, fmt in (
        (axes[0], counts, "counts", "d"),
        (axes[1], normalized, "normalized over the true class", ".2f"),
    ):
        image = ax.imshow(values, cmap="viridis")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ticks = np.arange(len(class_names))
        ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
        ax.set_xticklabels(class_names, rotation=90 if len(class_names) > 6 else 0)
        ax.set_yticklabels(class_names)
        if len(class_names) <= 20:  # numbers in the cells while they stay readable
            high = values.max() if values.size else 0
            for (i, j), v in np.ndenumerate(values):
                colour = "black" if v > 0.6 * high else "white"
                ax.text(j, i, format(v, fmt), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    return fig


# A curve summary (AUC, AP) at least this high hugs the axes' edge: the corner where the
# curves differ gets an inset, zoomed to ZOOM of each axis.
NEAR_PERFECT = 0.95
ZOOM = 0.2


def _edges(ax: Any) -> None:
    """Limits a little past [0, 1], so a curve along an edge is not hidden by the frame."""
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.02))


def _inset(ax: Any, curves: dict, draw: Any, corner: tuple[float, float], where: list) -> None:
    """When every curve's summary is near perfect, an inset at ``where`` (axes fraction)
    redraws them (``draw(axes, x, y)``) zoomed into the ``corner`` of the unit square."""
    if not curves or any(s is None or s < NEAR_PERFECT for _, _, s in curves.values()):
        return
    inset = ax.inset_axes(where)
    for x, y, _ in curves.values():
        draw(inset, x, y)
    cx, cy = corner
    inset.set(xlim=(cx - ZOOM * cx, cx + ZOOM * (1 - cx)), ylim=(cy - ZOOM, cy + 0.005))
    inset.tick_params(labelsize=6)
    inset.locator_params(nbins=4)
    ax.indicate_inset_zoom(inset, edgecolor="grey")


def roc_figure(curves: dict[str, tuple[Sequence[float], Sequence[float], float | None]]) -> Any:
    """ROC curves, one per class (one-vs-rest) or one for a binary task: ``name ->
    (false positive rates, true positive rates, AUC)``; the diagonal is chance."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    for name, (fpr, tpr, auc) in curves.items():
        label = name if auc is None else f"{name} (AUC {auc:.3f})"
        ax.plot(fpr, tpr, label=label, linewidth=1.5)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    _edges(ax)
    ax.legend(loc="lower right", fontsize=7)
    # near-perfect curves: the top-left corner, fpr [0, 0.2] x tpr [0.8, 1]
    _inset(
        ax, curves, lambda a, x, y: a.plot(x, y, linewidth=1.2), (0.0, 1.0), [0.3, 0.45, 0.4, 0.4]
    )
    fig.tight_layout()
    return fig


def pr_figure(
    curves: dict[str, tuple[Sequence[float], Sequence[float], float | None]],
    operating_point: tuple[float, float, float] | None = None,
) -> Any:
    """Precision-recall curves: ``name -> (recall, precision, average precision)``; for a
    binary task, ``operating_point`` = (recall, precision, threshold) marks where the
    chosen threshold sits on the curve (the trade-off a threshold picks)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    for name, (recall, precision, ap) in curves.items():
        label = name if ap is None else f"{name} (AP {ap:.3f})"
        ax.step(recall, precision, where="post", label=label, linewidth=1.5)
    if operating_point is not None:
        r, p, threshold = operating_point
        ax.plot([r], [p], marker="o", color="black", label=f"threshold {threshold:g}")
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall")
    _edges(ax)
    ax.legend(loc="lower left", fontsize=7)
    # near-perfect curves: the top-right corner, recall [0.8, 1] x precision [0.8, 1]
    draw = lambda a, x, y: a.step(x, y, where="post", linewidth=1.2)  # noqa: E731
    _inset(ax, curves, draw, (1.0, 1.0), [0.3, 0.45, 0.4, 0.4])
    fig.tight_layout()
    return fig


def class_bars_figure(
    class_names: Sequence[str],
    precision: Sequence[float],
    recall: Sequence[float],
    f1: Sequence[float],
) -> Any:
    """Precision, recall and F1 of each class side by side."""
    plt = _pyplot()
    x = np.arange(len(class_names))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(class_names) + 2), 4), dpi=80)
    width = 0.27
    for offset, values, label in ((-width, precision, "precision"), (0, recall, "recall")):
        ax.bar(x + offset, values, width, label=label)
    ax.bar(x + width, f1, width, label="F1")
    ax.set_xticks(x)
    ax.set_xticklabels(class_names, rotation=90 if len(class_names) > 10 else 0)
    ax.set(ylim=(0, 1.05), ylabel="score")
    ax.set_title("per class", loc="left")
    # above the axes, right of the title: inside, it covered a class's bars
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
