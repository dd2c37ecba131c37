"""Kullback–Leibler divergence: between class distributions, and of a Gaussian from N(0, I).

For distributions P and Q over the same outcomes,

    KL(P ‖ Q) = Σ_c P_c (log P_c − log Q_c)    ≥ 0, and = 0 only when P = Q

(Gibbs' inequality; Bishop, *Pattern Recognition and Machine Learning*, 2006,
sec. 1.6.1). It is the extra code length paid for coding samples of P with a code
built for Q. It is not symmetric, KL(P ‖ Q) ≠ KL(Q ‖ P) in general, so not a
distance. Written as KL(P ‖ Q) = H(P, Q) − H(P), it is the cross-entropy minus the
target's own entropy: for a one-hot P (H(P) = 0) it *is* cross-entropy, and for a
fixed soft P it has the same gradient in Q.

Two uses here: ``kl``, a classification loss, for hard labels or for the soft
targets of knowledge distillation (Hinton et al., "Distilling the Knowledge in a
Neural Network", 2015); and :func:`gaussian_kl`, the closed form a VAE's encoder
term needs (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, app. B).

Where it continues: kl trains a student on a teacher's softened logits (knowledge
distillation: engine/run.py's ``distill_from`` sets the targets); :func:`gaussian_kl` is
the VAE's KL term in engine/tasks/generative.py.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import REDUCTIONS, Loss, check_same_shape, register_loss
from zoo.checks import check_choice, check_positive

INPUT_KINDS = ("logits", "log_probs")
TARGET_KINDS = ("probs", "log_probs", "logits")


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per sample, in closed form, with log σ² = ``logvar``.

        KL = ½ Σ_k (σ_k² + μ_k² − 1 − log σ_k²)

    Each term is ≥ 0 and is 0 only at μ_k = 0, σ_k = 1. The encoder outputs log σ²
    rather than σ so that σ² = exp(log σ²) is positive without a constraint.

    Shapes:
        mu and logvar ``(N, K)`` -> ``(N,)`` (summed over the K latent dimensions).
    """
    check_same_shape("gaussian_kl", mu, logvar)
    var = logvar.exp()  # σ²
    return 0.5 * (var + mu.pow(2) - 1 - logvar).sum(-1)  # (N, K) -> (N,)


@register_loss("kl")
class KLDivLoss(Loss):
    """KL(P ‖ Q) from a target distribution P to the model's distribution Q.

    For sample i, with Q_i = softmax(z_i / T) from logits z_i (temperature T),

        ℓ_ic = P_ic (log P_ic − log Q_ic)          (0 · log 0 = 0: absent classes cost 0)
        ℓ_i  = T² Σ_c ℓ_ic

    P comes from integer labels (one-hot; then ℓ_i = −log Q_{i,y_i}, cross-entropy), or
    from a float (N, C) target given as probabilities, log-probabilities, or logits
    (a teacher's, softened to softmax(t_i / T)). Distillation softens both sides with
    the same T > 1 so the small probabilities of the wrong classes, which say what
    the teacher thinks resembles what, carry weight. The gradients of the softened
    loss shrink as 1/T², so the loss is multiplied by T² (Hinton et al., 2015, sec. 2)
    to keep its scale, and its balance against a hard-label term, as T changes.

    Reductions follow ``nn.KLDivLoss``: ``"batchmean"`` (the default) is Σ_{i,c} ℓ_ic / N,
    the mean KL per sample; ``"mean"`` divides by N·C instead (not a KL; kept for parity);
    ``"sum"``; ``"none"`` gives the (N, C) terms ℓ_ic.

    Args:
        input_kind: what the model outputs: ``"logits"`` or ``"log_probs"`` (log Q).
        target_kind: how float targets are given: ``"probs"``, ``"log_probs"`` or
            ``"logits"``. Integer targets are always class labels.
        temperature: T > 0. T ≠ 1 needs logits (softmax(x / T) is only defined on them).
        reduction: ``"batchmean"``, ``"mean"``, ``"sum"`` or ``"none"``.
        impl: ``"fused"`` (F.kl_div) or ``"reference"`` (the above).

    Shapes:
        input ``(N, C)``; target ``(N,)`` integer labels or ``(N, C)`` float.
    """

    tasks = ("classification",)
    target = "index"
    reductions = ("batchmean", *REDUCTIONS)

    def __init__(
        self,
        input_kind: str = "logits",
        target_kind: str = "probs",
        temperature: float = 1.0,
        reduction: str = "batchmean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        check_choice("kl input_kind", input_kind, INPUT_KINDS)
        check_choice("kl target_kind", target_kind, TARGET_KINDS)
        check_positive("kl temperature", temperature)
        if temperature != 1 and input_kind != "logits":
            raise ValueError(
                f"kl temperature={temperature} softens logits; use input_kind=logits "
                f"(got '{input_kind}')"
            )
        self.input_kind, self.target_kind, self.temperature = input_kind, target_kind, temperature

    def check(self, x: Tensor, target: Tensor) -> None:
        if target.is_floating_point():
            check_same_shape("kl", x, target)
            if self.temperature != 1 and self.target_kind != "logits":
                raise ValueError(
                    f"kl temperature={self.temperature} with soft targets needs "
                    f"target_kind=logits (got '{self.target_kind}')"
                )

    def log_q(self, x: Tensor) -> Tensor:
        """log Q, the model's log-probabilities."""
        if self.input_kind == "log_probs":
            return x  # as given: renormalizing would change the gradient torch gives
        return torch.log_softmax(x / self.temperature, dim=1)  # (N, C), stable

    def reference(self, x: Tensor, target: Tensor) -> Tensor:
        log_q = self.log_q(x)
        if not target.is_floating_point():  # labels: P one-hot
            p = F.one_hot(target.long(), x.shape[1]).to(x.dtype)  # (N,) -> (N, C)
            log_p = torch.zeros_like(p)  # log 1 = 0 where p = 1; p = 0 terms vanish anyway
        elif self.target_kind == "probs":
            p = target
            log_p = torch.log(torch.where(p > 0, p, 1))  # 0·log 0 = 0, without a NaN
        elif self.target_kind == "log_probs":
            log_p = target
            p = log_p.exp()
        else:  # a teacher's logits, softened by the same T
            log_p = torch.log_softmax(target / self.temperature, dim=1)
            p = log_p.exp()
        terms = self.temperature**2 * p * (log_p - log_q)  # (N, C): ℓ_ic
        if self.reduction == "batchmean":
            return terms.sum() / x.shape[0]
        return self.reduce(terms)

    def fused(self, x: Tensor, target: Tensor) -> Tensor:
        log_q = self.log_q(x)
        log_target = False
        if not target.is_floating_point():
            target = F.one_hot(target.long(), x.shape[1]).to(x.dtype)
        elif self.target_kind == "logits":
            target, log_target = torch.log_softmax(target / self.temperature, dim=1), True
        elif self.target_kind == "log_probs":
            log_target = True
        if self.reduction == "mean":  # the same N·C mean, without F.kl_div's warning about it
            loss = F.kl_div(log_q, target, reduction="sum", log_target=log_target) / x.numel()
        else:
            loss = F.kl_div(log_q, target, reduction=self.reduction, log_target=log_target)
        return loss if self.temperature == 1 else self.temperature**2 * loss

    def extra_repr(self) -> str:
        return (
            f"input_kind={self.input_kind!r}, target_kind={self.target_kind!r}, "
            f"temperature={self.temperature}, {super().extra_repr()}"
        )
