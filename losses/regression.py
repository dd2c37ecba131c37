"""Regression losses on real-valued predictions: mean squared error.

MSE is the negative log-likelihood of y under a Gaussian centred on the prediction
with fixed variance, up to constants (Bishop, *Pattern Recognition and Machine
Learning*, 2006, sec. 1.2.5 and 3.1.1): minimizing it estimates the conditional mean
E[y | x]. Squaring makes large errors dominate, so outliers pull hard on the fit.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, check_same_shape, register_loss


@register_loss("mse")
class MSELoss(Loss):
    """ℓ = (ŷ − y)², averaged over all elements for ``reduction="mean"``.

    Shapes:
        prediction and target the same shape, e.g. ``(N, T)`` for T targets.
    """

    tasks = ("regression",)
    target = "value"

    def check(self, y_hat: Tensor, y: Tensor) -> None:
        check_same_shape("mse", y_hat, y)

    def reference(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return self.reduce((y_hat - y).pow(2))

    def fused(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(y_hat, y, reduction=self.reduction)
