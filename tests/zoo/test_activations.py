from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo

REQUIRED = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu", "identity"]


def test_required_activations_are_registered() -> None:
    assert set(REQUIRED) <= set(zoo.list_activations())


@pytest.mark.parametrize("name", zoo.list_activations())
def test_elementwise_module(name: str) -> None:
    act = zoo.make_activation(name)
    assert isinstance(act, nn.Module)
    x = torch.randn(3, 5)
    y = act(x)
    assert y.shape == x.shape
    torch.testing.assert_close(act(x[:1]), y[:1])  # acts per element, not per batch


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("relu", [0.0, 0.0, 2.0]),
        ("identity", [-1.0, 0.0, 2.0]),
        ("leaky_relu", [-0.01, 0.0, 2.0]),
        ("sigmoid", [1 / (1 + torch.e), 0.5, 1 / (1 + torch.e**-2)]),
    ],
)
def test_values(name: str, expected: list[float]) -> None:
    y = zoo.make_activation(name)(torch.tensor([-1.0, 0.0, 2.0]))
    torch.testing.assert_close(y, torch.tensor(expected))


def test_fresh_instance_each_call() -> None:
    assert zoo.make_activation("relu") is not zoo.make_activation("relu")
