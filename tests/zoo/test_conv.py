"""zoo.conv: from-scratch convolution and pooling equal PyTorch's, values and gradients."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo import apply_initializer
from zoo.conv import (
    Conv1d,
    Conv2d,
    Pool,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_output_size,
    max_pool1d,
    max_pool2d,
)

TOL = {"atol": 1e-5, "rtol": 1e-5}


def leaves(*shapes: tuple[int, ...], seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]


def assert_same_values_and_grads(ours, theirs, inputs: list[torch.Tensor]) -> None:
    """ours(*inputs) == theirs(*inputs), and so are d(Σ y·r)/d(each input)."""
    y_ours, y_theirs = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(y_ours, y_theirs, **TOL)
    r = torch.randn_like(y_theirs)  # a random upstream gradient
    g_ours = torch.autograd.grad(y_ours, inputs, r)
    g_theirs = torch.autograd.grad(y_theirs, inputs, r)
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)


# (C_in, C_out, groups): ordinary, two groups, depthwise (C_out = C_in = groups) and a
# depthwise multiplier of 2 (each channel gets two filters).
GROUPS = [(4, 6, 1), (4, 6, 2), (4, 4, 4), (3, 6, 3)]
GRID_2D = list(
    itertools.product(GROUPS, [1, 2, (2, 1)], [0, 1, (2, 0)], [1, 2, (1, 2)], [(3, 3), (2, 3)])
)


@pytest.mark.parametrize(("channels", "stride", "padding", "dilation", "kernel"), GRID_2D)
def test_conv2d_matches_torch(channels, stride, padding, dilation, kernel) -> None:
    c_in, c_out, groups = channels
    x, w, b = leaves((2, c_in, 9, 8), (c_out, c_in // groups, *kernel), (c_out,))
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    assert_same_values_and_grads(
        lambda x, w, b: conv2d(x, w, b, **kw), lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b]
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(("kernel", "dilation"), [((3, 3), 1), ((2, 4), 1), ((2, 3), 2)])
def test_conv2d_string_padding_matches_torch(padding: str, kernel, dilation: int) -> None:
    # Even spans need one more zero on one side; PyTorch puts it at the end.
    x, w = leaves((2, 3, 7, 6), (5, 3, *kernel))
    kw = {"padding": padding, "dilation": dilation}
    assert_same_values_and_grads(
        lambda x, w: conv2d(x, w, **kw), lambda x, w: F.conv2d(x, w, **kw), [x, w]
    )
    if padding == "same":
        assert conv2d(x, w, **kw).shape[-2:] == x.shape[-2:]


def test_conv2d_without_bias_and_size_formula() -> None:
    x, w = leaves((1, 2, 11, 10), (3, 2, 3, 2))
    y = conv2d(x, w, stride=(3, 2), padding=(1, 2), dilation=(2, 1))
    torch.testing.assert_close(y, F.conv2d(x, w, stride=(3, 2), padding=(1, 2), dilation=(2, 1)))
    assert y.shape[-2:] == (conv_output_size(11, 3, 3, 1, 2), conv_output_size(10, 2, 2, 2, 1))
    assert conv_output_size(11, 3, 3, 1, 2) == (11 + 2 * 1 - 2 * (3 - 1) - 1) // 3 + 1 == 3


GRID_1D = [
    (channels, stride, padding, dilation)
    for channels, stride, padding, dilation in itertools.product(
        GROUPS, [1, 2], [0, 2, "same"], [1, 3]
    )
    if not (padding == "same" and stride != 1)  # "same" needs stride 1
]


@pytest.mark.parametrize(("channels", "stride", "padding", "dilation"), GRID_1D)
def test_conv1d_matches_torch(channels, stride, padding, dilation) -> None:
    c_in, c_out, groups = channels
    x, w, b = leaves((3, c_in, 13), (c_out, c_in // groups, 3), (c_out,))
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    assert_same_values_and_grads(
        lambda x, w, b: conv1d(x, w, b, **kw), lambda x, w, b: F.conv1d(x, w, b, **kw), [x, w, b]
    )


def test_conv2d_by_hand() -> None:
    """A 3x3 image, a 2x2 kernel, no padding: four dot products."""
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)
    w = torch.tensor([[1.0, 0.0], [0.0, -1.0]]).view(1, 1, 2, 2)  # top-left minus bottom-right
    # 1-5, 2-6, 4-8, 5-9, plus the bias 10
    expected = torch.tensor([[6.0, 6.0], [6.0, 6.0]]).view(1, 1, 2, 2)
    torch.testing.assert_close(conv2d(x, w, torch.tensor([10.0])), expected)
    # Stride 2 and one zero of padding: windows at (-1,-1), (-1,1), (1,-1), (1,1).
    torch.testing.assert_close(
        conv2d(x, w, stride=2, padding=1),
        torch.tensor([[-1.0, -3.0], [-7.0, -4.0]]).view(1, 1, 2, 2),
    )


def test_pooling_by_hand() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    torch.testing.assert_close(
        max_pool2d(x, 2), torch.tensor([[5.0, 7.0], [13.0, 15.0]]).view(1, 1, 2, 2)
    )
    torch.testing.assert_close(
        avg_pool2d(x, 2), torch.tensor([[2.5, 4.5], [10.5, 12.5]]).view(1, 1, 2, 2)
    )
    # Padding counts as zeros in the mean (count_include_pad) and never wins the max.
    neg = -torch.ones(1, 1, 2, 2)
    assert max_pool2d(neg, 2, stride=1, padding=1).max() == -1
    torch.testing.assert_close(
        avg_pool2d(neg, 2, stride=2, padding=1), torch.full((1, 1, 2, 2), -0.25)
    )


POOL_GRID_2D = list(itertools.product([2, 3, (2, 3)], [None, 1, 2, (1, 2)], [0, 1, (1, 0)]))


@pytest.mark.parametrize(("kernel", "stride", "padding"), POOL_GRID_2D)
@pytest.mark.parametrize(
    ("ours", "theirs"), [(max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)]
)
def test_pool2d_matches_torch(ours, theirs, kernel, stride, padding) -> None:
    (x,) = leaves((2, 3, 7, 8))
    assert_same_values_and_grads(
        lambda x: ours(x, kernel, stride, padding),
        lambda x: theirs(x, kernel, stride, padding),
        [x],
    )


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(2, None, 0), (3, 1, 1), (3, 2, 1), (4, 3, 2)]
)
@pytest.mark.parametrize(
    ("ours", "theirs"), [(max_pool1d, F.max_pool1d), (avg_pool1d, F.avg_pool1d)]
)
def test_pool1d_matches_torch(ours, theirs, kernel, stride, padding) -> None:
    (x,) = leaves((2, 3, 11))
    assert_same_values_and_grads(
        lambda x: ours(x, kernel, stride, padding),
        lambda x: theirs(x, kernel, stride, padding),
        [x],
    )


def test_max_pool_gradient_on_ties_goes_to_one_element() -> None:
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)  # all tied, as after relu
    (g_ours,) = torch.autograd.grad(max_pool2d(x, 2).sum(), x)
    (g_torch,) = torch.autograd.grad(F.max_pool2d(x, 2).sum(), x)
    assert g_ours.sum() == 4 and g_ours.max() == 1  # one winner per window
    torch.testing.assert_close(g_ours, g_torch)


def test_pool_padding_larger_than_half_the_kernel_is_an_error() -> None:
    with pytest.raises(ValueError, match="at most half the kernel"):
        max_pool2d(torch.zeros(1, 1, 4, 4), 2, padding=2)


def test_same_padding_needs_stride_one() -> None:
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), stride=2, padding="same")


def test_group_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="groups=2"):
        conv2d(torch.zeros(1, 3, 4, 4), torch.zeros(4, 1, 3, 3), groups=2)


# ----------------------------------------------------------------------------- modules


@pytest.mark.parametrize(
    ("ours", "theirs", "x_shape", "kwargs"),
    [
        (
            Conv2d,
            nn.Conv2d,
            (2, 4, 7, 7),
            {"kernel_size": 3, "stride": 2, "padding": 1, "groups": 2},
        ),
        (
            Conv2d,
            nn.Conv2d,
            (2, 4, 6, 6),
            {"kernel_size": (2, 3), "padding": "same", "bias": False},
        ),
        (Conv1d, nn.Conv1d, (2, 4, 9), {"kernel_size": 3, "dilation": 2, "groups": 4}),
    ],
)
def test_modules_have_torch_parameters_and_init(ours, theirs, x_shape, kwargs) -> None:
    torch.manual_seed(0)
    reference = ours(4, 8, impl="reference", **kwargs)
    torch.manual_seed(0)
    library = theirs(4, 8, **kwargs)
    # Same names, shapes and default init (the same random draws, in the same order).
    assert reference.state_dict().keys() == library.state_dict().keys()
    for key, value in library.state_dict().items():
        torch.testing.assert_close(reference.state_dict()[key], value)
    # Weights of one impl load into the other, and all three agree.
    fused = ours(4, 8, impl="fused", **kwargs)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(x_shape)
    torch.testing.assert_close(reference(x), library(x), **TOL)
    torch.testing.assert_close(fused(x), library(x), **TOL)
    assert "impl=reference" in repr(reference)


def test_initializers_reach_the_modules() -> None:
    model = nn.Sequential(Conv2d(3, 4, 3, impl="reference"))
    apply_initializer(model, "zeros")
    assert model[0].weight.abs().sum() == 0


@pytest.mark.parametrize(("kind", "ndim"), [("max", 1), ("max", 2), ("avg", 1), ("avg", 2)])
def test_pool_module_impls_agree(kind: str, ndim: int) -> None:
    x = torch.randn(2, 3, 8) if ndim == 1 else torch.randn(2, 3, 8, 6)
    fused, reference = (Pool(kind, ndim, 2, impl=impl) for impl in ("fused", "reference"))
    torch.testing.assert_close(fused(x), reference(x))
    assert fused(x).shape[-1] == x.shape[-1] // 2


def test_bad_impl_and_pool_names() -> None:
    with pytest.raises(ValueError, match="impl must be one of fused, reference; got 'cuda'"):
        Conv2d(1, 1, 3, impl="cuda")
    with pytest.raises(ValueError, match="pool must be one of max, avg; got 'min'"):
        Pool("min", 2, 2)
