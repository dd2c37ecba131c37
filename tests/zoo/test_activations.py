from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo

REQUIRED = ["relu", "tanh", "sigmoid", "leaky_relu", "prelu", "elu", "gelu", "silu", "identity"]


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


def value_and_slope(
    name: str, x: torch.Tensor, **kwargs: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """φ(x) and φ'(x), the slope by autograd (φ acts per element)."""
    x = x.clone().requires_grad_(True)
    y = zoo.make_activation(name, **kwargs)(x)
    (slope,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), slope


XS = torch.linspace(-6, 6, 241)  # includes 0; every activation's interesting region
NEG, POS = XS < -0.05, XS > 0.05


# name -> (open range of φ, φ(0), sign of φ' left of 0, sign of φ' right of 0).
# A sign of 0 means "exactly 0"; gelu and silu dip below 0 (slope < 0) before 0 only
# for x below about -0.75 / -1.28, so their left side is checked where x < -2.
PROPERTIES = {
    "sigmoid": ((0.0, 1.0), 0.5, 1, 1),
    "tanh": ((-1.0, 1.0), 0.0, 1, 1),
    "relu": ((0.0, None), 0.0, 0, 1),
    "leaky_relu": ((None, None), 0.0, 1, 1),
    "prelu": ((None, None), 0.0, 1, 1),
    "elu": ((-1.0, None), 0.0, 1, 1),
    "gelu": ((-0.2, None), 0.0, -1, 1),
    "silu": ((-0.3, None), 0.0, -1, 1),
    "identity": ((None, None), 0.0, 1, 1),
}


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_defining_properties(name: str) -> None:
    (lo, hi), at_zero, left, right = PROPERTIES[name]
    y, slope = value_and_slope(name, XS)
    if lo is not None:
        assert (y >= lo).all() and y.min() < lo + 0.1  # bounded below, and gets near lo
    if hi is not None:
        assert (y <= hi).all() and y.max() > hi - 0.1
    assert y[120].item() == pytest.approx(at_zero, abs=1e-6)  # XS[120] == 0
    far_left = XS < -2 if name in ("gelu", "silu") else NEG
    assert (torch.sign(slope[far_left]) == left).all(), name
    assert (torch.sign(slope[POS]) == right).all(), name


def test_saturating_activations_have_vanishing_slopes() -> None:
    """sigmoid' <= 1/4 everywhere, and both sigmoid' and tanh' -> 0 for large |x|."""
    _, s = value_and_slope("sigmoid", XS)
    assert s.max().item() == pytest.approx(0.25, abs=1e-6) and s[0] < 3e-3
    _, t = value_and_slope("tanh", XS)
    assert t.max().item() == pytest.approx(1.0, abs=1e-6) and t[0] < 3e-5


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("gelu", lambda x: x * 0.5 * (1 + torch.erf(x / 2**0.5))),  # x·Φ(x)
        ("silu", lambda x: x * torch.sigmoid(x)),
        ("elu", lambda x: torch.where(x > 0, x, torch.expm1(x))),
        ("tanh", lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    ],
)
def test_matches_its_formula(name: str, formula) -> None:
    torch.testing.assert_close(zoo.make_activation(name)(XS), formula(XS))


def test_leaky_relu_negative_slope_option() -> None:
    y, slope = value_and_slope("leaky_relu", XS, negative_slope=0.2)
    torch.testing.assert_close(slope[NEG], torch.full_like(slope[NEG], 0.2))
    torch.testing.assert_close(y[NEG], 0.2 * XS[NEG])
    torch.testing.assert_close(slope[POS], torch.ones_like(slope[POS]))


def test_prelu_slope_is_learned() -> None:
    act = zoo.make_activation("prelu", init=0.1)
    (a,) = act.parameters()
    assert a.item() == pytest.approx(0.1)
    x = torch.tensor([-2.0, -1.0, 3.0])
    act(x).sum().backward()
    # ∂/∂a Σ prelu(x) = Σ_{x<0} x = -3: only the negative inputs reach the slope.
    assert a.grad is not None and a.grad.item() == pytest.approx(-3.0)


def test_prelu_slopes_per_layer_in_an_mlp() -> None:
    model = zoo.MLP(4, 2, hidden_size=8, num_layers=3, activation="prelu", norm="none")
    slopes = [p for n, p in model.named_parameters() if p.ndim == 1 and n.endswith("1.weight")]
    assert len(slopes) == 3  # one learnable slope per hidden layer, not one shared
    model(torch.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in slopes)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("sigmoid", {"negative_slope": 0.2}, "activation 'sigmoid' has no option negative_slope"),
        ("leaky_relu", {"alpha": 1.0}, "it takes negative_slope"),
        ("relu", {"inplace": True}, "it takes none"),
    ],
)
def test_unknown_option_is_a_type_error(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        zoo.make_activation(name, **kwargs)
