from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import zoo
from zoo.initializers import fans

SCHEMES = [n for n in zoo.list_initializers() if n != "default"]


def small_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
    )


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_expected_schemes_registered() -> None:
    expected = {"default", "zeros", "normal", "xavier_uniform", "xavier_normal"}
    expected |= {"he_uniform", "he_normal", "orthogonal"}
    assert expected <= set(zoo.list_initializers())


@pytest.mark.parametrize("name", SCHEMES)
def test_biases_zero_and_norm_layers_untouched(name: str) -> None:
    model = small_model()
    with torch.no_grad():
        model[1].weight.fill_(3.0)  # a BatchNorm γ that an initializer must not reset
    zoo.apply_initializer(model, name, generator=seeded(0))
    for layer in (model[0], model[3], model[5]):
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    assert torch.equal(model[1].weight, torch.full((8,), 3.0))
    x = torch.randn(2, 3, 4, 4)
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize("name", SCHEMES)
def test_same_seed_same_weights(name: str) -> None:
    a = zoo.apply_initializer(small_model(), name, generator=seeded(7))
    b = zoo.apply_initializer(small_model(), name, generator=seeded(7))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    if name != "zeros":
        c = zoo.apply_initializer(small_model(), name, generator=seeded(8))
        assert not torch.equal(a[5].weight, c[5].weight)


def test_default_leaves_weights_unchanged() -> None:
    torch.manual_seed(0)
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert zoo.apply_initializer(model, "default") is model
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(TypeError):
        zoo.apply_initializer(model, "default", std=1.0)


def test_fans() -> None:
    assert fans(nn.Linear(512, 128)) == (512, 128)
    assert fans(nn.Conv2d(32, 64, 4)) == (32 * 16, 64 * 16)
    assert fans(nn.Conv1d(8, 6, 3, groups=2)) == (4 * 3, 3 * 3)
    # Transposed convs store (in, out/groups, *k): fans swap relative to plain convs.
    assert fans(nn.ConvTranspose2d(32, 64, 4)) == (32 * 16, 64 * 16)
    assert fans(nn.ConvTranspose1d(8, 6, 3, groups=2)) == (4 * 3, 3 * 3)


# Layers with fan_in = 512 (the formulas need fan_out too: 256 for Linear, 1024 for Conv).
LAYERS = {
    "linear": lambda: nn.Linear(512, 256),
    "conv": lambda: nn.Conv2d(32, 64, 4),
}


def expected_var(name: str, fan_in: int, fan_out: int, rows: int, cols: int) -> float:
    """Var(W) each scheme's formula gives (uniform: Var(U(−a, a)) = a²/3)."""
    return {
        "xavier_uniform": (6 / (fan_in + fan_out)) / 3,
        "xavier_normal": 2 / (fan_in + fan_out),
        "he_uniform": (6 / fan_in) / 3,
        "he_normal": 2 / fan_in,
        "normal": 0.01**2,
        # min(rows, cols) orthonormal vectors of length max(rows, cols): Σ W² = min(·),
        # spread over rows·cols entries.
        "orthogonal": 1 / max(rows, cols),
        # PyTorch: U(±1/√fan_in) (kaiming_uniform_ with a = √5), so (1/fan_in)/3.
        "default": 1 / (3 * fan_in),
        "zeros": 0.0,
    }[name]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("name", zoo.list_initializers())
def test_variance_matches_formula(name: str, layer: str) -> None:
    torch.manual_seed(0)  # for "default", which keeps PyTorch's init (no generator)
    module = LAYERS[layer]()
    fan_in, fan_out = fans(module)
    assert fan_in == 512
    w = zoo.apply_initializer(module, name, generator=seeded(0)).weight.detach()
    rows, cols = w.shape[0], w[0].numel()
    target = expected_var(name, fan_in, fan_out, rows, cols)
    # 131k (linear) / 32k (conv) samples: the sample variance is within ~1.5% (3σ).
    assert w.var().item() == pytest.approx(target, rel=0.04, abs=1e-12)
    assert abs(w.mean().item()) <= 0.02 * target**0.5
    if name.endswith("uniform") or name == "default":
        bound = math.sqrt(3 * target)  # U(−a, a) has variance a²/3
        assert w.abs().max().item() <= bound * (1 + 1e-6)
        assert w.abs().max().item() > 0.99 * bound


def test_normal_std_kwarg() -> None:
    w = zoo.apply_initializer(nn.Linear(512, 256), "normal", seeded(0), std=0.5).weight
    assert w.std().item() == pytest.approx(0.5, rel=0.02)


def test_zeros() -> None:
    model = zoo.apply_initializer(nn.Linear(5, 3), "zeros")
    assert not model.weight.any() and not model.bias.any()


@pytest.mark.parametrize(("rows", "cols"), [(64, 512), (512, 64), (100, 100)])
def test_orthogonal(rows: int, cols: int) -> None:
    w = zoo.apply_initializer(nn.Linear(cols, rows), "orthogonal", seeded(0)).weight.detach()
    w = w.double()
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(
        gram, torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-5, rtol=0
    )


def test_orthogonal_conv_and_gain() -> None:
    conv = zoo.apply_initializer(nn.Conv2d(16, 8, 3), "orthogonal", seeded(0), gain=2.0)
    w = conv.weight.detach().reshape(8, -1).double()  # (out, in·k·k) = (8, 144)
    torch.testing.assert_close(w @ w.T, 4 * torch.eye(8, dtype=torch.float64), atol=1e-5, rtol=0)


def test_unknown_initializer_lists_names() -> None:
    with pytest.raises(zoo.UnknownNameError, match="he_normal"):
        zoo.apply_initializer(nn.Linear(2, 2), "lecun")
