"""Regression losses on real-valued predictions: squared, absolute and Huber error.

Each is the negative log-likelihood of y under a noise model centred on the
prediction ŷ, up to constants, and so picks which statistic of p(y | x) the fit
estimates (Bishop, *Pattern Recognition and Machine Learning*, 2006, sec. 1.5.5;
Hastie et al., *The Elements of Statistical Learning*, 2nd ed., 2009, sec. 10.6):

    mse    (ŷ − y)²    Gaussian noise  -> the conditional mean E[y | x]
    mae    |ŷ − y|     Laplace noise   -> the conditional median
    huber  quadratic near 0, linear beyond δ: between the two

Squaring makes large errors dominate, so outliers pull hard on an MSE fit; an
absolute error grows only linearly, so they pull with a bounded force.

Where it continues: the regression task (engine/tasks/supervised.py) trains with them
and reports MSE, MAE and R² in the target's units; mse is also a reconstruction loss
(engine/tasks/generative.py).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, check_same_shape, register_loss
from zoo.checks import check_positive


@register_loss("mse")
class MSELoss(Loss):
    """ℓ = (ŷ − y)², averaged over all elements for ``reduction="mean"``.

    Also an autoencoder's reconstruction loss (the target is the input itself): summed
    over a sample's features it is, up to constants, the negative log-likelihood of a
    Gaussian decoder with unit variance.

    Shapes:
        prediction and target the same shape, e.g. ``(N, T)`` for T targets.
    """

    tasks = ("regression", "reconstruction", "masked")
    target = "value"

    def check(self, y_hat: Tensor, y: Tensor) -> None:
        check_same_shape("mse", y_hat, y)

    def reference(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return self.reduce((y_hat - y).pow(2))

    def fused(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(y_hat, y, reduction=self.reduction)


@register_loss("mae")
class MAELoss(Loss):
    """Mean absolute error (L1 loss): ℓ = |ŷ − y|.

    |r| has no derivative at r = 0; both implementations use the subgradient
    sign(0) = 0 there, so a prediction that is exactly right gets no push (any value
    in [−1, 1] is a valid subgradient; 0 is the one that leaves a solved point alone).
    Away from 0 every error is pushed with the same force ±1, however large it is,
    which is what makes the fit robust to outliers and also slow to settle near
    the optimum (the gradient does not shrink as r -> 0).

    Args:
        reduction: ``"mean"`` over all elements, ``"sum"``, or ``"none"``.
        impl: ``"fused"`` (F.l1_loss) or ``"reference"`` (the above).

    Shapes:
        prediction and target the same shape, e.g. ``(N, T)`` for T targets.
    """

    tasks = ("regression", "masked")
    target = "value"

    def check(self, y_hat: Tensor, y: Tensor) -> None:
        check_same_shape("mae", y_hat, y)

    def reference(self, y_hat: Tensor, y: Tensor) -> Tensor:
        r = y_hat - y
        return self.reduce(r.abs())  # autograd: d|r|/dr = sign(r), and sign(0) = 0

    def fused(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.l1_loss(y_hat, y, reduction=self.reduction)


@register_loss("huber")
class HuberLoss(Loss):
    """Huber loss (Huber, "Robust Estimation of a Location Parameter", 1964).

    With residual r = ŷ − y and threshold δ > 0,

        ℓ = ½ r²               if |r| ≤ δ
            δ (|r| − ½ δ)      otherwise

    The two pieces meet at |r| = δ with the same value (½δ²) and the same slope
    (±δ), so ℓ is continuously differentiable: MSE's gradient r near the optimum,
    MAE's bounded gradient δ·sign(r) for outliers. δ is in the units of the
    (standardized) target; as δ -> ∞ it becomes ½·MSE, and ℓ/δ -> MAE as δ -> 0.

    Args:
        delta: δ, where the quadratic turns linear (> 0).
        reduction: ``"mean"`` over all elements, ``"sum"``, or ``"none"``.
        impl: ``"fused"`` (F.huber_loss) or ``"reference"`` (the above).

    Shapes:
        prediction and target the same shape, e.g. ``(N, T)`` for T targets.
    """

    tasks = ("regression",)
    target = "value"

    def __init__(self, delta: float = 1.0, reduction: str = "mean", impl: str = "fused") -> None:
        super().__init__(reduction, impl)
        check_positive("huber delta", delta)
        self.delta = delta

    def check(self, y_hat: Tensor, y: Tensor) -> None:
        check_same_shape("huber", y_hat, y)

    def reference(self, y_hat: Tensor, y: Tensor) -> Tensor:
        delta = self.delta
        r = y_hat - y
        quadratic = 0.5 * r.pow(2)
        linear = delta * (r.abs() - 0.5 * delta)
        return self.reduce(torch.where(r.abs() <= delta, quadratic, linear))

    def fused(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.huber_loss(y_hat, y, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, {super().extra_repr()}"
