"""Pictures of what a model computes, for TensorBoard's IMAGES tab (and PNG files).

A model family that has something to show offers it as a method and declares it
where it registers (``capabilities=`` in ``register_model``, a Protocol of
:mod:`zoo.capabilities`); :func:`log_model_pictures` draws what the trained model
declares, after testing:

* ``attention_maps(x[, lengths])`` (Transformer): one ``(B, heads, T, T)`` map per
  block; drawn for the first test sample as a grid, blocks down, heads across, each
  axis labelled with the model's ``token_labels`` and one colour bar
  (:func:`engine.report.plots.attention_figure`);
* ``first_layer_filters()`` (CNN): the learned kernels of the first convolution;
* ``feature_maps(x)`` (CNN): each block's output channels for the first test sample,
  after the sample itself.

Images are encoded as PNG here (zlib and the format's few chunks), so drawing pixels
needs no imaging library; pictures with words on them (token labels, legends) are
matplotlib figures of :mod:`engine.report.plots`.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import torch
from torch import Tensor

import zoo
from engine.data import DataModule, call_model
from engine.report.plots import attention_figure, figure_pixels
from zoo.modes import eval_mode

# A perceptually ordered dark-to-bright ramp (anchor colours of matplotlib's viridis).
_RAMP = np.array(
    [
        [68, 1, 84],
        [59, 82, 139],
        [33, 145, 140],
        [94, 201, 98],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` (RGB) or ``(H, W)`` (grey) uint8 array."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"encode_png needs (H, W) or (H, W, 3) uint8, got {image.shape}")
    grey = image.ndim == 2
    h, w = image.shape[:2]
    rows = image.reshape(h, -1)
    # Each scanline starts with its filter type; 0 = the bytes as they are.
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if grey else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def colorize(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``(H, W)`` numbers -> ``(H, W, 3)`` uint8 colours on the ramp, lo dark, hi bright."""
    lo = float(np.min(values)) if lo is None else lo
    hi = float(np.max(values)) if hi is None else hi
    u = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0) * (len(_RAMP) - 1)
    i = np.minimum(u.astype(int), len(_RAMP) - 2)
    frac = (u - i)[..., None]
    return np.round(_RAMP[i] * (1 - frac) + _RAMP[i + 1] * frac).astype(np.uint8)


def grid(cells: list[list[np.ndarray]], cell_px: int = 96, gap: int = 2) -> np.ndarray:
    """Tile rows of ``(h, w, 3)`` images into one image, each scaled up by a whole
    factor to about ``cell_px`` (nearest neighbour: every weight stays a crisp block)."""
    h = max(c.shape[0] for row in cells for c in row)
    w = max(c.shape[1] for row in cells for c in row)
    scale = max(1, cell_px // max(h, w))
    ch, cw = h * scale, w * scale
    ncols = max(len(row) for row in cells)
    out = np.full((len(cells) * (ch + gap) - gap, ncols * (cw + gap) - gap, 3), 255, dtype=np.uint8)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            big = cell.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = r * (ch + gap), c * (cw + gap)
            out[y : y + big.shape[0], x : x + big.shape[1]] = big
    return out


# Distinct colours for up to 10 classes (matplotlib's tab10), cycled beyond.
PALETTE = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)


