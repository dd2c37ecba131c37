"""The loss registry and the base class every loss derives from.

A loss declares which engine tasks it fits (``tasks``) and what targets it reads
(``target``), so the engine can pair it with a dataset, and pick the model's head
size, without a table of special cases:

    "index"   integer class labels (N,), with logits (N, C), or with embeddings (N, D)
              for the embedding task (metric learning, losses/metric_learning.py)
    "onehot"  float one-hot (or soft) class distributions (N, C), with logits (N, C)
    "binary"  float 0/1 (or soft) targets, same shape as the logits
    "value"   float targets, same shape as the predictions
    "none"    no targets: a GAN's loss compares the discriminator's logits on real and
              generated samples (losses/adversarial.py)

Where it continues: engine/run.py builds the configured loss by name; a task
(engine/tasks/) checks that it fits the data, sizes the model's head and encodes the
targets the loss reads; engine/trainer.py calls it at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor, nn

from zoo.checks import check_choice, check_impl
from zoo.registry import Registry

LOSSES = Registry("loss")

TARGETS = ("index", "onehot", "binary", "value", "none")
REDUCTIONS = ("mean", "sum", "none")


class Loss(nn.Module):
    """Base class: holds ``reduction`` and ``impl`` and applies the reduction.

    Each loss writes its formula in :meth:`reference`, the version to read. Where
    PyTorch has a fused kernel for the same formula, :meth:`fused` calls it, and
    ``impl="fused"`` (the default, what training uses) runs that one: fewer kernel
    launches per step. The tests hold the two equal, values and gradients. ``impl``
    takes the zoo's values (:data:`zoo.checks.IMPLS`); the former ``"torch"`` still
    reads as ``"fused"``.
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    target: ClassVar[str] = ""
    # A loss may accept more (KL adds "batchmean", the mathematically right mean).
    reductions: ClassVar[tuple[str, ...]] = REDUCTIONS

    def __init__(self, reduction: str = "mean", impl: str = "fused") -> None:
        super().__init__()
        check_choice("loss reduction", reduction, self.reductions)
        self.reduction = reduction
        self.impl = check_impl("loss impl", impl)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        self.check(prediction, target)
        if self.impl == "fused":
            return self.fused(prediction, target)
        return self.reference(prediction, target)

    def check(self, prediction: Tensor, target: Tensor) -> None:
        """Refuse inputs the formula does not define (both implementations)."""

    def reference(self, prediction: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def fused(self, prediction: Tensor, target: Tensor) -> Tensor:
        """PyTorch's kernel for the same formula; the reference one where there is none."""
        return self.reference(prediction, target)

    def reduce(self, loss: Tensor) -> Tensor:
        """mean: (1/N) Σ ℓ, sum: Σ ℓ, none: ℓ unchanged."""
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, impl={self.impl!r}"


def register_loss(name: str) -> Callable[[type[Loss]], type[Loss]]:
    """Class decorator; checks at import time that ``tasks`` and ``target`` are declared."""

    def decorator(cls: type[Loss]) -> type[Loss]:
        # Task names are the engine's (engine.tasks.list_tasks(); a test holds every
        # loss's names to that registry): a loss for a new task needs no edit here.
        if not (isinstance(cls.tasks, tuple) and cls.tasks and all(cls.tasks)):
            raise ValueError(f"loss '{name}': tasks must name the tasks it fits, got {cls.tasks}")
        if cls.target not in TARGETS:
            raise ValueError(f"loss '{name}': target must be one of {TARGETS}, got {cls.target!r}")
        return LOSSES.register(name)(cls)

    return decorator


def check_same_shape(name: str, prediction: Tensor, target: Tensor) -> None:
    """Refuse to broadcast: (N, 1) against (N,) would silently give an (N, N) loss."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name}: prediction shape {tuple(prediction.shape)} != target shape "
            f"{tuple(target.shape)}"
        )


def create_loss(name: str, **kwargs: Any) -> Loss:
    return LOSSES.get(name)(**kwargs)


def list_losses() -> list[str]:
    return LOSSES.names()


def get(name: str) -> type[Loss]:
    """The loss class itself (to read ``tasks`` / ``target`` without building one)."""
    return LOSSES.get(name)


def loss_tasks(name: str) -> tuple[str, ...]:
    return LOSSES.get(name).tasks


def loss_target(name: str) -> str:
    return LOSSES.get(name).target
