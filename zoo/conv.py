"""Convolution and pooling from scratch: im2col (``unfold``) and one matrix product.

A 2-D convolution slides a kernel of C_in·kH·kW weights over the input and takes a
dot product at every position. Gathering each position's receptive field into a column
(*im2col*; Chellapilla, Puri & Simard, 2006) turns the whole layer into one matrix
product. For an input x ``(B, C_in, H, W)`` and weights W ``(C_out, C_in, kH, kW)``:

    X_col = unfold(x)                 (B, C_in·kH·kW, L),  L = H_out·W_out
    y     = W.view(C_out, -1) @ X_col + b          (B, C_out, L) -> (B, C_out, H_out, W_out)

with, per spatial dimension, padding p, dilation d, kernel k and stride s,

    H_out = floor((H + 2p − d(k − 1) − 1) / s) + 1

(d(k − 1) + 1 is the span of a dilated kernel). Groups (Krizhevsky et al., 2012) split
the C_in channels into G sets, each seen by its own C_out/G filters: G = 1 is the usual
convolution, G = C_in the depthwise one (Howard et al., 2017, MobileNets). Like every
deep-learning library this computes a cross-correlation (the kernel is not flipped);
a learned kernel absorbs the flip. Pooling reuses ``unfold``: the max or the mean of
each window instead of a dot product. Autograd differentiates all of it; ``unfold``'s
backward is ``fold``, which sums the gradients of overlapping windows.

The :class:`Conv1d` / :class:`Conv2d` modules hold exactly ``nn.Conv1d`` /
``nn.Conv2d``'s parameters and choose the arithmetic with ``impl``: ``"fused"``
(PyTorch's kernels) or ``"reference"`` (the functions here), so weights trained with
one load into the other. Reference: Goodfellow, Bengio & Courville, *Deep Learning*
(2016), ch. 9; Dumoulin & Visin, "A guide to convolution arithmetic" (2016).

Where it continues: zoo/cnn.py and zoo/resnet.py build their layers from these modules;
tests/zoo/test_conv.py holds both ``impl`` equal to PyTorch's, and bench/vision_conv.py
times them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from zoo.checks import IMPLS, check_choice

POOLS = ("max", "avg")

IntOrPair = int | Sequence[int]


def _pair(value: IntOrPair) -> tuple[int, int]:
    """3 -> (3, 3); (2, 1) -> (2, 1)."""
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value}")
    return pair[0], pair[1]


def _one(value: IntOrPair) -> int:
    """3 -> 3; (3,) -> 3: the 1-D functions take ints or 1-tuples, as PyTorch's do."""
    return value if isinstance(value, int) else value[0]


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """floor((size + 2p − d(k − 1) − 1) / s) + 1: one spatial dimension after a conv or pool."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _same_padding(x: Tensor, kernel: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """Zero-pad x so a stride-1 conv keeps H and W. A kernel spans d(k − 1) + 1 pixels, so
    d(k − 1) zeros are needed per dimension; an odd number puts the extra one at the
    end (bottom/right), as PyTorch's ``padding="same"`` does."""
    pads: list[int] = []
    for k, d in zip(reversed(kernel), reversed(dilation), strict=True):  # F.pad: last dim first
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) as im2col + one batched matrix product.

    Same arguments and result as :func:`torch.nn.functional.conv2d`.

    Args:
        x: the input.
        weight: W, the kernels; C_in must divide by ``groups``.
        bias: b, one per output channel, or ``None``.
        stride: s, an int or a pair (sH, sW).
        padding: p, an int or a pair of zeros added on both sides; or ``"valid"``
            (p = 0) or ``"same"`` (output as large as the input; stride 1 only).
        dilation: d, the spacing between kernel taps (Yu & Koltun, 2016).
        groups: G; G = C_in is depthwise.

    Shapes:
        x ``(B, C_in, H, W)``, weight ``(C_out, C_in/G, kH, kW)``, bias ``(C_out,)``;
        output ``(B, C_out, H_out, W_out)``, H_out = floor((H + 2p − d(kH − 1) − 1)/s) + 1.
    """
    B, C_in, H, W = x.shape
    C_out, C_g, kH, kW = weight.shape  # C_g = C_in / G input channels per group
    G = groups
    if C_in != C_g * G or C_out % G:
        raise ValueError(
            f"conv2d: input has {C_in} channels and weight {tuple(weight.shape)} with "
            f"groups={G}; need C_in = {C_g}·G and C_out divisible by G"
        )
    stride, dilation = _pair(stride), _pair(dilation)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1, got {stride}")
        x, padding = _same_padding(x, (kH, kW), dilation), (0, 0)
        H, W = x.shape[-2:]
    elif padding == "valid":
        padding = (0, 0)
    padding = _pair(padding)
    H_out = conv_output_size(H, kH, stride[0], padding[0], dilation[0])
    W_out = conv_output_size(W, kW, stride[1], padding[1], dilation[1])

    cols = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)
    # Rows of cols run channel-major (c, i, j), so each group's K = C_g·kH·kW rows are
    # one block, and so are the matching weights.
    cols = cols.view(B, G, C_g * kH * kW, H_out * W_out)  # (B, C_in·kH·kW, L) -> (B, G, K, L)
    w = weight.reshape(G, C_out // G, C_g * kH * kW)  # (C_out, C_g, kH, kW) -> (G, C_out/G, K)
    y = w @ cols  # (G, C_out/G, K) @ (B, G, K, L) -> (B, G, C_out/G, L)
    y = y.view(B, C_out, H_out, W_out)
    if bias is not None:
        y = y + bias.view(1, C_out, 1, 1)
    return y


def conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution: :func:`conv2d` on a one-pixel-high image.

    Shapes:
        x ``(B, C_in, L)``, weight ``(C_out, C_in/G, k)``; output ``(B, C_out, L_out)``,
        L_out = floor((L + 2p − d(k − 1) − 1)/s) + 1.
    """
    pad = padding if isinstance(padding, str) else (0, _one(padding))
    y = conv2d(
        x.unsqueeze(2),  # (B, C_in, L) -> (B, C_in, 1, L)
        weight.unsqueeze(2),  # (C_out, C_g, k) -> (C_out, C_g, 1, k)
        bias,
        stride=(1, _one(stride)),
        padding=pad,
        dilation=(1, _one(dilation)),
        groups=groups,
    )
    return y.squeeze(2)  # (B, C_out, 1, L_out) -> (B, C_out, L_out)