def rgb_tiles(images: Tensor) -> np.ndarray:
    """Images ``(N, C, H, W)`` with values in [0, 1] (clipped) as 8-bit RGB ``(N, H, W,
    3)``: one channel is drawn grey, three as RGB, others by their channel mean."""
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] != 3:
        x = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # (N, 1, H, W) -> (N, 3, H, W)
    return np.round(x.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


def image_grid(images: Tensor, per_row: int = 8, cell_px: int = 48) -> np.ndarray:
    """Images ``(N, C, H, W)`` in [0, 1] (:func:`rgb_tiles`) tiled ``per_row`` across."""
    cells = list(rgb_tiles(images))
    return grid([cells[i : i + per_row] for i in range(0, len(cells), per_row)], cell_px=cell_px)


def sprite(images: Tensor) -> np.ndarray:
    """The projector's sprite: images ``(N, C, H, W)`` in [0, 1] as one square sheet of
    ``ceil(sqrt(N))`` tiles a row, in order, at their own size, no gaps (the layout
    TensorBoard's projector cuts thumbnails from)."""
    tiles = rgb_tiles(images)  # (N, H, W, 3)
    n, h, w, _ = tiles.shape
    side = int(np.ceil(np.sqrt(n)))
    sheet = np.full((side * h, side * w, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, side)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    return sheet


def thumbnails(data: DataModule, split: str) -> Tensor | None:
    """The split's inputs as pictures in [0, 1] (each image scaled to its own range),
    for the projector's sprite; None unless the data are images."""
    if data.spec.input_kind != "image":
        return None
    x = data.unscale(data.splits[split][0]).float()
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def scatter_picture(
    layers: list[tuple[np.ndarray, np.ndarray]],
    extent: tuple[float, float, float, float],
    size: int = 320,
    radius: int = 1,
) -> np.ndarray:
    """2-D points drawn onto a white ``size`` x ``size`` canvas, later layers on top.

    Each layer is ``(points (N, 2), colours)`` with colours one RGB ``(3,)`` for all
    points or ``(N, 3)``, uint8. ``extent`` = (x_min, x_max, y_min, y_max); points
    outside are dropped. Thin grey axes mark x = 0 and y = 0 when they are in view.
    """
    x0, x1, y0, y1 = extent
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)

    def to_px(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return np.round((v - lo) / (hi - lo) * (size - 1)).astype(int)

    if x0 < 0 < x1:
        canvas[:, to_px(np.array(0.0), x0, x1)] = 225
    if y0 < 0 < y1:
        canvas[size - 1 - to_px(np.array(0.0), y0, y1)] = 225
    for points, colours in layers:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        col = np.broadcast_to(np.asarray(colours, dtype=np.uint8), (len(pts), 3))
        cols, rows = to_px(pts[:, 0], x0, x1), size - 1 - to_px(pts[:, 1], y0, y1)
        inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
        cols, rows, col = cols[inside], rows[inside], col[inside]
        for dy in range(-radius, radius + 1):  # a small square per point
            for dx in range(-radius, radius + 1):
                r, c = np.clip(rows + dy, 0, size - 1), np.clip(cols + dx, 0, size - 1)
                canvas[r, c] = col
    return canvas


def filters_picture(weight: Tensor, max_filters: int = 64) -> np.ndarray:
    """First-layer kernels ``(out, in, kh, kw)``, one cell per output channel (its
    input channels averaged), each on its own scale."""
    kernels = weight.detach().float().cpu().mean(1)[:max_filters]  # (out, kh, kw)
    per_row = int(np.ceil(np.sqrt(len(kernels))))
    cells = [colorize(k.numpy()) for k in kernels]
    return grid([cells[i : i + per_row] for i in range(0, len(cells), per_row)], cell_px=32)


def feature_maps_picture(
    maps: Tensor, image: Tensor | None = None, max_channels: int = 32
) -> np.ndarray:
    """One sample's feature maps ``(channels, h, w)``, one cell per channel, after the
    sample itself (``image`` ``(C, H, W)``, in grey on its own scale) when given."""
    chans = maps.detach().float().cpu()[:max_channels]
    cells = [colorize(c.numpy()) for c in chans]
    if image is not None:
        grey = image.detach().float().cpu().mean(0).numpy()  # (C, H, W) -> (H, W)
        span = float(grey.max() - grey.min()) or 1.0
        level = np.round((grey - grey.min()) / span * 255).astype(np.uint8)
        cells.insert(0, np.repeat(level[..., None], 3, axis=2))
    per_row = int(np.ceil(np.sqrt(len(cells))))
    return grid([cells[i : i + per_row] for i in range(0, len(cells), per_row)], cell_px=48)


# The capabilities (zoo.capabilities) that are pictures of the model.
PICTURES = frozenset({"attention_maps", "first_layer_filters", "feature_maps"})


@torch.no_grad()
def log_model_pictures(
    model: Any, model_name: str, data: DataModule, logger: Any, step: int
) -> None:
    """Draw what registered model ``model_name`` declares it can show (see the module
    doc) for the first test sample."""
    shown = zoo.model_capabilities(model_name) & PICTURES
    if not shown:
        return  # nothing to draw (and a graph input is not sliced into samples)
    first = data.head("test", 1)
    with eval_mode(model):
        if "attention_maps" in shown:
            maps = call_model(model.attention_maps, first)  # L x (1, nh, T, T)
            tokens = model.token_labels(first[0] if isinstance(first, tuple) else first)
            figure = attention_figure([m[0].float().cpu().numpy() for m in maps], tokens)
            logger.image("attention/test_sample_0", figure_pixels(figure), step)
        if "first_layer_filters" in shown:
            logger.image("filters/first_layer", filters_picture(model.first_layer_filters()), step)
        if "feature_maps" in shown:
            image = first[0] if isinstance(first, Tensor) and first.ndim == 4 else None
            for name, fmap in call_model(model.feature_maps, first).items():
                if fmap.ndim == 4:  # (1, C, h, w); 1-D signals have no picture here
                    picture = feature_maps_picture(fmap[0], image)
                    logger.image(f"feature_maps/{name}", picture, step)
