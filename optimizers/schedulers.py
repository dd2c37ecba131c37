"""Learning-rate schedules, stepped once per optimizer step.

Each schedule is a closed-form factor f(t) of the optimizer step t = 0, 1, 2, ...
(the number of ``scheduler.step()`` calls so far), applied to each parameter group's
initial rate η₀:  η_t = η₀·f(t).

    constant  f(t) = 1
    step      f(t) = γ^⌊t / (s·E)⌋       s = step_size in epochs, E = steps_per_epoch
    cosine    η_t = η_min + (η₀ − η_min)·(1 + cos(π·min(t, T)/T)) / 2
              (T = total_steps; Loshchilov & Hutter, 2017, without restarts)

Decaying the rate lets SGD take large, exploring steps early and then settle into a
minimum instead of bouncing around it with gradient noise. Cosine does this smoothly
and ends exactly at η_min on the last step.

All are ``LambdaLR`` over plain closures: the closed form is exact at every t (the
chained recurrence in ``CosineAnnealingLR`` accumulates rounding error), and
``LambdaLR.state_dict`` stores no function objects, so the state is plain numbers
that load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from zoo.registry import Registry

SCHEDULERS = Registry("scheduler")

Builder = Callable[..., LRScheduler]


def register_scheduler(name: str) -> Callable[[Builder], Builder]:
    """Decorator for ``build(optimizer, *, total_steps, steps_per_epoch, **kwargs)``."""
    return SCHEDULERS.register(name)


def create_scheduler(
    name: str, optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int, **kwargs: Any
) -> LRScheduler:
    """Build schedule ``name``; call its ``step()`` after every ``optimizer.step()``."""
    if total_steps < 1:
        raise ValueError(f"scheduler total_steps must be >= 1, got {total_steps}")
    if steps_per_epoch < 1:
        raise ValueError(f"scheduler steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return SCHEDULERS.get(name)(
        optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch, **kwargs
    )


def list_schedulers() -> list[str]:
    return SCHEDULERS.names()


@register_scheduler("constant")
def constant(optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int) -> LambdaLR:
    def factor(t: int) -> float:
        return 1.0

    return LambdaLR(optimizer, factor)


@register_scheduler("step")
def step(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    step_size: int = 30,
    gamma: float = 0.1,
) -> LambdaLR:
    """Multiply η by γ every ``step_size`` epochs (the classic ResNet schedule)."""
    if step_size < 1:
        raise ValueError(f"scheduler step_size must be >= 1 epoch, got {step_size}")
    if gamma <= 0:
        raise ValueError(f"scheduler gamma must be > 0, got {gamma}")
    period = step_size * steps_per_epoch  # epochs -> optimizer steps

    def factor(t: int) -> float:
        return gamma ** (t // period)

    return LambdaLR(optimizer, factor)


@register_scheduler("cosine")
def cosine(
    optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int, eta_min: float = 0.0
) -> LambdaLR:
    """Half a cosine from each group's η₀ down to η_min over ``total_steps`` steps."""
    if eta_min < 0:
        raise ValueError(f"scheduler eta_min must be >= 0, got {eta_min}")

    def factor_for(lr0: float) -> Callable[[int], float]:
        # LambdaLR multiplies η₀ by the factor, so η_min enters as the ratio η_min/η₀.
        def factor(t: int) -> float:
            progress = min(t, total_steps) / total_steps  # stay at η_min past the end
            return (eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * progress)) / 2) / lr0

        return factor

    lr0s = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    return LambdaLR(optimizer, [factor_for(lr0) for lr0 in lr0s])
