"""Margin losses: the hinge loss of support vector machines, binary and multi-class.

Cross-entropy keeps pushing a correct class's score up for ever (its loss is never
exactly 0); a hinge loss is satisfied once the correct score beats the others by a
margin, and then gives no gradient at all (Bishop, *Pattern Recognition and Machine
Learning*, 2006, sec. 7.1.2; Goodfellow et al., *Deep Learning*, 2016, sec. 5.7.2).
Only the examples on or inside the margin, the "support vectors", shape the fit.

    binary        ℓ = max(0, m − t·z)                         t = 2y − 1 ∈ {−1, +1}
    multi-class   ℓ = (1/C) Σ_{j≠y} max(0, m − z_y + z_j)      Weston & Watkins, 1999
                  ℓ = max(0, m − z_y + max_{j≠y} z_j)          Crammer & Singer, 2001

Raising each term to the power p = 2 gives the squared hinge, which is differentiable
at the kink and punishes large violations more. The kink itself (argument exactly 0)
gets the subgradient 0, as PyTorch's kernel does.

Where it continues: the classification task (engine/tasks/supervised.py) trains with
hinge like with any classification loss.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, register_loss
from zoo.checks import check_choice, check_positive

FORMS = ("weston_watkins", "crammer_singer")


def binary_hinge(z: Tensor, y: Tensor, margin: float = 1.0, p: int = 1) -> Tensor:
    """Per-example binary hinge loss max(0, m − t·z)^p from 0/1 labels, unreduced.

    The SVM's labels are t ∈ {−1, +1}; datasets give y ∈ {0, 1}, so t = 2y − 1.
    t·z > 0 means the sign of the score z is right; the loss is 0 once t·z ≥ m.

    Shapes:
        z and y the same shape (e.g. ``(N,)``); y integer or float, values 0 or 1.
    """
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(f"binary hinge needs 0/1 labels, got values {y.unique().tolist()}")
    t = 2 * y.to(z.dtype) - 1
    return torch.relu(margin - t * z).pow(p)  # relu'(0) = 0: no push at the kink


@register_loss("hinge")
class HingeLoss(Loss):
    """Multi-class hinge loss on scores z (N, C) and integer labels y (N,).

    Weston–Watkins form (the default, what ``nn.MultiMarginLoss`` computes): every
    wrong class j that comes within the margin m of the right one costs,

        ℓ_i = (1/C) Σ_{j≠y_i} max(0, m − z_{i,y_i} + z_{ij})^p

    Crammer–Singer form: only the strongest wrong class counts,

        ℓ_i = max(0, m − z_{i,y_i} + max_{j≠y_i} z_{ij})^p

    For C = 2 both reduce to the binary hinge on the score difference d = z_1 − z_0
    (up to the 1/C): WW = ½·max(0, m − t·d)^p, CS = max(0, m − t·d)^p. So a binary
    dataset trains with two outputs, like cross-entropy. Scores of shape (N, 1) are
    read as one score per example with 0/1 labels, and get :func:`binary_hinge`.

    The scores are not probabilities: a hinge-trained model ranks classes (argmax is
    its prediction) but says nothing calibrated about how sure it is.

    Args:
        margin: m > 0, how far the right score must beat a wrong one to cost nothing.
        p: 1 (hinge) or 2 (squared hinge).
        form: ``"weston_watkins"`` or ``"crammer_singer"`` (multi-class only).
        reduction: ``"mean"`` over examples, ``"sum"``, or ``"none"``.
        impl: ``"fused"`` (F.multi_margin_loss for Weston–Watkins) or ``"reference"``.

    Shapes:
        scores ``(N, C)`` and labels ``(N,)``; or scores ``(N, 1)`` and 0/1 labels
        ``(N,)`` or ``(N, 1)``. Output scalar, or ``(N,)`` for ``reduction="none"``.
    """

    tasks = ("classification",)
    target = "index"

    def __init__(
        self,
        margin: float = 1.0,
        p: int = 1,
        form: str = "weston_watkins",
        reduction: str = "mean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        check_positive("hinge margin", margin)
        if p not in (1, 2):
            raise ValueError(f"hinge p must be 1 or 2, got {p}")
        check_choice("hinge form", form, FORMS)
        self.margin, self.p, self.form = margin, p, form

    def check(self, z: Tensor, y: Tensor) -> None:
        if z.ndim != 2:
            raise ValueError(f"hinge: scores must be (N, C), got shape {tuple(z.shape)}")
        fits = y.shape == z.shape[:1] or (z.shape[1] == 1 and y.shape == z.shape)
        if not fits:
            raise ValueError(
                f"hinge: labels shape {tuple(y.shape)} does not fit scores {tuple(z.shape)}; "
                f"give integer labels (N,)"
            )

    def reference(self, z: Tensor, y: Tensor) -> Tensor:
        m, p = self.margin, self.p
        num_classes = z.shape[1]
        if num_classes == 1:  # one score per example: the binary SVM hinge
            return self.reduce(binary_hinge(z[:, 0], y.reshape(-1), m, p))  # (N, 1) -> (N,)
        y = y.long()
        z_y = z.gather(1, y[:, None])  # (N, C) -> (N, 1): the right class's score
        wrong = ~F.one_hot(y, num_classes).bool()  # (N, C): j ≠ y_i
        if self.form == "weston_watkins":
            terms = torch.relu(m - z_y + z).pow(p) * wrong  # (N, C)
            return self.reduce(terms.sum(1) / num_classes)  # (N, C) -> (N,)
        z_max = z.masked_fill(~wrong, float("-inf")).amax(1, keepdim=True)  # (N, 1)
        return self.reduce(torch.relu(m - z_y + z_max).pow(p)[:, 0])  # (N, 1) -> (N,)

    def fused(self, z: Tensor, y: Tensor) -> Tensor:
        if z.shape[1] == 1 or self.form != "weston_watkins":
            return self.reference(z, y)  # PyTorch has no kernel for these forms
        return F.multi_margin_loss(
            z, y.long(), p=self.p, margin=self.margin, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, p={self.p}, form={self.form!r}, {super().extra_repr()}"
