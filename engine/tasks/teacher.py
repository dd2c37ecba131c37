"""An exponential-moving-average teacher: a copy of the model whose weights trail it.

Mean Teacher (Tarvainen & Valpola, "Mean teachers are better role models", 2017)
averages the student's weights over training steps instead of its predictions over
epochs (temporal ensembling). After every optimizer step t:

    θ′_t = α_t · θ′_{t−1} + (1 − α_t) · θ_t,     α_t = min(1 − 1 / (t + 1), α)

θ the student's weights, θ′ the teacher's, α the decay (0.99-0.999). The warm-up
α_t (the paper's code) lets the teacher forget its random start quickly: α_1 = 1/2,
α_2 = 2/3, ... until α is reached. Batch-norm statistics (floating buffers) are
averaged the same way; integer buffers (batches seen) are copied.

The teacher is no model of its own for the trainer (no optimizer, no gradients);
the task that owns it saves it in ``last.pt`` through :meth:`Task.state_dict`, so a
resumed run continues with the same teacher.

Where it continues: ``engine/tasks/semi_supervised.py`` (``task=mean_teacher``) reads
its predictions as consistency targets.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMATeacher:
    """θ′ ← α_t θ′ + (1 − α_t) θ after each student update (module docstring).

    Args:
        student: the model being trained; the teacher starts as a copy of it.
        decay: α in [0, 1); 0 makes the teacher the student itself.
    """

    def __init__(self, student: nn.Module, decay: float = 0.99) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(student).eval()
        self.model.requires_grad_(False)
        self.updates = 0  # t, the student updates averaged so far

    def alpha(self) -> float:
        """α_t for the next update: 1 − 1 / (t + 1) while that is below α."""
        return min(1 - 1 / (self.updates + 1), self.decay)

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        self.updates += 1
        alpha = self.alpha()
        theirs = student.state_dict()
        for name, mine in self.model.state_dict().items():
            if mine.is_floating_point():
                mine.mul_(alpha).add_(theirs[name].detach(), alpha=1 - alpha)
            else:
                mine.copy_(theirs[name])

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's outputs, in eval mode (no dropout, running statistics)."""
        return self.model(x)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
