"""Stochastic gradient descent with heavy-ball or Nesterov momentum, from scratch.

For a parameter θ with mini-batch gradient g_t, learning rate η, momentum μ and
L2 weight decay λ (added to the gradient, as ``torch.optim.SGD`` does):

    g_t ← g_t + λ·θ_{t−1}
    sgd       θ_t = θ_{t−1} − η·g_t                                  (μ = 0)
    momentum  v_t = μ·v_{t−1} + g_t,   θ_t = θ_{t−1} − η·v_t          (Polyak, 1964)
    nesterov  v_t = μ·v_{t−1} + g_t,   θ_t = θ_{t−1} − η·(g_t + μ·v_t)
              (Nesterov, 1983, in the form of Sutskever et al., 2013)

v is a velocity: with a steady gradient it grows to g/(1 − μ), so μ = 0.9 takes up
to ten times the plain step along directions where successive gradients agree,
while components that flip sign from step to step cancel inside v.

Nesterov's method evaluates the gradient at the look-ahead point θ + μ·v instead
of at θ. Sutskever et al. rewrite it in terms of that look-ahead point, so the
gradient the loop already has is the right one and the step only changes from v
to g + μ·v: the current gradient gets applied once more, before the velocity
has carried it there, which corrects an overshoot a step earlier.

v starts at zero, so v_1 = g_1 (``torch.optim.SGD`` copies g_1 into its buffer,
the same number).

Where it continues: optimizers/factory.py builds these (``impl=reference``) or
torch.optim.SGD (``impl=fused``) by name; engine/trainer.py steps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from optimizers.base import ReferenceOptimizer


class SGD(ReferenceOptimizer):
    """The update rule above; ``momentum=0`` is plain SGD and keeps no state.

    Args:
        params: tensors or parameter-group dicts.
        lr: η.
        momentum: μ in [0, 1).
        weight_decay: λ, an L2 term added to the gradient.
        nesterov: use the look-ahead step g + μ·v instead of v (needs μ > 0).

    State per parameter (with μ > 0): ``v``, the velocity, shaped like θ.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if nesterov and momentum <= 0:
            raise ValueError(f"nesterov needs momentum > 0, got {momentum}")
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        super().__init__(params, {**defaults, "nesterov": nesterov})

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        mu = group["momentum"]
        if mu != 0:
            if "v" not in state:
                state["v"] = torch.zeros_like(theta)
            v = state["v"]
            v.mul_(mu).add_(g)  # v = μ·v + g
            g = g + mu * v if group["nesterov"] else v
        theta.add_(g, alpha=-group["lr"])  # θ = θ − η·(v or g + μ·v)
