"""NT-Xent and VICReg against their formulas written out directly here, their symmetry in
the two views, and NT-Xent's temperature behaviour (closed forms at the extremes)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

import losses


def views(n: int = 6, d: int = 4, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return z1, z1 + 0.3 * torch.randn(n, d, generator=gen, dtype=torch.float64)


def nt_xent_direct(z1: Tensor, z2: Tensor, tau: float) -> float:
    """SimCLR's eq. (1), summed over the 2N anchors with plain Python loops."""
    z = torch.cat([z1, z2])
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        pos = (i + n2 // 2) % n2

        def sim(a: int, b: int) -> float:
            return float(z[a] @ z[b] / (z[a].norm() * z[b].norm())) / tau

        denominator = sum(math.exp(sim(i, k)) for k in range(n2) if k != i)
        total += -math.log(math.exp(sim(i, pos)) / denominator)
    return total / n2


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_nt_xent_equals_direct_formula(impl: str, tau: float) -> None:
    z1, z2 = views()
    loss = losses.create_loss("nt_xent", temperature=tau, impl=impl)(z1, z2)
    assert loss.item() == pytest.approx(nt_xent_direct(z1, z2, tau), rel=1e-10)


@pytest.mark.parametrize("name", ["nt_xent", "vicreg"])
def test_symmetric_in_the_views(name: str) -> None:
    z1, z2 = views(seed=3)
    fn = losses.create_loss(name)
    torch.testing.assert_close(fn(z1, z2), fn(z2, z1), rtol=1e-12, atol=1e-12)


def test_nt_xent_temperature_closed_forms() -> None:
    """Orthonormal inputs, each view equal to its input: s_ii' = 1/τ, every negative 0,
    so ℓ = log(1 + (2N − 2)·e^(−1/τ)) exactly. A smaller τ gives a smaller loss (→ 0),
    and as τ → ∞ the loss tends to log(2N − 1) (every row uniform)."""
    n = 4
    z = torch.eye(n, dtype=torch.float64)
    values = []
    for tau in (0.05, 0.2, 1.0, 5.0):
        loss = losses.create_loss("nt_xent", temperature=tau)(z, z.clone()).item()
        assert loss == pytest.approx(math.log(1 + (2 * n - 2) * math.exp(-1 / tau)), rel=1e-12)
        values.append(loss)
    assert values == sorted(values) and values[0] < 1e-6
    far = losses.create_loss("nt_xent", temperature=1e6)(*views(n=n)).item()
    assert far == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_nt_xent_pulls_positives_together() -> None:
    """The gradient raises the positive pair's similarity: one step of gradient descent
    lowers the loss and raises cos(z¹_i, z²_i) on average."""
    z1, z2 = views(seed=1)
    z1.requires_grad_(True)
    fn = losses.create_loss("nt_xent", temperature=0.5)
    loss = fn(z1, z2)
    loss.backward()
    stepped = (z1 - 0.5 * z1.grad).detach()
    cos = torch.nn.functional.cosine_similarity
    assert fn(stepped, z2) < loss
    assert cos(stepped, z2).mean() > cos(z1.detach(), z2).mean()


def vicreg_direct(z1: Tensor, z2: Tensor, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    """The paper's Algorithm 1 (PyTorch-style pseudo-code), written out."""
    d = z1.shape[1]
    sim = torch.nn.functional.mse_loss(z1, z2)
    std1, std2 = torch.sqrt(z1.var(0) + eps), torch.sqrt(z2.var(0) + eps)
    std = torch.relu(gamma - std1).mean() + torch.relu(gamma - std2).mean()
    c1 = torch.cov(z1.T)  # unbiased, like the paper's (N − 1)
    c2 = torch.cov(z2.T)

    def off_diagonal(c: Tensor) -> Tensor:
        return c.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()

    cov = off_diagonal(c1).pow(2).sum() / d + off_diagonal(c2).pow(2).sum() / d
    return lam * sim + mu * std + nu * cov


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize(
    "weights", [{}, {"sim_weight": 1.0, "var_weight": 2.0, "cov_weight": 0.5, "gamma": 0.7}]
)
def test_vicreg_equals_paper_pseudocode(impl: str, weights: dict) -> None:
    z1, z2 = views(n=8, d=5)
    ours = losses.create_loss("vicreg", impl=impl, **weights)(z1, z2)
    named = {"sim_weight": "lam", "var_weight": "mu", "cov_weight": "nu", "gamma": "gamma"}
    ref = vicreg_direct(z1, z2, **{named[k]: v for k, v in weights.items()})
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_vicreg_penalizes_collapse() -> None:
    """Every embedding the same: no invariance cost, but the variance term is at its
    maximum, 2·μ·(γ − √ε)."""
    z = torch.ones(8, 5, dtype=torch.float64)
    loss = losses.create_loss("vicreg")(z, z.clone())
    assert loss.item() == pytest.approx(2 * 25 * (1 - math.sqrt(1e-4)))


@pytest.mark.parametrize("name", ["nt_xent", "vicreg"])
def test_refuses_mismatched_views(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: needs two views' embeddings of one shape"):
        losses.create_loss(name)(torch.randn(4, 3), torch.randn(5, 3))


def test_bad_temperature() -> None:
    with pytest.raises(ValueError, match="nt_xent temperature must be > 0, got 0"):
        losses.create_loss("nt_xent", temperature=0)
