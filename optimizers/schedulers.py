"""Learning-rate schedules, stepped once per optimizer step.

Each schedule is a closed-form factor f(t) of the optimizer step t = 0, 1, 2, ...
(the number of ``scheduler.step()`` calls so far), applied to each parameter group's
initial rate η₀:  η_t = η₀·f(t).

    constant  f(t) = 1
    step      f(t) = γ^⌊t / (s·E)⌋       s = step_size in epochs, E = steps_per_epoch
    cosine    η_t = η_min + (η₀ − η_min)·(1 + cos(π·min(t, T)/T)) / 2
              (T = total_steps; Loshchilov & Hutter, 2017, without restarts)
    warmup_cosine
              η_t = η₀·(t + 1)/W                                   for t < W
              η_t = η_min + (η₀ − η_min)·(1 + cos(π·min(t − W, T − W)/(T − W))) / 2
              (W = warmup_steps, or round(warmup_fraction·T); Goyal et al., 2017)
    one_cycle η rises from η₀/d to η₀ over the first p·T steps, then falls to
              η₀/(d·d_f), both halves along a half cosine (Smith & Topin, 2018;
              Smith, 2018): with c(a, b, x) = b + (a − b)·(1 + cos(π·x)) / 2,
              η_t = c(η₀/d, η₀, t/(pT − 1))                        for t ≤ pT − 1
              η_t = c(η₀, η₀/(d·d_f), (t − pT + 1)/(T − pT))       after
              (p = pct_start, d = div_factor, d_f = final_div_factor)
    plateau   η_{e+1} = max(γ·η_e, η_min) once the epoch's training loss L_e has not
              fallen below (1 − τ)·min(L_0..L_e) for more than P epochs in a row,
              else η_{e+1} = η_e (γ = factor, P = patience, τ = threshold; torch's
              ``ReduceLROnPlateau`` on the training loss, mode min, relative threshold)

Decaying the rate lets SGD take large, exploring steps early and then settle into a
minimum instead of bouncing around it with gradient noise. Cosine does this smoothly
and ends exactly at η_min on the last step.

Warmup guards the first steps instead: the initial weights and, in Adam, the
second-moment estimate v built from a handful of gradients make early steps at
full η erratic, so η ramps up linearly first. One-cycle goes further (Smith's
"super-convergence"): a long rise to a large peak η acts as a regularizer and
moves fast across the loss surface, and the long descent to far below η₀ settles
into a minimum. Here the peak is the optimizer's ``lr``; PyTorch's ``OneCycleLR``
also cycles momentum against η (``cycle_momentum``), which this schedule leaves to
the optimizer.

Plateau reacts to the run instead of following a clock: Fawaz et al. (2019) train
every time-series network with it (γ = 0.5, P = 50, η_min = 1e-4), halving Adam's rate
whenever the training loss stalls. It is the one schedule that is not closed-form: the
trainer hands it each epoch's training loss (``end_epoch``), and its per-step
``step()`` keeps the rate.

The others are ``LambdaLR`` over plain closures: the closed form is exact at every t (the
chained recurrence in ``CosineAnnealingLR`` accumulates rounding error), and
``LambdaLR.state_dict`` stores no function objects, so the state is plain numbers
that load with ``torch.load(weights_only=True)``.

Where it continues: engine/run.py builds the configured schedule (``sched=``) for each
optimizer, and engine/trainer.py steps it after every optimizer step (all but
``constant``, whose rate never moves), and hands a schedule with ``end_epoch`` the
epoch's training loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from zoo.registry import Registry

SCHEDULERS = Registry("scheduler")

Builder = Callable[..., LRScheduler]


class TooFewStepsError(ValueError):
    """A schedule's options need more steps than ``total_steps`` (a warm-up longer than
    the run, a one-cycle rise under one step): more steps, or other options, fix it."""


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


class ConstantRate(LambdaLR):
    """f(t) = 1: the optimizer's rate at every step. Stepping it would only count the
    steps, so the trainer does not (7 µs a step of the default run)."""

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer, lambda t: 1.0)


@register_scheduler("constant")
def constant(optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int) -> ConstantRate:
    return ConstantRate(optimizer)


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


@register_scheduler("linear")
def linear(
    optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int, eta_min: float = 0.0
) -> LambdaLR:
    """A straight line from each group's η₀ down to η_min over ``total_steps`` steps:
    η_t = η₀ − (η₀ − η_min)·t/T, then η_min. GANs often train with it (PacGAN on the
    2-D mixtures): the game's oscillations shrink as the steps do."""
    if eta_min < 0:
        raise ValueError(f"scheduler eta_min must be >= 0, got {eta_min}")

    def factor_for(lr0: float) -> Callable[[int], float]:
        def factor(t: int) -> float:
            progress = min(t, total_steps) / total_steps
            return (lr0 - (lr0 - eta_min) * progress) / lr0

        return factor

    lr0s = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    return LambdaLR(optimizer, [factor_for(lr0) for lr0 in lr0s])


