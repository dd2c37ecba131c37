"""Classification losses on logits: cross-entropy and binary cross-entropy.

Both are the negative log-likelihood of the labels under the model's predicted
distribution (Bishop, *Pattern Recognition and Machine Learning*, 2006, sec. 4.3;
Goodfellow et al., *Deep Learning*, 2016, sec. 6.2.2). They take logits z rather than
probabilities because log σ(z) and log softmax(z) can be computed stably from z,
whereas σ(z) itself rounds to exactly 0 or 1 for large |z| and its log is −inf.

Where it continues: the classification task (engine/tasks/supervised.py) trains with
them; bce is also the reconstruction loss of pixels in [0, 1]
(engine/tasks/generative.py) and the GAN's (losses/adversarial.py).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, check_same_shape, register_loss


@register_loss("cross_entropy")
class CrossEntropyLoss(Loss):
    """Softmax cross-entropy between logits z and class targets.

    For sample i with logits z_i ∈ ℝᶜ and target distribution q_i,

        log p_ic = z_ic − log Σ_k exp(z_ik)          (log-softmax)
        ℓ_i      = −Σ_c q_ic · log p_ic

    With an integer label y_i, q_i is one-hot and ℓ_i = −log p_{i,y_i}. Label
    smoothing ε (Szegedy et al., 2016, sec. 7) mixes the target with the uniform
    distribution, q ← (1 − ε)·q + ε/C, so the model is not pushed toward infinite
    logits to reach probability exactly 1:

        ℓ_i = (1 − ε)·ℓ_i^target + ε · (−(1/C) Σ_c log p_ic)

    Args:
        label_smoothing: ε in [0, 1].
        reduction: ``"mean"`` over samples, ``"sum"``, or ``"none"``.
        impl: ``"fused"`` (F.cross_entropy, for speed) or ``"reference"`` (the above).

    Shapes:
        logits ``(N, C)`` (or ``(N, C, d1, ...)``); target ``(N,)`` integer labels
        (``(N, d1, ...)``) or ``(N, C, ...)`` float probabilities; output scalar, or
        ``(N, ...)`` for ``reduction="none"``.
    """

    tasks = ("classification",)
    target = "onehot"  # the categorical form: the task hands it one-hot rows q_i

    def __init__(
        self, label_smoothing: float = 0.0, reduction: str = "mean", impl: str = "fused"
    ) -> None:
        super().__init__(reduction, impl)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"cross_entropy label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def check(self, z: Tensor, target: Tensor) -> None:
        if target.is_floating_point():
            check_same_shape("cross_entropy", z, target)

    def reference(self, z: Tensor, target: Tensor) -> Tensor:
        eps = self.label_smoothing
        num_classes = z.shape[1]
        log_p = torch.log_softmax(z, dim=1)  # (N, C): stable via the max-shift inside
        if target.is_floating_point():  # probabilities q: (N, C)
            q = target if eps == 0 else (1 - eps) * target + eps / num_classes
            return self.reduce(-(q * log_p).sum(dim=1))  # (N, C) -> (N,)
        # Integer labels: pick −log p_{i,y_i} with gather instead of building a one-hot
        # (N, C) matrix and summing it.
        nll = -log_p.gather(1, target.long().unsqueeze(1)).squeeze(1)  # (N, C) -> (N,)
        if eps > 0:
            uniform = -log_p.mean(dim=1)  # (N, C) -> (N,): −(1/C) Σ_c log p_ic
            nll = (1 - eps) * nll + eps * uniform
        return self.reduce(nll)

    def fused(self, z: Tensor, target: Tensor) -> Tensor:
        if not target.is_floating_point():
            target = target.long()
        return F.cross_entropy(
            z, target, label_smoothing=self.label_smoothing, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}, {super().extra_repr()}"


@register_loss("sparse_cross_entropy")
class SparseCrossEntropyLoss(CrossEntropyLoss):
    """Cross-entropy with integer labels: ℓ_i = −log p_{i,y_i}.

    The same function as ``cross_entropy`` on one-hot targets (q_i = e_{y_i}), read
    from the label directly instead of from an (N, C) one-hot matrix: the form to
    use for labelled data, and what the default run trains with.

    Shapes:
        logits ``(N, C)``; target ``(N,)`` integer labels.
    """

    # The few-shot tasks score episodes' queries (or base classes) with it too.
    tasks = ("classification", "protonet", "fewshot_baseline", "maml")
    target = "index"

    def check(self, z: Tensor, target: Tensor) -> None:
        if target.is_floating_point():
            raise ValueError(
                "sparse_cross_entropy takes integer class labels; for one-hot or soft "
                "targets use cross_entropy"
            )


@register_loss("bce")
class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on a logit z for a target y ∈ [0, 1].

    With p = σ(z), the negative log-likelihood is

        ℓ = −[y·log σ(z) + (1 − y)·log(1 − σ(z))]
          = log(1 + eᶻ) − y·z
          = max(z, 0) − z·y + log(1 + e^{−|z|})        (numerically stable form)

    The last form never exponentiates a positive number, so it neither overflows for
    large z nor loses log σ(z) to rounding for very negative z. With ``pos_weight`` w,
    positive examples count w times (useful for rare positives):

        ℓ = −[w·y·log σ(z) + (1 − y)·log(1 − σ(z))]
          = (1 + (w − 1)·y)·log(1 + eᶻ) − w·y·z

    Args:
        pos_weight: w, a scalar or one weight per output column (broadcast over N).
        reduction: ``"mean"`` over all elements, ``"sum"``, or ``"none"``.
        impl: ``"fused"`` (F.binary_cross_entropy_with_logits) or ``"reference"``.

    Also an autoencoder's reconstruction loss for inputs in [0, 1] (pixel intensities):
    summed over a sample's features it is the negative log-likelihood of a Bernoulli
    decoder whose logits are the outputs.

    Shapes:
        logits and target the same shape, e.g. ``(N, 1)`` or ``(N,)``.
    """

    tasks = ("classification", "reconstruction", "zeroshot")  # zeroshot: one per attribute
    target = "binary"

    pos_weight: Tensor | None

    def __init__(
        self,
        pos_weight: float | list[float] | Tensor | None = None,
        reduction: str = "mean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        weight = None if pos_weight is None else torch.as_tensor(pos_weight)
        if weight is not None and bool((weight <= 0).any()):
            raise ValueError(f"bce pos_weight must be > 0, got {pos_weight}")
        self.register_buffer("pos_weight", weight)

    def check(self, z: Tensor, y: Tensor) -> None:
        check_same_shape("bce", z, y)

    def reference(self, z: Tensor, y: Tensor) -> Tensor:
        y = y.to(z.dtype)
        # log(1 + eᶻ) = max(z, 0) + log(1 + e^{−|z|}), with max(z, 0) written (z + |z|)/2:
        # autograd then gives the true derivative σ(0) = 1/2 at z = 0 (abs'(0) = 0),
        # where relu/clamp would give 0 or 1 (and an all-zero init starts exactly there).
        softplus = (z + z.abs()) / 2 + torch.log1p(torch.exp(-z.abs()))
        if self.pos_weight is None:
            loss = softplus - y * z
        else:
            w = self.pos_weight.to(z.dtype)
            loss = (1 + (w - 1) * y) * softplus - w * y * z
        return self.reduce(loss)

    def fused(self, z: Tensor, y: Tensor) -> Tensor:
        w = None if self.pos_weight is None else self.pos_weight.to(z.dtype)
        return F.binary_cross_entropy_with_logits(
            z, y.to(z.dtype), pos_weight=w, reduction=self.reduction
        )
