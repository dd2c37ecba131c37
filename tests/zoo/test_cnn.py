"""model=cnn: structure, the three input kinds, pooling that never empties a map."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_cfg
from torch import nn

import zoo
import zoo.cnn
from engine.run import kwargs_of
from zoo import DataSpec
from zoo.cnn import CNN
from zoo.conv import Conv1d, Conv2d, Pool

DIGITS = DataSpec("image", (1, 8, 8), "classification", num_classes=10)


def blocks_of(model: CNN) -> list[list[type]]:
    return [[type(m) for m in block] for block in model.blocks]


def test_default_structure_on_digits() -> None:
    model = zoo.create_model("cnn", DIGITS)
    assert blocks_of(model) == [[Conv2d, nn.BatchNorm2d, nn.ReLU, Pool]] * 2
    conv1, conv2 = (block[0] for block in model.blocks)
    assert conv1.weight.shape == (32, 1, 3, 3) and conv2.weight.shape == (64, 32, 3, 3)
    assert conv1.bias is None  # BatchNorm's β replaces it
    assert model.out_size == (2, 2)  # 8 -> 4 -> 2
    head = [type(m) for m in model.head]
    assert head == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert model.head[1].in_features == 64 * 2 * 2 and model.head[-1].out_features == 10


def test_config_mirrors_builder() -> None:
    cfg = compose_cfg("model=cnn")
    model = zoo.create_model("cnn", DIGITS, **kwargs_of(cfg.model))
    default = zoo.create_model("cnn", DIGITS)
    assert repr(model) == repr(default)


@pytest.mark.parametrize(
    ("spec", "x_shape", "conv", "in_channels"),
    [
        (
            DataSpec("image", (3, 12, 10), "classification", num_classes=4),
            (5, 3, 12, 10),
            Conv2d,
            3,
        ),
        (DataSpec("sequence", (20, 6), "classification", num_classes=4), (5, 20, 6), Conv1d, 6),
        (DataSpec("vector", (30,), "regression", num_targets=2), (5, 30), Conv1d, 1),
    ],
    ids=["image", "sequence", "vector"],
)
def test_input_kinds(spec: DataSpec, x_shape: tuple, conv: type, in_channels: int) -> None:
    model = zoo.create_model("cnn", spec)
    first = model.blocks[0][0]
    assert type(first) is conv and first.in_channels == in_channels
    y = model(torch.randn(x_shape))
    assert y.shape == (5, spec.num_outputs)


def test_sequence_features_are_channels() -> None:
    """A sequence (B, T, F) reads like the (B, F, T) signal of F channels."""
    torch.manual_seed(0)
    seq = zoo.create_model("cnn", DataSpec("sequence", (16, 3), "classification", num_classes=2))
    seq.eval()
    x = torch.randn(4, 16, 3)
    h = seq.blocks(x.transpose(1, 2))
    torch.testing.assert_close(seq(x), seq.head(h))
    torch.testing.assert_close(seq(x, torch.tensor([16, 9, 3, 1])), seq(x))  # lengths accepted


def test_pooling_skipped_when_the_map_is_smaller_than_the_window() -> None:
    model = CNN(1, (8, 8), 10, widths=[4, 4, 4, 4], pool_size=2)
    # 8 -> 4 -> 2 -> 1 -> 1: the fourth block meets a 1x1 map and does not pool.
    assert [any(isinstance(m, Pool) for m in block) for block in model.blocks] == [
        True,
        True,
        True,
        False,
    ]
    assert model.out_size == (1, 1)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    wide = CNN(1, (5,), 3, widths=[2, 2], pool_size=3)  # 5 -> 1 (floor), then no pool
    assert wide.out_size == (1,)


@pytest.mark.parametrize("pool", ["max", "avg", "none"])
def test_pool_kinds_and_explicit_padding(pool: str) -> None:
    model = CNN(1, (12, 12), 3, widths=[4, 8], kernel_size=[5, 3], padding=0, pool=pool)
    # valid convs: 12 -5+1 = 8 -> pool 4 -> 3x3 conv 2 -> pool 1 (or 8 -> 6 without pooling)
    assert model.out_size == ((1, 1) if pool != "none" else (6, 6))
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 3)


def test_no_hidden_layer_no_norm_no_dropout() -> None:
    model = CNN(1, (8, 8), 10, widths=[4], hidden_size=0, norm="none", dropout=0.0)
    assert blocks_of(model) == [[Conv2d, nn.ReLU, Pool]]
    assert model.blocks[0][0].bias is not None
    assert [type(m) for m in model.head] == [nn.Flatten, nn.Linear]


def test_impls_agree_and_share_checkpoints() -> None:
    torch.manual_seed(0)
    fused = CNN(2, (9, 9), 4, widths=[3, 5], dropout=0.0, impl="fused")
    reference = CNN(2, (9, 9), 4, widths=[3, 5], dropout=0.0, impl="reference")
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(6, 2, 9, 9)
    torch.testing.assert_close(reference(x), fused(x))  # training mode: batch statistics
    fused.eval()
    reference.eval()
    torch.testing.assert_close(reference(x), fused(x))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("cnn", DIGITS, impl="reference")
    model(torch.randn(8, 1, 8, 8)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_feature_maps_and_filters() -> None:
    model = zoo.create_model("cnn", DIGITS, widths=[6, 10])
    model.train()
    maps = model.feature_maps(torch.randn(3, 1, 8, 8))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "block1": (3, 6, 4, 4),
        "block2": (3, 10, 2, 2),
    }
    assert model.training  # restored after the eval-mode pass
    assert not any(v.requires_grad for v in maps.values())
    seq = zoo.create_model("cnn", DataSpec("sequence", (12, 3), "classification", num_classes=2))
    seq_maps = seq.feature_maps(torch.randn(2, 12, 3), torch.tensor([12, 5]))
    assert seq_maps["block2"].shape == (2, 64, 3)  # (B, C, L): 12 -> 6 -> 3
    assert model.first_layer_filters().shape == (6, 1, 3, 3)
    vector = zoo.create_model("cnn", DataSpec("vector", (16,), "classification", num_classes=2))
    assert vector.first_layer_filters().shape == (32, 1, 1, 3)  # 1-D kernels, kH = 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": []}, "widths must be a non-empty list"),
        ({"kernel_size": [3]}, r"kernel_size must be an int >= 1 or one per block \(2\)"),
        ({"padding": "full"}, "padding must be 'same' or an int >= 0, got 'full'"),
        (
            {"padding": 0, "kernel_size": 9},
            "block 1: a 9-wide kernel with padding 0 leaves no output",
        ),
        ({"pool": "min"}, "pool must be one of max, avg, none; got 'min'"),
        ({"pool_size": 0}, "pool_size must be >= 1, got 0"),
        ({"norm": "layer"}, "norm must be one of none, batch; got 'layer'"),
        ({"hidden_size": -1}, "hidden_size must be >= 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"impl": "cuda"}, "impl must be one of fused, reference; got 'cuda'"),
    ],
)
def test_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("cnn", DIGITS, **kwargs)


def test_unknown_activation_lists_names() -> None:
    with pytest.raises(zoo.UnknownNameError, match="relu"):
        zoo.create_model("cnn", DIGITS, activation="swish2")
