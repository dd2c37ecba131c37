"""Figures with axes, labels and legends, drawn with matplotlib.

Evaluation figures (confusion matrices, ROC and precision-recall curves, per-class
bars) and the pictures of a model that need words on them (attention maps with their
tokens on the axes, a 2-D latent space with its legend of classes). Each function
takes plain arrays and returns a matplotlib ``Figure``; :func:`save_figure` writes it
as a PNG and returns its pixels, so the same picture goes to ``eval/*.png`` and to
TensorBoard's IMAGES tab; :func:`figure_pixels` returns the pixels only. matplotlib is
imported here only, with the file-only Agg backend (no display needed), and only when
something is drawn.
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


def figure_pixels(fig: Any, close: bool = True) -> np.ndarray:
    """``fig`` drawn as ``(H, W, 3)`` uint8 RGB (closed afterwards unless ``close=False``)."""
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 4) -> RGB
    if close:
        _pyplot().close(fig)
    return pixels


def save_figure(fig: Any, path: Path) -> np.ndarray:
    """Write ``fig`` to ``path`` as PNG (atomically) and return it as ``(H, W, 3)`` uint8."""
    pixels = figure_pixels(fig, close=False)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    _pyplot().close(fig)
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


# ----------------------------------------------------------------------------- model pictures

MAX_TICKS = 32  # labelled tokens per axis at most; longer inputs label every k-th one


def attention_figure(maps: Sequence[np.ndarray], tokens: Sequence[str]) -> Any:
    """One sample's attention weights: blocks down, heads across, on one colour bar.

    ``maps[l][h]`` is block l's head h, ``(T, T)``: row i holds the softmax weights
    a_ij of query token i over the key tokens j (each row sums to 1). ``tokens`` names
    the T tokens (e.g. ``cls``, ``(0,1)``, ``t5``); they label both axes, queries down
    the side and keys along the bottom. The bar runs from 0 to the largest weight of
    all maps (uniform attention, 1/T, would be all dark on a bar to 1).
    """
    plt = _pyplot()
    rows, heads, n = len(maps), len(maps[0]), len(tokens)
    if any(m.shape[-2:] != (n, n) for m in maps):
        raise ValueError(f"attention_figure: {n} token labels for maps of {maps[0].shape[-2:]}")
    side = min(max(2.4, 0.16 * n + 1.2), 6.0, 22.0 / heads)  # inches per map
    fig, axes = plt.subplots(
        rows,
        heads,
        figsize=(side * heads + 1.2, side * rows + 0.4),
        dpi=80,
        squeeze=False,
        layout="constrained",
    )
    top = max(float(np.max(m)) for m in maps) or 1.0
    ticks = np.arange(0, n, -(-n // MAX_TICKS))  # every k-th token, k = ⌈n / MAX_TICKS⌉
    names = [tokens[i] for i in ticks]
    for block, row in enumerate(axes):
        for head, ax in enumerate(row):
            image = ax.imshow(maps[block][head], cmap="viridis", vmin=0.0, vmax=top)
            ax.set_xticks(ticks, names, rotation=90, fontsize=7)
            ax.set_yticks(ticks, names, fontsize=7)
            ax.set_title(f"block {block + 1}, head {head + 1}", fontsize=9)
            if head == 0:
                ax.set_ylabel("query token")
            if block == rows - 1:
                ax.set_xlabel("key token (attended to)")
    fig.colorbar(image, ax=axes, label="attention weight", shrink=min(1.0, 0.9 / rows + 0.1))
    return fig


def latent_figure(
    codes: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str] | None,
    split: str = "val",
) -> Any:
    """Codes ``(N, 2)`` of a ``split`` as points, one colour per class (``labels``
    ``(N,)`` integers) with a legend naming each class beside the axes (never over the
    points); one colour and no legend without labels. Grey lines mark z = 0, the
    prior's mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5), dpi=80, layout="constrained")
    ax.axhline(0.0, color="0.85", linewidth=0.8, zorder=0)
    ax.axvline(0.0, color="0.85", linewidth=0.8, zorder=0)
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=4, color="tab:blue", linewidths=0)
    else:
        present = np.unique(labels)
        palette = plt.get_cmap("tab10" if present.max() < 10 else "tab20")
        for c in present:  # a class keeps its colour from epoch to epoch
            at = labels == c
            name = class_names[c] if class_names is not None and c < len(class_names) else c
            colour = palette(c % palette.N)
            ax.scatter(codes[at, 0], codes[at, 1], s=4, color=colour, linewidths=0, label=name)
        ax.legend(
            title="class",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            markerscale=3,
            fontsize=8,
            ncol=1 + len(present) // 21,
            frameon=False,
        )
    split = {"val": "validation", "train": "training"}.get(split, split)
    ax.set(xlabel="z₁", ylabel="z₂", title=f"{split} codes in the 2-D latent space")
    return fig
