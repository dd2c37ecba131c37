"""What every from-scratch optimizer here shares: the loop over parameters.

``step()`` visits every θ that has a gradient, applies weight decay λ, and hands
the rest to the subclass's ``update(θ, g, state, group)``, which is the update rule
and nothing else. Weight decay comes in two forms:

    L2 (default)   g ← g + λ·θ                (through the gradient, so adaptive
                                               methods rescale it with everything else)
    decoupled      θ ← θ·(1 − η·λ)            (Loshchilov & Hutter 2019: every weight
                                               shrinks by the same factor)

Where it continues: the update rules are the subclasses in sgd.py, adaptive.py and
adam.py, built by optimizers/factory.py with ``impl=reference``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer


class ReferenceOptimizer(Optimizer):
    """Base class: ``step()`` calls ``update(θ, g, state, group)`` for each θ with a gradient."""

    decoupled_weight_decay: ClassVar[bool] = False

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:  # torch.optim's protocol: re-evaluate the loss first
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lam = group["weight_decay"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if lam != 0:
                    if self.decoupled_weight_decay:
                        theta.mul_(1 - group["lr"] * lam)  # θ = θ·(1 − η·λ)
                    else:
                        g = g + lam * theta  # g = g + λ·θ
                self.update(theta, g, self.state[theta], group)
        return loss

    def update(self, theta: Tensor, g: Tensor, state: dict[str, Any], group: dict) -> None:
        raise NotImplementedError
