"""The GAN loss against PyTorch's BCE, and the behaviour its options are there for."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import losses


def logits(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n, 1, generator=g, dtype=torch.float64)).requires_grad_(True)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_loss_is_bce_real_toward_label_fake_toward_zero(impl, real_label):
    real, fake = logits(7, 0), logits(5, 1)
    loss = losses.create_loss("gan", impl=impl, real_label=real_label)
    expected = F.binary_cross_entropy_with_logits(
        real, torch.full_like(real, real_label)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    got = loss.discriminator_loss(real, fake)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(loss(real, fake), expected)  # calling it is D's loss
    g_got = torch.autograd.grad(got, (real, fake))
    g_exp = torch.autograd.grad(expected, (real, fake))
    for a, b in zip(g_got, g_exp, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_generator_losses(impl):
    fake = logits(9, 2)
    ns = losses.create_loss("gan", impl=impl).generator_loss(fake)
    mm = losses.create_loss("gan", impl=impl, generator="minimax").generator_loss(fake)
    torch.testing.assert_close(ns, -F.logsigmoid(fake).mean())  # −log D(G(z))
    torch.testing.assert_close(mm, torch.log1p(-torch.sigmoid(fake)).mean())  # log(1 − D(G(z)))


def test_non_saturating_loss_keeps_its_gradient_where_minimax_loses_it():
    # D rejects the fakes confidently (logit −8, D(G(z)) ≈ 3e-4): the minimax gradient
    # is ≈ −σ(d) ≈ 0, the non-saturating one ≈ σ(d) − 1 ≈ −1.
    fake = torch.full((4, 1), -8.0, dtype=torch.float64, requires_grad=True)
    (g_ns,) = torch.autograd.grad(losses.create_loss("gan").generator_loss(fake), fake)
    (g_mm,) = torch.autograd.grad(
        losses.create_loss("gan", generator="minimax").generator_loss(fake), fake
    )
    assert g_ns.abs().min() > 1000 * g_mm.abs().max()
    torch.testing.assert_close(g_ns * 4, torch.sigmoid(fake).detach() - 1)


def test_label_smoothing_stops_rewarding_ever_larger_real_logits():
    big = torch.tensor([[20.0]], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([[-20.0]], dtype=torch.float64)
    (g_plain,) = torch.autograd.grad(losses.create_loss("gan")(big, fake), big)
    (g_smooth,) = torch.autograd.grad(losses.create_loss("gan", real_label=0.9)(big, fake), big)
    assert g_plain.item() < 0 and abs(g_plain.item()) < 1e-6  # still pushing up, barely
    assert g_smooth.item() == pytest.approx(0.1, abs=1e-6)  # pushes the logit back down


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"generator": "wasserstein"}, "non_saturating, minimax; got 'wasserstein'"),
        ({"real_label": 0.0}, r"real_label must be in \(0, 1\]"),
        ({"real_label": 1.5}, r"real_label must be in \(0, 1\]"),
        ({"reduction": "sum"}, "reduction must be one of mean; got 'sum'"),
    ],
)
def test_bad_options_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.create_loss("gan", **kwargs)
