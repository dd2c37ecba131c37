from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from torch import nn

import zoo
from zoo import DataSpec, Perceptron


def test_is_one_linear_neuron_layer() -> None:
    spec = DataSpec("vector", (30,), "classification", num_classes=5)
    model = zoo.create_model("perceptron", spec)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1
    assert sum(p.numel() for p in model.parameters()) == (30 + 1) * 5


def test_binary_head_has_one_neuron() -> None:
    spec = DataSpec("image", (1, 4, 4), "classification", num_classes=2)
    model = zoo.create_model("perceptron", spec, out_features=1)
    assert sum(p.numel() for p in model.parameters()) == 16 + 1
    assert model(torch.randn(3, 1, 4, 4)).shape == (3, 1)


def test_forward_is_w_dot_x_plus_b() -> None:
    model = Perceptron(3, 1)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
        model.linear.bias.fill_(0.25)
    z = model(torch.tensor([[2.0, 1.0, 4.0]]))
    assert z.item() == pytest.approx(2.0 - 2.0 + 2.0 + 0.25)


def test_predict_proba_sigmoid_for_one_output() -> None:
    model = Perceptron(3, 1)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[100.0, 0.0, 0.0]]))
        model.linear.bias.zero_()
    x = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 5.0, 5.0]])
    p = model.predict_proba(x)
    assert p.shape == (3, 1)
    torch.testing.assert_close(p[:, 0], torch.tensor([1.0, 0.0, 0.5]))
    torch.testing.assert_close(p, torch.sigmoid(model(x)))


def test_predict_proba_softmax_for_several_outputs() -> None:
    torch.manual_seed(0)
    model = Perceptron(6, 4)
    x = torch.randn(5, 6)
    p = model.predict_proba(x)
    assert p.shape == (5, 4)
    assert (p > 0).all() and (p < 1).all()
    torch.testing.assert_close(p.sum(dim=1), torch.ones(5))
    assert torch.equal(p.argmax(1), model(x).argmax(1))


def test_rejects_empty_layer() -> None:
    with pytest.raises(ValueError, match="out_features"):
        Perceptron(3, 0)


def test_learns_breast_cancer() -> None:
    """A single sigmoid neuron separates the (standardized) breast-cancer data well."""
    data = load_breast_cancer()
    x = torch.tensor(data.data, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    y = torch.tensor(data.target, dtype=torch.float32).unsqueeze(1)  # (N, 1)
    spec = DataSpec("vector", (x.shape[1],), "classification", num_classes=2)
    torch.manual_seed(0)
    model = zoo.create_model("perceptron", spec, out_features=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):  # full-batch gradient descent
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    accuracy = ((model.predict_proba(x) > 0.5).float() == y).float().mean().item()
    assert accuracy > 0.9
