"""Self-supervised losses on two views of the same batch: NT-Xent (SimCLR) and VICReg.

No labels: the second argument is not a target but the embeddings of the other view,
z′ = g(f(t′(x))) beside z = g(f(t(x))), with t, t′ two random augmentations. Row i
of z and row i of z′ come from the same input (a positive pair); every other row is
another input.

    nt_xent   Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive
              Learning of Visual Representations" (SimCLR), 2020, eq. (1)
    vicreg    Bardes, Ponce & LeCun, "VICReg: Variance-Invariance-Covariance
              Regularization for Self-Supervised Learning", 2022, eqs. (1)-(6)

NT-Xent pulls positive pairs together against the other 2N − 2 embeddings of the
batch (the negatives); VICReg uses no negatives: it pulls pairs together and keeps
every dimension's spread above γ and the dimensions decorrelated, which rules out the
collapsed solution z = const.

Where it continues: the tasks that draw the two views and train with these losses
are ``engine/tasks/self_supervised.py`` (``task=simclr``, ``task=vicreg``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, register_loss
from zoo.checks import check_positive


def check_views(name: str, z1: Tensor, z2: Tensor) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape or len(z1) < 2:
        raise ValueError(
            f"{name}: needs two views' embeddings of one shape (N, D) with N >= 2, got "
            f"{tuple(z1.shape)} and {tuple(z2.shape)}"
        )


@register_loss("nt_xent")
class NTXentLoss(Loss):
    """Normalized temperature-scaled cross-entropy (SimCLR's contrastive loss).

    Stack the views, z = [z¹; z²] ``(2N, D)``, normalize ẑ_i = z_i / ‖z_i‖ and take the
    cosine similarities over a temperature, s_ij = ẑ_i·ẑ_j / τ. Each embedding i has one
    positive p(i) (the other view of its input, i ± N) and 2N − 2 negatives:

        ℓ_i = −log exp(s_{i,p(i)}) / Σ_{k ≠ i} exp(s_ik)
        L   = (1 / 2N) Σ_i ℓ_i

    L is a softmax cross-entropy over each row of s with the self-similarity left out,
    and it is symmetric in the views: L(z¹, z²) = L(z², z¹). A small τ sharpens the
    softmax, so the hardest negatives dominate the gradient; as τ → ∞ every row
    becomes uniform and L → log(2N − 1).

    Args:
        temperature: τ > 0 (SimCLR: 0.5 at batch size 256, lower for larger batches).
    """

    tasks = ("simclr",)
    target = "none"
    reductions = ("mean",)

    def __init__(self, temperature: float = 0.5, reduction: str = "mean", impl: str = "fused"):
        super().__init__(reduction, impl)
        check_positive("nt_xent temperature", temperature)
        self.temperature = temperature

    def check(self, prediction: Tensor, target: Tensor) -> None:
        check_views("nt_xent", prediction, target)

    def similarities(self, z1: Tensor, z2: Tensor) -> Tensor:
        """s = ẑẑᵀ / τ over both views: ``(N, D), (N, D) -> (2N, 2N)``."""
        z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
        return z @ z.T / self.temperature

    def reference(self, prediction: Tensor, target: Tensor) -> Tensor:
        s = self.similarities(prediction, target)
        n2 = len(s)
        terms = []
        for i in range(n2):  # ℓ_i, one row at a time, as the formula reads
            p = (i + n2 // 2) % n2
            others = torch.cat([s[i, :i], s[i, i + 1 :]])  # the 2N − 1 terms k ≠ i
            terms.append(-(s[i, p] - torch.logsumexp(others, dim=0)))
        return torch.stack(terms).mean()

    def fused(self, prediction: Tensor, target: Tensor) -> Tensor:
        s = self.similarities(prediction, target)
        n2 = len(s)
        eye = torch.eye(n2, dtype=torch.bool, device=s.device)
        s = s.masked_fill(eye, float("-inf"))  # k ≠ i: exp(−∞) = 0 in every row's sum
        positives = (torch.arange(n2, device=s.device) + n2 // 2) % n2  # p(i) = i ± N
        return F.cross_entropy(s, positives)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, {super().extra_repr()}"


@register_loss("vicreg")
class VICRegLoss(Loss):
    """Variance-invariance-covariance regularization (no negatives, no teacher).

    For embeddings Z, Z′ ``(N, D)``:

        s(Z, Z′) = (1 / N·D) Σ_i ‖z_i − z′_i‖²                      invariance
        v(Z)     = (1 / D) Σ_j max(0, γ − √(Var(z^j) + ε))          variance (hinge on std)
        c(Z)     = (1 / D) Σ_{j ≠ k} C(Z)_jk²,
                   C(Z) = (1 / (N − 1)) Σ_i (z_i − z̄)(z_i − z̄)ᵀ        covariance
        L        = λ·s(Z, Z′) + μ·[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)]

    Var is the unbiased variance of dimension j over the batch. The paper's defaults
    are λ = μ = 25, ν = 1, γ = 1, ε = 1e-4. L is symmetric in the views.

    Args:
        sim_weight: λ.  var_weight: μ.  cov_weight: ν.
        gamma: γ, the target standard deviation of each dimension.
        eps: ε, keeps the square root's gradient finite at zero variance.
    """

    tasks = ("vicreg",)
    target = "none"
    reductions = ("mean",)

    def __init__(
        self,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        reduction: str = "mean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        for name, value in (("sim_weight", sim_weight), ("var_weight", var_weight)):
            check_positive(f"vicreg {name}", value)
        check_positive("vicreg gamma", gamma)
        check_positive("vicreg eps", eps)
        if cov_weight < 0:
            raise ValueError(f"vicreg cov_weight must be >= 0, got {cov_weight}")
        self.sim_weight, self.var_weight, self.cov_weight = sim_weight, var_weight, cov_weight
        self.gamma, self.eps = gamma, eps

    def check(self, prediction: Tensor, target: Tensor) -> None:
        check_views("vicreg", prediction, target)

    def terms(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        """s, v(Z) + v(Z′) and c(Z) + c(Z′), vectorized."""
        n, d = z1.shape
        invariance = F.mse_loss(z1, z2)  # (1 / N·D) Σ ‖z_i − z′_i‖²
        variance = z1.new_zeros(())
        covariance = z1.new_zeros(())
        for z in (z1, z2):
            std = torch.sqrt(z.var(dim=0) + self.eps)  # (N, D) -> (D,)
            variance = variance + F.relu(self.gamma - std).mean()
            zc = z - z.mean(dim=0)
            cov = zc.T @ zc / (n - 1)  # (D, D)
            off = cov - torch.diag(torch.diagonal(cov))
            covariance = covariance + off.pow(2).sum() / d
        return {"invariance": invariance, "variance": variance, "covariance": covariance}

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        return (
            self.sim_weight * terms["invariance"]
            + self.var_weight * terms["variance"]
            + self.cov_weight * terms["covariance"]
        )

    def fused(self, prediction: Tensor, target: Tensor) -> Tensor:
        return self.combine(self.terms(prediction, target))

    def reference(self, prediction: Tensor, target: Tensor) -> Tensor:
        n, d = prediction.shape
        invariance = sum(((prediction[i] - target[i]) ** 2).sum() for i in range(n)) / (n * d)
        variance = prediction.new_zeros(())
        covariance = prediction.new_zeros(())
        for z in (prediction, target):
            mean = z.sum(0) / n
            for j in range(d):  # one dimension's spread at a time
                var_j = ((z[:, j] - mean[j]) ** 2).sum() / (n - 1)
                variance = variance + F.relu(self.gamma - torch.sqrt(var_j + self.eps)) / d
            for j in range(d):
                for k in range(d):
                    if j != k:
                        c_jk = ((z[:, j] - mean[j]) * (z[:, k] - mean[k])).sum() / (n - 1)
                        covariance = covariance + c_jk**2 / d
        return self.combine(
            {"invariance": invariance, "variance": variance, "covariance": covariance}
        )

    def extra_repr(self) -> str:
        return (
            f"sim_weight={self.sim_weight}, var_weight={self.var_weight}, "
            f"cov_weight={self.cov_weight}, gamma={self.gamma}, {super().extra_repr()}"
        )
