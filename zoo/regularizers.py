"""Weight penalties added to the training loss: L1, L2 and both (elastic net).

The trainer minimizes  L(θ) + Ω(θ)  with

    l2:     Ω = λ · Σ_W Σ_ij W_ij²      gradient  2λ·W   (ridge / Tikhonov; "weight decay")
    l1:     Ω = λ · Σ_W Σ_ij |W_ij|     gradient   λ·sign(W)   (lasso; Tibshirani, 1996)
    l1_l2:  Ω = λ₁ · Σ |W| + λ₂ · Σ W²  gradient  λ₁·sign(W) + 2λ₂·W
                                        (elastic net; Zou & Hastie, 2005)

where the sums run over weight matrices and kernels only. L2 pulls every weight
toward 0 in proportion to its size, preferring many small weights; L1 pulls with a
constant force, which drives unhelpful weights to exactly 0 (sparse solutions). The
elastic net keeps L1's sparsity, while its L2 term spreads weight over correlated
inputs where L1 alone would pick one of them arbitrarily.
Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), sec. 7.1.

Why only tensors with ndim >= 2: a weight sets how strongly the output reacts to the
input, which is what an overfit model exaggerates. A bias only shifts one unit's
output; it is fitted well from little data, so shrinking it buys no generalization
and only causes underfitting (sec. 7.1 leaves biases out for this reason). The γ, β
of normalization layers are 1-D as well: pulling γ toward 0 would fight the
normalization rather than limit the model.

(With plain SGD, the L2 gradient 2λW is what ``weight_decay=2λ`` adds; with Adam
they differ, which is why AdamW decouples the decay: Loshchilov & Hutter, 2019.)

Where it continues: engine/trainer.py adds the configured penalty (``regularization=``)
to the data loss at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from zoo.checks import check_at_least
from zoo.registry import Registry

REGULARIZERS = Registry("regularizer")

Penalty = Callable[[nn.Module], Tensor]


def penalized_weights(model: nn.Module) -> Iterator[Tensor]:
    """Weight matrices and conv kernels (ndim >= 2); biases and norm γ, β are skipped."""
    return (p for p in model.parameters() if p.ndim >= 2)


class _WeightPenalty:
    """Ω(model) = λ · Σ_W term(W); subclasses define ``term``."""

    def __init__(self, strength: float = 1e-4) -> None:
        check_at_least("regularizer strength", strength, 0)
        self.strength = strength

    def term(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, model: nn.Module) -> Tensor:
        terms = [self.term(w) for w in penalized_weights(model)]
        if not terms:
            return torch.zeros(())
        return self.strength * torch.stack(terms).sum()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strength={self.strength})"


@REGULARIZERS.register("l2")
class L2Penalty(_WeightPenalty):
    """Ω = λ · Σ W²."""

    def term(self, w: Tensor) -> Tensor:
        return w.pow(2).sum()


@REGULARIZERS.register("l1")
class L1Penalty(_WeightPenalty):
    """Ω = λ · Σ |W|."""

    def term(self, w: Tensor) -> Tensor:
        return w.abs().sum()


@REGULARIZERS.register("l1_l2")
class L1L2Penalty:
    """Ω = λ₁ · Σ |W| + λ₂ · Σ W² (the elastic net): the sum of the two penalties above."""

    def __init__(self, l1_strength: float = 1e-5, l2_strength: float = 1e-4) -> None:
        check_at_least("regularizer l1_strength", l1_strength, 0)
        check_at_least("regularizer l2_strength", l2_strength, 0)
        self.l1, self.l2 = L1Penalty(l1_strength), L2Penalty(l2_strength)

    def __call__(self, model: nn.Module) -> Tensor:
        return self.l1(model) + self.l2(model)

    def __repr__(self) -> str:
        return f"L1L2Penalty(l1_strength={self.l1.strength}, l2_strength={self.l2.strength})"


@REGULARIZERS.register("none")
def no_penalty() -> None:
    """No penalty: ``None`` tells the trainer to skip the work altogether."""
    return None


def create_regularizer(name: str, **kwargs: Any) -> Penalty | None:
    """``penalty(model) -> scalar Tensor`` to add to the loss, or ``None`` for ``"none"``."""
    return REGULARIZERS.get(name)(**kwargs)


def list_regularizers() -> list[str]:
    return REGULARIZERS.names()
