"""Label-mixing augmentations: mixup and cutmix, with a mixing weight per sample.

Each sample i is paired with a sample j = π(i) of the same batch (π a random
permutation) and mixed with a weight λ_i ~ Beta(α, α):

    mixup   (Zhang et al. 2018):  x̃_i = λ_i·x_i + (1 − λ_i)·x_j
    cutmix  (Yun et al. 2019):    x̃_i = x_i outside a box, x_j inside it; the box
                                  covers a fraction 1 − λ_i of the image, and λ_i is
                                  then recomputed from the box as clipped to the image
    both:                         t̃_i = λ_i·t_i + (1 − λ_i)·t_j

so the targets must be class distributions ``(B, C)`` (one-hot rows: ``loss=cross_entropy``,
or ``bce``'s one-vs-rest columns), and the mixed ones are again distributions: the
two weights of every sample sum to 1. The soft targets go through cross-entropy's
path for probabilities, ℓ_i = −Σ_c t̃_ic · log p_ic = λ_i·ℓ(x̃_i, t_i) + (1 − λ_i)·ℓ(x̃_i, t_j).

torchvision's ``v2.MixUp`` and ``v2.CutMix`` draw one λ per batch and pair each
sample with its neighbour (``roll(1)``); these draw a λ per sample and a random
pairing. ``torch.distributions.Beta`` draws from the global RNG, so λ is drawn here
from the generator: Beta(α, α) = G₁ / (G₁ + G₂) for G ~ Gamma(α), and Gamma by
Marsaglia & Tsang's rejection method (2000), vectorized over the batch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from augment.base import Mixing, box_mask, register_augment, uniform

ROUNDS = 8  # rejection rounds; each accepts with probability > 0.95 (alpha' >= 1)


def sample_gamma(alpha: float, n: int, generator: torch.Generator, device) -> Tensor:
    """``n`` draws of Gamma(α, 1): Marsaglia & Tsang, with d = α − 1/3, c = 1/√(9d),
    accept d·v for v = (1 + c·z)³, z ~ N(0, 1), when log u < z²/2 + d − d·v + d·log v.
    For α < 1, Gamma(α) = Gamma(α + 1) · U^(1/α)."""
    a = alpha + 1 if alpha < 1 else alpha
    d = a - 1 / 3
    c = 1 / math.sqrt(9 * d)
    out = torch.full((n,), float("nan"), device=device)
    for _ in range(ROUNDS):
        z = torch.randn(n, generator=generator, device=device)
        u = torch.rand(n, generator=generator, device=device)
        v = (1 + c * z) ** 3
        accept = (v > 0) & (u.log() < z**2 / 2 + d - d * v + d * v.clamp_min(1e-30).log())
        out = torch.where(out.isnan() & accept, d * v, out)
    out = torch.where(out.isnan(), torch.full_like(out, d), out)  # (0.05 ** ROUNDS)
    if alpha < 1:
        out = out * torch.rand(n, generator=generator, device=device) ** (1 / alpha)
    return out


def sample_beta(alpha: float, n: int, generator: torch.Generator, device) -> Tensor:
    """``n`` draws of Beta(α, α): ``(n,)``."""
    g1 = sample_gamma(alpha, n, generator, device)
    g2 = sample_gamma(alpha, n, generator, device)
    return g1 / (g1 + g2)


def mix_targets(t: Tensor, lam: Tensor, perm: Tensor) -> Tensor:
    """t̃_i = λ_i·t_i + (1 − λ_i)·t_π(i), for targets ``(B, C)``."""
    lam = lam.to(t.dtype).view(-1, *([1] * (t.ndim - 1)))
    return lam * t + (1 - lam) * t[perm]


def mixup(x: Tensor, t: Tensor, lam: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Mixup for given weights ``lam`` ``(B,)`` and pairing ``perm`` ``(B,)``."""
    w = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return w * x + (1 - w) * x[perm], mix_targets(t, lam, perm)


def cutmix(x: Tensor, t: Tensor, box: tuple[Tensor, ...], perm: Tensor) -> tuple[Tensor, Tensor]:
    """Cutmix for given boxes (top, left, height, width, each ``(B,)``) and pairing:
    the box of x_i comes from x_π(i); λ_i is the share of the image outside the box."""
    top, left, height, width = box
    h, w = x.shape[-2:]
    inside = box_mask((h, w), top, left, height, width)  # (B, 1, H, W)
    lam = 1 - (height * width) / (h * w)
    return torch.where(inside, x[perm], x), mix_targets(t, lam, perm)


def check_alpha(name: str, alpha: float) -> float:
    if not alpha > 0:
        raise ValueError(f"augment {name}: alpha must be > 0 (Beta(alpha, alpha)), got {alpha}")
    return float(alpha)


@register_augment("mixup", kinds=("image", "sequence"), mixes=True)
class MixUp(Mixing):
    """Mixup with λ ~ Beta(α, α) per sample (α = 0.2 in Zhang et al.'s ImageNet runs;
    α = 1 is λ ~ U[0, 1])."""

    name = "mixup"
    kinds = ("image", "sequence")

    def __init__(self, alpha: float = 0.4, p: float = 1.0) -> None:
        super().__init__(p)
        self.alpha = check_alpha("mixup", alpha)

    def mix(self, x: Tensor, t: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n, dev = x.shape[0], x.device
        perm = torch.randperm(n, generator=generator, device=dev)
        lam = sample_beta(self.alpha, n, generator, dev)
        if self.p < 1:  # a sample left alone is mixed with weight 1 on itself
            lam = torch.where(uniform(generator, n, 0, 1, dev) < self.p, lam, torch.ones_like(lam))
        return mixup(x, t, lam, perm)


@register_augment("cutmix", kinds=("image",), mixes=True)
class CutMix(Mixing):
    """Cutmix with λ ~ Beta(α, α) per sample (α = 1 in Yun et al.): a box of sides
    √(1 − λ)·(H, W) centred at a uniform point, clipped to the image."""

    name = "cutmix"
    kinds = ("image",)

    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        super().__init__(p)
        self.alpha = check_alpha("cutmix", alpha)

    def mix(self, x: Tensor, t: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n, dev = x.shape[0], x.device
        h, w = x.shape[-2:]
        perm = torch.randperm(n, generator=generator, device=dev)
        side = torch.sqrt(1 - sample_beta(self.alpha, n, generator, dev))  # (B,)
        if self.p < 1:  # an empty box leaves the sample as it was
            side = side * (uniform(generator, n, 0, 1, dev) < self.p)
        cy, cx = uniform(generator, n, 0, h, dev), uniform(generator, n, 0, w, dev)
        top = (cy - side * h / 2).round().clamp(0, h)
        bottom = (cy + side * h / 2).round().clamp(0, h)
        left = (cx - side * w / 2).round().clamp(0, w)
        right = (cx + side * w / 2).round().clamp(0, w)
        return cutmix(x, t, (top, left, bottom - top, right - left), perm)
