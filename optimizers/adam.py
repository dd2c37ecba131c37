"""Adam and AdamW, from scratch.

Adam (Kingma & Ba, 2015) keeps two exponential averages per coordinate: m, of the
gradient (momentum's velocity), and v, of its square (RMSprop's scale). With
learning rate η, decays β₁, β₂ and step t = 1, 2, ... (element-wise operations):

    m_t = β₁·m_{t−1} + (1 − β₁)·g_t
    v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
    m̂_t = m_t / (1 − β₁ᵗ),   v̂_t = v_t / (1 − β₂ᵗ)
    θ_t = θ_{t−1} − η·m̂_t / (√v̂_t + ε)

m and v start at zero, which biases both towards zero for the first ~1/(1 − β)
steps; dividing by 1 − βᵗ (the weight the average has put on real gradients so
far) removes that bias. The step m̂/√v̂ is about ±1 wherever the gradient is
consistent, so η bounds how far any single coordinate moves per step.

Weight decay λ:

    adam    g_t ← g_t + λ·θ_{t−1}                     (L2, added to the gradient)
    adamw   θ_t ← θ_{t−1}·(1 − η·λ), then the update  (Loshchilov & Hutter, 2019)

In Adam the L2 term passes through the division by √v̂, so coordinates with large
gradients are hardly decayed at all; AdamW's decoupled decay shrinks every weight
by the same factor, which is what weight decay means for plain SGD.

Where it continues: optimizers/factory.py builds these (``impl=reference``) or
torch.optim's (``impl=fused``) by name; engine/trainer.py steps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from optimizers.base import ReferenceOptimizer


class Adam(ReferenceOptimizer):
    """Adam with L2 weight decay added to the gradient.

    Args:
        params: tensors or parameter-group dicts.
        lr: η.
        betas: (β₁, β₂), decays of the averages of g and g².
        eps: ε, added to √v̂ so a coordinate that never had a gradient takes no step.
        weight_decay: λ.

    State per parameter: ``t`` (steps taken), ``m`` and ``v`` shaped like θ.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        eta, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        if "t" not in state:
            state["t"] = 0
            state["m"] = torch.zeros_like(theta)
            state["v"] = torch.zeros_like(theta)
        state["t"] += 1
        t, m, v = state["t"], state["m"], state["v"]
        m.lerp_(g, 1 - beta1)  # m = β₁·m + (1 − β₁)·g
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = β₂·v + (1 − β₂)·g²
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta.addcdiv_(m_hat, v_hat.sqrt_().add_(eps), value=-eta)  # θ − η·m̂/(√v̂ + ε)


class AdamW(Adam):
    """Adam with decoupled weight decay (default λ = 0.01, as in ``torch.optim.AdamW``)."""

    decoupled_weight_decay = True  # θ·(1 − η·λ) instead of g + λ·θ

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
