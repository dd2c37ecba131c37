"""Convolutional network: convolution blocks for features, a fully connected head to decide.

LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition" (1998), LeNet-5: weights shared across positions (each filter is
applied everywhere, so a stroke is detected wherever it appears), small local
receptive fields, and subsampling that trades resolution for invariance to small
shifts. Here each block ℓ = 1..L maps feature maps h⁽ℓ⁻¹⁾ (h⁽⁰⁾ = x) to

    h⁽ℓ⁾ = pool(φ(norm(W⁽ℓ⁾ ⋆ h⁽ℓ⁻¹⁾ + b⁽ℓ⁾)))

where ⋆ is the convolution (:mod:`zoo.conv`), norm is batch normalization per
channel (Ioffe & Szegedy, 2015) or nothing, and pool takes the max or mean of
non-overlapping s x s windows (H -> floor(H / s)). The head flattens h⁽ᴸ⁾ and applies

    z = W_out · dropout(φ(W_h · flatten(h⁽ᴸ⁾) + b_h)) + b_out

(without the hidden layer when ``hidden_size=0``: z = W_out · dropout(flatten(h⁽ᴸ⁾)) + b_out).
Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), ch. 9.

What it reads: images ``(B, C, H, W)`` with 2-D convolutions; sequences
``(B, T, F)`` with 1-D convolutions along time, the F features as channels; vectors
``(B, F)`` as one channel of length F. Pooling never shrinks a map below 1: a block
whose map is smaller than the pool window in some dimension does not pool (with
2x2 windows the 8x8 digits give 8 -> 4 -> 2 -> 1 over three blocks; a fourth keeps 1x1).

Where it continues: the convolutions and pooling written out are zoo/conv.py
(``impl=reference``); the training step is the default of
:class:`engine.tasks.core.Task`; the first layer's filters and each block's feature maps
are drawn after testing by engine/report/pictures.py.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from zoo.activations import make_activation
from zoo.checks import (
    IMPLS,
    NORMS,
    check_activation,
    check_at_least,
    check_choice,
    check_fraction,
    check_image,
    check_renamed,
    check_widths,
)
from zoo.conv import Conv1d, Conv2d, Pool, conv_output_size
from zoo.factory import register_model
from zoo.modes import eval_mode
from zoo.sequence import sequence_shape
from zoo.spec import DataSpec

POOLS = ("max", "avg", "none")


class ConvBlock(nn.Sequential):
    """conv -> [batch norm] -> φ -> [pool], over 1 or 2 spatial dimensions.

    Shapes:
        input ``(B, C_in, *S)``; output ``(B, C_out, *S')``, S' = S (``padding="same"``)
        or S − k + 1 + 2p, then divided by the pool size (floor) when pooling.
    """

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int | str,
        norm: str,
        activation: nn.Module,
        pool: str,
        pool_size: int,
        impl: str,
    ) -> None:
        conv_cls = Conv2d if ndim == 2 else Conv1d
        # BatchNorm subtracts the batch mean, which cancels a bias added before it; its
        # own shift β takes that role (Ioffe & Szegedy, 2015, sec. 3.2).
        layers: list[nn.Module] = [
            conv_cls(
                in_channels,
                out_channels,
                kernel_size,
                padding=padding,
                bias=norm != "batch",
                impl=impl,
            )
        ]
        if norm == "batch":
            layers.append(
                nn.BatchNorm2d(out_channels) if ndim == 2 else nn.BatchNorm1d(out_channels)
            )
        layers.append(activation)
        if pool != "none":
            layers.append(Pool(pool, ndim, pool_size, impl=impl))
        super().__init__(*layers)


class CNN(nn.Module):
    """Convolution blocks, then a fully connected head; returns logits.

    Args:
        in_channels: C, input channels (image channels, sequence features, or 1).
        input_size: the spatial size of one sample: ``(H, W)`` for images (2-D
            convolutions), ``(L,)`` for sequences and vectors (1-D convolutions).
        out_features: K, the number of outputs.
        widths: output channels of each block; one block per entry (the depth).
        kernel_size: k, one int for every block or one per block.
        padding: ``"same"`` (maps keep their size until pooled) or p, zeros on each side.
        pool: ``"max"``, ``"avg"`` or ``"none"``, after each block's activation.
        pool_size: s, the side of the (non-overlapping) pooling window.
        norm: ``"none"`` or ``"batch"`` (batch norm between conv and φ).
        activation: φ, a name from :func:`zoo.list_activations`.
        activation_kwargs: φ's own options, e.g. ``{"negative_slope": 0.2}``.
        hidden_size: H, the width of the head's hidden layer; 0 = no hidden layer.
        dropout: p in [0, 1), dropped before the output layer while training.
        impl: ``"fused"`` (PyTorch's conv/pool kernels) or ``"reference"`` (:mod:`zoo.conv`).

    Shapes:
        input ``(B, C, H, W)``, ``(B, T, F)`` (C = F, L = T) or ``(B, F)`` (C = 1, L = F);
        output ``(B, K)``.
    """

    def __init__(
        self,
        in_channels: int,
        input_size: tuple[int, ...],
        out_features: int,
        widths: list[int] | tuple[int, ...] = (32, 64),
        kernel_size: int | list[int] | tuple[int, ...] = 3,
        padding: int | str = "same",
        pool: str = "max",
        pool_size: int = 2,
        norm: str = "batch",
        activation: str = "relu",
        activation_kwargs: dict[str, Any] | None = None,
        hidden_size: int = 128,
        dropout: float = 0.25,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        widths = check_widths("cnn widths", widths)
        self.embedding_size = out_features  # D: the output read as an embedding
        kernels = [kernel_size] * len(widths) if isinstance(kernel_size, int) else list(kernel_size)
        if len(kernels) != len(widths) or min(kernels) < 1:
            raise ValueError(
                f"cnn kernel_size must be an int >= 1 or one per block ({len(widths)}), "
                f"got {kernel_size}"
            )
        if padding != "same" and not (isinstance(padding, int) and padding >= 0):
            raise ValueError(f"cnn padding must be 'same' or an int >= 0, got {padding!r}")
        check_choice("cnn pool", pool, POOLS)
        check_at_least("cnn pool_size", pool_size, 1)
        check_choice("cnn norm", norm, NORMS)
        check_at_least("cnn hidden_size", hidden_size, 0, "(0 = no hidden layer)")
        check_fraction("cnn dropout", dropout)
        check_choice("cnn impl", impl, IMPLS)
        check_activation(activation, activation_kwargs)
        act_kwargs = dict(activation_kwargs or {})

        self.ndim = len(input_size)
        size = list(input_size)
        blocks: list[nn.Module] = []
        width = in_channels
        for i, (c, k) in enumerate(zip(widths, kernels, strict=True)):
            if padding != "same":
                size = [conv_output_size(n, k, padding=padding) for n in size]
                if min(size) < 1:
                    raise ValueError(
                        f"cnn block {i + 1}: a {k}-wide kernel with padding {padding} leaves no "
                        f"output; use padding='same', a smaller kernel_size or fewer blocks"
                    )
            # A window larger than the map would leave nothing: skip this block's pooling.
            pools = pool != "none" and min(size) >= pool_size
            if pools:
                size = [n // pool_size for n in size]
            blocks.append(
                ConvBlock(
                    self.ndim,
                    width,
                    c,
                    k,
                    padding,
                    norm,
                    make_activation(activation, **act_kwargs),
                    pool if pools else "none",
                    pool_size,
                    impl,
                )
            )
            width = c
        self.blocks = nn.Sequential(*blocks)
        self.out_size = tuple(size)  # spatial size after the last block

        flat = width * math.prod(size)
        head: list[nn.Module] = [nn.Flatten()]
        if hidden_size > 0:
            head += [nn.Linear(flat, hidden_size), make_activation(activation, **act_kwargs)]
            flat = hidden_size
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(flat, out_features))
        self.head = nn.Sequential(*head)

    def _as_maps(self, x: Tensor) -> Tensor:
        if x.ndim == 3 and self.ndim == 1:
            return x.transpose(1, 2)  # (B, T, F) -> (B, F, T): features are channels
        if x.ndim == 2 and self.ndim == 1:
            return x.unsqueeze(1)  # (B, F) -> (B, 1, F): one channel
        if x.ndim == 4 and self.ndim == 2:
            return x
        raise ValueError(
            f"cnn built for {self.ndim}-D maps cannot read a batch of shape {tuple(x.shape)}"
        )

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``lengths`` (padded sequences) is accepted and unused: the padded steps are
        zeros, which the convolutions read like their own zero padding."""
        h = self.blocks(self._as_maps(x))  # (B, C, *S) -> (B, C_L, *S_L)
        return self.head(h)  # (B, K)

    @torch.no_grad()
    def feature_maps(self, x: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Each block's output for the batch ``x``, computed in eval mode (``lengths``
        as in :meth:`forward`)."""
        with eval_mode(self):
            maps, h = {}, self._as_maps(x)
            for i, block in enumerate(self.blocks):
                h = block(h)
                maps[f"block{i + 1}"] = h  # (B, C_i, *S_i)
        return maps

    def first_layer_filters(self) -> Tensor:
        """The first convolution's kernels as ``(out_channels, in_channels, kH, kW)``
        (kH = 1 for 1-D convolutions)."""
        w = self.blocks[0][0].weight.detach().clone()
        return w if w.ndim == 4 else w.unsqueeze(2)  # (C_out, C_in, k) -> (C_out, C_in, 1, k)


@register_model(
    "cnn",
    input_kinds=("image", "sequence", "vector"),
    reads_lengths=True,
    capabilities=("first_layer_filters", "feature_maps", "embedding"),
)
def build_cnn(spec: DataSpec, out_features: int | None = None, **options: Any) -> CNN:
    """:class:`CNN` with 2-D convolutions on images, 1-D along time on sequences (the
    features are channels) and along the features of vectors (one channel)."""
    check_renamed("cnn", options)
    if spec.input_kind == "image":
        c, h, w = check_image("cnn", spec.input_shape)
        in_channels, input_size = c, (h, w)
    elif spec.input_kind == "sequence":
        steps, in_channels = sequence_shape(spec)
        input_size = (steps,)
    else:
        in_channels, input_size = 1, (spec.in_features,)
    out = spec.num_outputs if out_features is None else out_features
    return CNN(in_channels, tuple(input_size), out, **options)