def _pool_windows(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None, padding: IntOrPair, fill: float
) -> Tensor:
    """Every pooling window of x as a column, padded with ``fill``.

    Shapes: x ``(B, C, H, W)`` -> ``(B, C, kH·kW, H_out, W_out)``.
    """
    B, C, H, W = x.shape
    (kH, kW), (pH, pW) = _pair(kernel_size), _pair(padding)
    (sH, sW) = (kH, kW) if stride is None else _pair(stride)  # windows tile by default
    if 2 * pH > kH or 2 * pW > kW:
        raise ValueError(f"pooling padding {padding} must be at most half the kernel {kernel_size}")
    x = F.pad(x, (pW, pW, pH, pH), value=fill)
    cols = F.unfold(x, (kH, kW), stride=(sH, sW))  # (B, C·kH·kW, L)
    H_out, W_out = conv_output_size(H, kH, sH, pH), conv_output_size(W, kW, sW, pW)
    return cols.view(B, C, kH * kW, H_out, W_out)


def max_pool2d(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """y = the max of each kH x kW window; stride defaults to the kernel (no overlap).

    Padding is −inf, so it is never the max. The gradient flows to each window's
    maximum only: ``max`` picks the first of tied values, as PyTorch's kernel does
    (``amax`` would split the gradient between them).

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H_out, W_out)``, H_out = floor((H + 2p − k)/s) + 1.
    """
    return _pool_windows(x, kernel_size, stride, padding, float("-inf")).max(2).values


def avg_pool2d(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """y = the mean of each kH x kW window, padding zeros counted in
    (``count_include_pad=True``, :func:`torch.nn.functional.avg_pool2d`'s default).

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H_out, W_out)``, H_out = floor((H + 2p − k)/s) + 1.
    """
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean(2)


def _as_1d(
    pool2d: Callable[..., Tensor],
    x: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None,
    padding: IntOrPair,
) -> Tensor:
    y = pool2d(
        x.unsqueeze(2),  # (B, C, L) -> (B, C, 1, L)
        (1, _one(kernel_size)),
        None if stride is None else (1, _one(stride)),
        (0, _one(padding)),
    )
    return y.squeeze(2)  # (B, C, 1, L_out) -> (B, C, L_out)


def max_pool1d(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """:func:`max_pool2d` along one dimension: ``(B, C, L)`` -> ``(B, C, L_out)``."""
    return _as_1d(max_pool2d, x, kernel_size, stride, padding)


def avg_pool1d(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """:func:`avg_pool2d` along one dimension: ``(B, C, L)`` -> ``(B, C, L_out)``."""
    return _as_1d(avg_pool2d, x, kernel_size, stride, padding)


# ----------------------------------------------------------------------------- modules
# Subclasses of PyTorch's own layers, so the parameters (names, shapes, and the init
# of reset_parameters: weight kaiming_uniform_(a=√5), bias U(±1/√fan_in)) are theirs
# by construction, state dicts interchange, and code that looks for nn.Conv2d (the
# zoo's initializers) finds these too. Only the arithmetic in forward differs.


class _ImplConv:
    """What :class:`Conv2d` and :class:`Conv1d` add to ``nn.Conv2d`` / ``nn.Conv1d``: an
    ``impl`` switch between PyTorch's kernel (``fused``) and the unfold + matmul
    above (``reference``), over the same parameters."""

    _kernels: tuple[Callable[..., Tensor], Callable[..., Tensor]]  # (fused, reference)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair | str = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        impl: str = "fused",
    ) -> None:
        check_choice("conv impl", impl, IMPLS)
        super().__init__(  # type: ignore[call-arg]  # nn.Conv*d, next in the MRO
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        )
        self.impl = impl

    def forward(self, x: Tensor) -> Tensor:
        fused, reference = self._kernels
        conv = fused if self.impl == "fused" else reference
        return conv(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, impl={self.impl}"  # type: ignore[misc]


class Conv2d(_ImplConv, nn.Conv2d):
    """``nn.Conv2d`` (zero padding only) whose forward is :func:`conv2d` with
    ``impl="reference"`` and :func:`torch.nn.functional.conv2d` with ``impl="fused"``."""

    _kernels = (F.conv2d, conv2d)


class Conv1d(_ImplConv, nn.Conv1d):
    """``nn.Conv1d`` (zero padding only) whose forward is :func:`conv1d` with
    ``impl="reference"`` and :func:`torch.nn.functional.conv1d` with ``impl="fused"``."""

    _kernels = (F.conv1d, conv1d)


_POOL_FUNCTIONS = {
    ("max", 1, "fused"): F.max_pool1d,
    ("max", 2, "fused"): F.max_pool2d,
    ("avg", 1, "fused"): F.avg_pool1d,
    ("avg", 2, "fused"): F.avg_pool2d,
    ("max", 1, "reference"): max_pool1d,
    ("max", 2, "reference"): max_pool2d,
    ("avg", 1, "reference"): avg_pool1d,
    ("avg", 2, "reference"): avg_pool2d,
}


class Pool(nn.Module):
    """Max or average pooling over 1 or 2 spatial dimensions; no parameters.

    Args:
        kind: ``"max"`` or ``"avg"``.
        ndim: 1 for ``(B, C, L)`` inputs, 2 for ``(B, C, H, W)``.
        kernel_size: k; stride defaults to k (windows do not overlap).
        impl: ``"fused"`` (PyTorch's kernels) or ``"reference"`` (the functions above).
    """

    def __init__(
        self,
        kind: str,
        ndim: int,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        check_choice("pool", kind, POOLS)
        if ndim not in (1, 2):
            raise ValueError(f"pooling works over 1 or 2 dimensions, not {ndim}")
        check_choice("pool impl", impl, IMPLS)
        self.kind, self.ndim, self.impl = kind, ndim, impl
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.fn = _POOL_FUNCTIONS[kind, ndim, impl]

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"{self.kind}, kernel_size={self.kernel_size}, ndim={self.ndim}, impl={self.impl}"
