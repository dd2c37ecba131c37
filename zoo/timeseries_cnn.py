"""Fully convolutional time-series classifiers: the FCN and the 1-D ResNet.

Wang, Yan & Oates, "Time series classification from scratch with deep neural networks:
a strong baseline" (IJCNN 2017), the two networks Fawaz et al. (2019, "Deep learning
for time series classification: a review") found best over the UCR/UEA archives. Both
convolve along time only, keep the length (``padding="same"``, no pooling), and end in
global average pooling (GAP) over time, so one network reads series of any length:

* ``model=fcn``: three blocks h⁽ℓ⁾ = ReLU(BN(W⁽ℓ⁾ ⋆ h⁽ℓ⁻¹⁾)), 128, 256 and 128 filters
  of widths 8, 5 and 3 (Wang et al., sec. 3.1), then GAP and a linear layer;
* ``model=resnet1d``: three residual blocks of three such convolutions (widths 8, 5,
  3), 64, 128 and 128 filters (sec. 3.2),

      y = ReLU(BN(W₃ ⋆ ReLU(BN(W₂ ⋆ ReLU(BN(W₁ ⋆ x))))) + S(x)),

  with S a 1x1 convolution and BN where the width changes, else BN alone (as their
  code does), then GAP and a linear layer.

GAP reads only the real steps of padded series: ``z = W · (1/Tᵢ) Σ_{t<Tᵢ} h_t + b``;
and every block's output is zeroed on the padded steps, so (in eval mode, BN then
using its running statistics) the padding never reaches a real step's features, and a
series' output does not depend on how much it is padded.

Both declare the ``embedding`` capability: the head's output z (its width any
``out_features``) is what the few-shot tasks compare by distance.

What it reads: sequences ``(B, T, F)``, the F features as channels; images row by row
and vectors one feature per step (:mod:`zoo.sequence`), like every sequence family.

Where it continues: the convolution arithmetic (``impl=reference``) is zoo/conv.py; the
2-D ResNet for images is zoo/resnet.py; the data these were made for is
engine/data/ucr.py, and bench/ucr.py compares them with the published numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from zoo.checks import IMPLS, check_choice, check_sizes, check_widths
from zoo.conv import Conv1d
from zoo.factory import register_model
from zoo.sequence import SEQUENCE_INPUT_KINDS, as_sequence, padding_mask, sequence_shape
from zoo.spec import DataSpec


def _kernels(name: str, kernel_size: int | list[int] | tuple[int, ...], n: int) -> list[int]:
    kernels = [kernel_size] * n if isinstance(kernel_size, int) else list(kernel_size)
    if len(kernels) != n or min(kernels) < 1:
        raise ValueError(
            f"{name} kernel_size must be an int >= 1 or {n} of them, got {kernel_size}"
        )
    return kernels


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, impl: str) -> nn.Sequential:
    """W ⋆ x then BN, keeping the length T (no bias: BN's shift β takes its role).

    The k − 1 zeros of "same" padding go ⌊(k − 1)/2⌋ before and the rest after, as
    PyTorch's ``padding="same"`` places them, here written out so even widths (8) take
    no slower path."""
    before = (kernel_size - 1) // 2
    return nn.Sequential(
        nn.ConstantPad1d((before, kernel_size - 1 - before), 0.0),  # (B, C, T) -> (B, C, T + k − 1)
        Conv1d(in_channels, out_channels, kernel_size, bias=False, impl=impl),  # -> (B, C', T)
        nn.BatchNorm1d(out_channels),
    )


class ResidualBlock(nn.Module):
    """y = ReLU(BN(W₃ ⋆ ReLU(BN(W₂ ⋆ ReLU(BN(W₁ ⋆ x))))) + S(x)).

    Shapes: input ``(B, C_in, T)``; output ``(B, C_out, T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: list[int], impl: str):
        super().__init__()
        convs, width = [], in_channels
        for k in kernels:
            convs.append(conv_bn(width, out_channels, k, impl))
            width = out_channels
        self.convs = nn.ModuleList(convs)
        self.shortcut = (
            conv_bn(in_channels, out_channels, 1, impl)
            if in_channels != out_channels
            else nn.BatchNorm1d(out_channels)
        )

    def forward(self, x: Tensor, real: Tensor) -> Tensor:
        """``real`` ``(B, 1, T)``: 1 at real steps, 0 at padding."""
        f = x
        for i, conv in enumerate(self.convs):
            f = conv(f)
            if i < len(self.convs) - 1:
                f = torch.relu(f) * real  # padding stays zero for the next convolution
        return torch.relu(f + self.shortcut(x)) * real


class TimeSeriesCNN(nn.Module):
    """Convolution blocks along time -> GAP over the real steps -> linear head.

    Args:
        in_features: F, the features per step (the first convolution's channels).
        out_features: K, the number of outputs.
        widths: output channels of each block; one block per entry.
        kernel_size: kernel widths: one per block (FCN) or one per convolution of a
            residual block (ResNet), or one int for all.
        residual: False for the FCN's single-convolution blocks, True for the ResNet's
            residual blocks of ``len(kernel_size)`` convolutions.
        impl: ``"fused"`` (PyTorch's convolution) or ``"reference"`` (:mod:`zoo.conv`).

    Shapes:
        input ``(B, T, F)`` (or any input :func:`zoo.sequence.as_sequence` reads);
        ``lengths`` ``(B,)`` the real steps of end-padded series. Output ``(B, K)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        widths: list[int] | tuple[int, ...] = (128, 256, 128),
        kernel_size: int | list[int] | tuple[int, ...] = (8, 5, 3),
        residual: bool = False,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        name = "resnet1d" if residual else "fcn"
        check_sizes(name, in_features=in_features, out_features=out_features)
        widths = check_widths(f"{name} widths", widths)
        check_choice(f"{name} impl", impl, IMPLS)
        if residual:  # kernel_size: the widths inside each block
            n = 3 if isinstance(kernel_size, int) else len(kernel_size)
            kernels = _kernels(name, kernel_size, n)
        else:  # kernel_size: one per block
            kernels = _kernels(name, kernel_size, len(widths))
        self.residual = residual
        self.embedding_size = out_features  # D: the output read as an embedding
        blocks: list[nn.Module] = []
        width = in_features
        for i, c in enumerate(widths):
            if residual:
                blocks.append(ResidualBlock(width, c, kernels, impl))
            else:
                blocks.append(conv_bn(width, c, kernels[i], impl))
            width = c
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(width, out_features)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = as_sequence(x).transpose(1, 2)  # (B, T, F) -> (B, F, T): features are channels
        B, _, T = h.shape
        if lengths is None:
            real = h.new_ones(B, 1, T)
        else:
            real = (~padding_mask(lengths, T)).unsqueeze(1).to(h.dtype)  # (B, 1, T)
            h = h * real  # the padded steps read as zeros, whatever the batch holds there
        for block in self.blocks:
            h = block(h, real) if self.residual else torch.relu(block(h)) * real  # (B, C, T)
        pooled = h.sum(dim=2) / real.sum(dim=2).clamp(min=1)  # GAP: (B, C, T) -> (B, C)
        return self.head(pooled)  # (B, K)


# Wang et al. 2017's two networks: filters per block, and whether a block is residual
# (three convolutions and a shortcut) or one convolution. Both use widths 8, 5, 3.
ARCHITECTURES = {"fcn": ((128, 256, 128), False), "resnet1d": ((64, 128, 128), True)}


def _register(name: str) -> Callable[..., TimeSeriesCNN]:
    """Register ``name``'s builder: :class:`TimeSeriesCNN` over the data's steps with that
    architecture's defaults (its config's options are the builder's keyword arguments)."""
    default_widths, residual = ARCHITECTURES[name]

    def build(
        spec: DataSpec,
        out_features: int | None = None,
        widths: list[int] | tuple[int, ...] = default_widths,
        kernel_size: int | list[int] | tuple[int, ...] = (8, 5, 3),
        impl: str = "fused",
    ) -> TimeSeriesCNN:
        _, features = sequence_shape(spec)  # F, the features per step
        out = spec.num_outputs if out_features is None else out_features
        return TimeSeriesCNN(features, out, widths, kernel_size, residual, impl)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = f"Wang et al.'s {name}: :class:`TimeSeriesCNN` with widths {default_widths}."
    return register_model(
        name, input_kinds=SEQUENCE_INPUT_KINDS, reads_lengths=True, capabilities=("embedding",)
    )(build)


build_fcn = _register("fcn")
build_resnet1d = _register("resnet1d")
