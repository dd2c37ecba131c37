"""Per-coordinate step sizes from squared gradients: Adagrad, Adadelta, RMSprop.

All three divide each coordinate's step by a running root of its squared gradients,
so steep coordinates take short steps and flat ones long steps. They differ in
which squared gradients that root remembers (η learning rate, λ L2 weight decay
added to the gradient first, g_t ← g_t + λ·θ_{t−1}; squares and roots are
element-wise):

    adagrad   s_t = s_{t−1} + g_t²                               (Duchi et al., 2011)
              θ_t = θ_{t−1} − η·g_t / (√s_t + ε)
    rmsprop   v_t = α·v_{t−1} + (1 − α)·g_t²               (Tieleman & Hinton, 2012)
              θ_t = θ_{t−1} − η·g_t / (√v_t + ε)
    adadelta  v_t = ρ·v_{t−1} + (1 − ρ)·g_t²                          (Zeiler, 2012)
              Δ_t = √(u_{t−1} + ε) / √(v_t + ε) · g_t
              u_t = ρ·u_{t−1} + (1 − ρ)·Δ_t²
              θ_t = θ_{t−1} − η·Δ_t

Adagrad's sum s only grows, so its effective step η/(√s + ε) only shrinks, however
small the gradients later become; a long run can stall. RMSprop and Adadelta keep
an exponential average instead, which forgets gradients older than about 1/(1 − α)
steps, so the step grows again when the gradients shrink.

Adadelta also replaces η's units: its numerator √u is the RMS of its own recent
updates, so Δ has the units of θ and η = 1 (Zeiler's setting) works without tuning.

s, v and u all start at zero, as in ``torch.optim``. Its extras (Adagrad's
``lr_decay``, RMSprop's ``momentum`` and ``centered``) are left out here.

Where it continues: optimizers/factory.py builds these (``impl=reference``) or
torch.optim's (``impl=fused``) by name; engine/trainer.py steps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from optimizers.base import ReferenceOptimizer


class Adagrad(ReferenceOptimizer):
    """Adagrad. State per parameter: ``s``, the sum of squared gradients.

    Args: lr (η), eps (ε), weight_decay (λ).
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, {"lr": lr, "eps": eps, "weight_decay": weight_decay})

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        if "s" not in state:
            state["s"] = torch.zeros_like(theta)
        s = state["s"]
        s.addcmul_(g, g)  # s = s + g²
        theta.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-group["lr"])  # θ − η·g/(√s + ε)


class RMSprop(ReferenceOptimizer):
    """RMSprop. State per parameter: ``v``, the running mean of squared gradients.

    Args: lr (η), alpha (α, the average's decay), eps (ε), weight_decay (λ).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        if "v" not in state:
            state["v"] = torch.zeros_like(theta)
        v, alpha = state["v"], group["alpha"]
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)  # v = α·v + (1 − α)·g²
        theta.addcdiv_(g, v.sqrt().add_(group["eps"]), value=-group["lr"])  # θ − η·g/(√v + ε)


class Adadelta(ReferenceOptimizer):
    """Adadelta. State per parameter: ``v`` (mean g²) and ``u`` (mean Δ²).

    Args: lr (η), rho (ρ, both averages' decay), eps (ε), weight_decay (λ).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        if "v" not in state:
            state["v"] = torch.zeros_like(theta)
            state["u"] = torch.zeros_like(theta)
        v, u, rho, eps = state["v"], state["u"], group["rho"], group["eps"]
        v.mul_(rho).addcmul_(g, g, value=1 - rho)  # v = ρ·v + (1 − ρ)·g²
        delta = (u + eps).sqrt_().div_((v + eps).sqrt_()).mul_(g)  # Δ = √(u + ε)/√(v + ε)·g
        u.mul_(rho).addcmul_(delta, delta, value=1 - rho)  # u = ρ·u + (1 − ρ)·Δ²
        theta.add_(delta, alpha=-group["lr"])  # θ = θ − η·Δ