def _cosine_between(start: float, end: float, x: float) -> float:
    """Half a cosine from ``start`` (x = 0) to ``end`` (x = 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * x)) / 2


@register_scheduler("warmup_cosine")
def warmup_cosine(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float = 0.05,
    eta_min: float = 0.0,
) -> LambdaLR:
    """Linear warmup to each group's η₀ over W steps, then cosine to η_min.

    W is ``warmup_steps`` when given, else ``round(warmup_fraction·total_steps)``.
    The warmup ends at η₀ on step W − 1 (never a step at η = 0), and the cosine
    starts from η₀ at step W.
    """
    if eta_min < 0:
        raise ValueError(f"scheduler eta_min must be >= 0, got {eta_min}")
    if warmup_steps is None:
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"scheduler warmup_fraction must be in [0, 1), got {warmup_fraction}")
        warmup_steps = round(warmup_fraction * total_steps)
    if not 0 <= warmup_steps < total_steps:
        raise TooFewStepsError(
            f"scheduler warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}"
        )
    W, T = warmup_steps, total_steps

    def factor_for(lr0: float) -> Callable[[int], float]:
        def factor(t: int) -> float:
            if t < W:
                return (t + 1) / W
            progress = min(t - W, T - W) / (T - W)
            return _cosine_between(lr0, eta_min, progress) / lr0

        return factor

    lr0s = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    return LambdaLR(optimizer, [factor_for(lr0) for lr0 in lr0s])


@register_scheduler("one_cycle")
def one_cycle(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> LambdaLR:
    """Smith's one cycle, peaking at each group's ``lr``; ``OneCycleLR``'s η sequence.

    Args:
        pct_start: p, the fraction of the steps spent rising.
        div_factor: d, the peak over the starting rate.
        final_div_factor: d_f, the starting rate over the final one.
    """
    if not 0 < pct_start < 1:
        raise ValueError(f"scheduler pct_start must be in (0, 1), got {pct_start}")
    if div_factor < 1 or final_div_factor < 1:
        raise ValueError(
            f"scheduler div_factor and final_div_factor must be >= 1, "
            f"got {div_factor} and {final_div_factor}"
        )
    # The rise ends on step pT − 1, the fall on step T − 1 (OneCycleLR's phase ends).
    peak_step, last_step = pct_start * total_steps - 1, total_steps - 1
    if not 0 < peak_step < last_step:
        raise TooFewStepsError(
            f"scheduler one_cycle needs 1 < pct_start·total_steps < total_steps, got "
            f"{pct_start}·{total_steps}; raise total_steps or change pct_start"
        )

    def factor_for(lr0: float) -> Callable[[int], float]:
        start, final = lr0 / div_factor, lr0 / (div_factor * final_div_factor)

        def factor(t: int) -> float:
            t = min(t, last_step)  # OneCycleLR raises past the end; stay at the final η
            if t <= peak_step:
                return _cosine_between(start, lr0, t / peak_step) / lr0
            return _cosine_between(lr0, final, (t - peak_step) / (last_step - peak_step)) / lr0

        return factor

    lr0s = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    return LambdaLR(optimizer, [factor_for(lr0) for lr0 in lr0s])


@runtime_checkable
class EndsEpochs(Protocol):
    """A schedule that also decides at each epoch's end, from the epoch's training loss
    (``plateau``): the trainer calls ``end_epoch`` after the epoch's last step."""

    def end_epoch(self, loss: float) -> None: ...


class PlateauLR(LRScheduler):
    """Scale every group's η by γ (not below η_min) once the training loss has stalled.

    ``step()`` runs after each optimizer step and keeps the rates; ``end_epoch(loss)``
    runs after each epoch with its training loss L_e. The state is plain numbers:
    the best loss so far and the epochs since it improved by the relative margin τ.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        factor: float,
        patience: int,
        min_lr: float,
        threshold: float,
    ) -> None:
        self.factor, self.patience = factor, patience
        self.min_lr, self.threshold = min_lr, threshold
        self.best = math.inf  # min(L_0..L_e)
        self.bad_epochs = 0  # epochs in a row without L_e < (1 − τ)·best
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]  # per step: unchanged

    def end_epoch(self, loss: float) -> None:
        """Count the epoch as an improvement or not; after P + 1 stalled ones, scale η."""
        if loss < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                lr = max(group["lr"] * self.factor, self.min_lr)
                if group["lr"] - lr > 1e-8:  # torch's eps: no change smaller than that
                    group["lr"] = lr
            self.bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


@register_scheduler("plateau")
def plateau(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    factor: float = 0.5,
    patience: int = 50,
    min_lr: float = 1e-4,
    threshold: float = 1e-4,
) -> PlateauLR:
    """Halve η (γ = ``factor``) when the training loss has not improved for more than
    ``patience`` epochs, down to ``min_lr``: Fawaz et al.'s recipe by default."""
    if not 0 < factor < 1:
        raise ValueError(f"scheduler factor must be in (0, 1), got {factor}")
    if patience < 0:
        raise ValueError(f"scheduler patience must be >= 0 epochs, got {patience}")
    if min_lr < 0 or threshold < 0:
        raise ValueError(
            f"scheduler min_lr and threshold must be >= 0, got {min_lr} and {threshold}"
        )
    return PlateauLR(
        optimizer, factor=factor, patience=patience, min_lr=min_lr, threshold=threshold
    )
