"""How a sequence model reads any input: as ``(B, T, F)``, T steps of F features.

Shared by every sequence family (RNN, LSTM, GRU, Transformer) so they read the same
data the same way:

* a sequence ``(B, T, F)`` is taken as it is;
* an image ``(B, C, H, W)`` is read row by row: T = H steps of F = C·W pixels
  (the 8x8 digits become 8 steps of 8 features);
* a vector ``(B, F)`` is read one feature at a time: T = F steps of 1 feature.

Variable-length batches come padded at the end, with ``lengths`` ``(B,)`` giving each
sequence's real number of steps; :func:`padding_mask` marks the padded steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from zoo.checks import check_image
from zoo.spec import DataSpec

# What sequence models can read (every kind with a fixed per-sample shape).
SEQUENCE_INPUT_KINDS: tuple[str, ...] = ("sequence", "image", "vector")


def sequence_shape(spec: DataSpec) -> tuple[int, int]:
    """``(T, F)``: the number of steps and the features per step ``spec``'s data give."""
    shape = spec.input_shape
    if spec.input_kind == "sequence":
        if len(shape) != 2:
            raise ValueError(f"sequence data must be (T, F) per sample, got {shape}")
        return shape[0], shape[1]
    if spec.input_kind == "image":
        c, h, w = check_image("a sequence model", shape)
        return h, c * w
    if spec.input_kind == "vector":
        return spec.in_features, 1
    raise ValueError(f"a sequence model cannot read {spec.input_kind} data")


def as_sequence(x: Tensor) -> Tensor:
    """Any batch as ``(B, T, F)``, by its number of dimensions (see the module doc)."""
    if x.ndim == 3:
        return x
    if x.ndim == 4:  # (B, C, H, W) -> (B, H, C, W) -> (B, H, C·W): one row per step
        return x.permute(0, 2, 1, 3).flatten(2)
    if x.ndim == 2:  # (B, F) -> (B, F, 1): one feature per step
        return x.unsqueeze(-1)
    raise ValueError(f"cannot read a batch of shape {tuple(x.shape)} as a sequence")


def detach_state(state: Any) -> Any:
    """A recurrent state (a tensor, or a tuple such as the LSTM's (h, c)) cut from its
    graph: truncated BPTT carries it into the next window, but gradients stop at the
    window boundary."""
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B, T)`` bool, True at padded steps (step t >= length), as attention wants it."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps[None, :] >= lengths.to(steps.device)[:, None]
