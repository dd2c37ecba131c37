from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo


def known_model() -> nn.Module:
    """Linear weights [[1, -2], [3, 0]] and [[0.5, -1]]; biases and BN γ/β nonzero."""
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))
        model[0].bias.fill_(10.0)
        model[1].weight.fill_(5.0)
        model[1].bias.fill_(-7.0)
        model[2].weight.copy_(torch.tensor([[0.5, -1.0]]))
        model[2].bias.fill_(20.0)
    return model


def test_registered() -> None:
    assert {"none", "l1", "l2", "l1_l2"} <= set(zoo.list_regularizers())


def test_none_returns_none() -> None:
    assert zoo.create_regularizer("none") is None


def test_l2_value_excludes_biases_and_norm_params() -> None:
    penalty = zoo.create_regularizer("l2", strength=0.1)
    expected = 0.1 * (1 + 4 + 9 + 0 + 0.25 + 1)
    assert penalty(known_model()).item() == pytest.approx(expected)


def test_l1_value_excludes_biases_and_norm_params() -> None:
    penalty = zoo.create_regularizer("l1", strength=0.1)
    expected = 0.1 * (1 + 2 + 3 + 0 + 0.5 + 1)
    assert penalty(known_model()).item() == pytest.approx(expected)


def test_l1_l2_is_both_penalties() -> None:
    penalty = zoo.create_regularizer("l1_l2", l1_strength=0.1, l2_strength=0.01)
    expected = 0.1 * (1 + 2 + 3 + 0 + 0.5 + 1) + 0.01 * (1 + 4 + 9 + 0 + 0.25 + 1)
    assert penalty(known_model()).item() == pytest.approx(expected)
    model = known_model()
    penalty(model).backward()
    w = model[0].weight.detach()
    torch.testing.assert_close(model[0].weight.grad, 0.1 * torch.sign(w) + 0.02 * w)
    assert model[0].bias.grad is None


def test_default_strength() -> None:
    penalty = zoo.create_regularizer("l2")
    assert penalty(known_model()).item() == pytest.approx(1e-4 * 15.25)


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_gradient(name: str) -> None:
    lam = 0.3
    model = known_model()
    zoo.create_regularizer(name, strength=lam)(model).backward()
    for layer in (model[0], model[2]):
        w = layer.weight.detach()
        expected = lam * 2 * w if name == "l2" else lam * torch.sign(w)
        torch.testing.assert_close(layer.weight.grad, expected)
    for p in (model[0].bias, model[1].weight, model[1].bias, model[2].bias):
        assert p.grad is None  # not part of the penalty's graph at all


def test_model_without_weights_gives_zero() -> None:
    penalty = zoo.create_regularizer("l2", strength=1.0)
    assert penalty(nn.BatchNorm1d(3)).item() == 0.0


def test_errors() -> None:
    with pytest.raises(ValueError, match="strength must be >= 0, got -1"):
        zoo.create_regularizer("l2", strength=-1)
    with pytest.raises(TypeError):
        zoo.create_regularizer("l1", lam=0.1)
    with pytest.raises(ValueError, match=r"l2_strength must be >= 0, got -0\.5"):
        zoo.create_regularizer("l1_l2", l2_strength=-0.5)
    with pytest.raises(zoo.UnknownNameError, match="l1, l1_l2, l2, none"):
        zoo.create_regularizer("elastic")
