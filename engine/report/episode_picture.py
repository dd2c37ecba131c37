"""One few-shot episode as a picture: the support set, the queries, the predictions.

    row 0 .. K-1   the support set: one column per class, K examples each
    (blank row)
    query rows     each query, and under it the first support example of the class
                   predicted for it, framed green when right and red when wrong

Pictures carry no text, so "the prediction under each query" is drawn as the class's
own support example, which is how the method saw the class.

Where it continues: the few-shot tasks (``engine/tasks/fewshot.py``) log it after the
test; ``bench/fewshot.py`` writes it as a PNG for the README.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.data.core import DataModule
from engine.data.episodes import take
from engine.report.pictures import grid

GREEN, RED = np.array([44, 160, 44], np.uint8), np.array([214, 39, 40], np.uint8)


def to_cells(images: torch.Tensor) -> list[np.ndarray]:
    """``(M, C, H, W)`` (or ``(M, H, W)``) inputs -> M grey ``(H, W, 3)`` uint8 cells,
    each stretched from its own minimum to its maximum."""
    x = images.detach().float().cpu()
    x = x.mean(1) if x.ndim == 4 else x  # (M, C, H, W) -> (M, H, W)
    lo = x.flatten(1).min(1).values[:, None, None]
    hi = x.flatten(1).max(1).values[:, None, None]
    x = (x - lo) / (hi - lo).clamp_min(1e-12)
    grey = np.round(x.numpy() * 255).astype(np.uint8)
    return [np.repeat(g[..., None], 3, axis=2) for g in grey]


def framed(cell: np.ndarray, colour: np.ndarray, width: int = 1) -> np.ndarray:
    """The cell inside a border of ``colour``."""
    h, w, _ = cell.shape
    out = np.empty((h + 2 * width, w + 2 * width, 3), np.uint8)
    out[:] = colour
    out[width : width + h, width : width + w] = cell
    return out


def episode_picture(
    support: torch.Tensor,
    support_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    predicted: torch.Tensor,
    per_row: int = 10,
) -> np.ndarray:
    """The layout of the module docstring as an ``(H, W, 3)`` uint8 image.

    Shapes:
        support ``(N·K, C, H, W)`` with labels ``(N·K,)`` 0..N-1; query ``(M, C, H, W)``
        with labels and predictions ``(M,)``.
    """
    n_way = int(support_labels.max()) + 1
    s_cells, q_cells = to_cells(support), to_cells(query)
    pad = np.full_like(framed(s_cells[0], GREEN), 255)
    columns = [
        [
            framed(s_cells[i], np.full(3, 255, np.uint8))
            for i in torch.nonzero(support_labels == n).flatten().tolist()
        ]
        for n in range(n_way)
    ]
    rows = [[col[r] for col in columns] for r in range(len(columns[0]))]
    first = {n: col[0] for n, col in enumerate(columns)}  # class -> its first support cell
    for start in range(0, len(q_cells), per_row):
        part = range(start, min(len(q_cells), start + per_row))
        rows.append([pad])
        rows.append([framed(q_cells[i], np.full(3, 255, np.uint8)) for i in part])
        rows.append(
            [
                framed(
                    first[int(predicted[i])][1:-1, 1:-1],
                    GREEN if predicted[i] == query_labels[i] else RED,
                )
                for i in part
            ]
        )
    return grid(rows, cell_px=40)


def as_images(x: Any, data: DataModule) -> torch.Tensor | None:
    """Inputs in their own units as images ``(M, C, H, W)``; a sequence ``(T, F)`` is
    drawn as a ``1 x T x F`` image, a vector not at all (None)."""
    if isinstance(x, tuple):
        x = x[0]
    x = data.unscale(x)
    if data.spec.input_kind == "image":
        return x
    if data.spec.input_kind == "sequence":
        return x[:, None]  # (M, T, F) -> (M, 1, T, F)
    return None


def log_episode(
    logger: Any, data: DataModule, x: Any, e: Any, predicted: torch.Tensor, tag: str, step: int
) -> None:
    """Draw episode ``e`` of pool ``x`` with its ``predicted`` query classes."""
    support = as_images(take(x, e.support.to(data.device)), data)
    query = as_images(take(x, e.query.to(data.device)), data)
    if support is None or query is None:
        return
    image = episode_picture(support, e.support_labels, query, e.query_labels, predicted)
    logger.image(tag, image, step)
