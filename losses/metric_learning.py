"""Metric-learning losses: triplet and contrastive, on tuples mined from a batch's labels.

Instead of scoring classes, the model maps each input to an embedding x ∈ R^D, and
the loss asks for a geometry: same-label embeddings close, different-label ones far
apart. A loss is then a sum over tuples of embeddings, and the tuples are *mined*
from the integer labels of the batch rather than given by the data:

    contrastive   pairs (i, j)                Hadsell, Chopra & LeCun, "Dimensionality
                                              Reduction by Learning an Invariant Mapping", 2006
    triplet       anchor a, positive p, negative n
                                              Weinberger & Saul, 2009 (LMNN); Schroff et al.,
                                              "FaceNet", 2015

Two mining strategies (Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for
Person Re-Identification", 2017):

    all          every valid tuple in the batch, averaged over all of them (easy tuples
                 included, each contributing 0: the mean of ``nn.TripletMarginLoss`` over
                 the same tuples). Hermans et al. average over the non-zero ones only
                 ("batch all"); with Adam, whose steps do not scale with the gradient's
                 size, the difference is mostly a rescaling of the loss curve.
    batch_hard   one tuple per anchor: its farthest positive and its nearest negative,
                 the hardest pair of each kind in the batch.

A batch offers a tuple only when some label appears twice (a positive) and some
label differs (a negative); with none the loss is an exact 0 that still backprops.

The distance d(u, v) between two embeddings, as PyTorch defines it:

    euclidean   d(u, v) = ‖u − v + ε‖₂        ε = 1e-6, ``F.pairwise_distance``: the
                                               gradient stays finite at u = v
    cosine      d(u, v) = 1 − û·v̂,  û = u / max(‖u‖₂, ε')   ε' = 1e-8, ``F.cosine_similarity``

Where it continues: the embedding task (engine/tasks/embedding.py) sizes the model's
output, hands these losses its normalization, and scores the space by nearest-neighbour
retrieval.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from losses.base import Loss, register_loss
from zoo.checks import check_choice, check_positive

DISTANCES = ("euclidean", "cosine")
MININGS = ("all", "batch_hard")
EPS = 1e-6  # F.pairwise_distance's default
COSINE_EPS = 1e-8  # F.cosine_similarity's default


def distance(u: Tensor, v: Tensor, kind: str = "euclidean") -> Tensor:
    """d(u, v) over the last dimension, broadcasting the rest: ``(..., D) -> (...)``."""
    if kind == "euclidean":
        return (u - v + EPS).norm(dim=-1)
    u_hat = F.normalize(u, dim=-1, eps=COSINE_EPS)
    v_hat = F.normalize(v, dim=-1, eps=COSINE_EPS)
    return 1 - (u_hat * v_hat).sum(-1)


def pairwise_distances(x: Tensor, kind: str = "euclidean") -> Tensor:
    """d_ij = d(x_i, x_j) for every pair in the batch, by the same definition as
    :func:`distance` (so a mined tuple costs exactly what the explicit one does).

    Shapes:
        x ``(N, D)`` -> ``(N, N)``. ‖x_i − x_j + ε‖ is not quite symmetric: row i is
        the anchor, as in ``F.pairwise_distance(anchor, other)``.
    """
    return distance(x[:, None, :], x[None, :, :], kind)  # (N, 1, D) vs (1, N, D) -> (N, N)


def label_masks(y: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean ``(N, N)`` masks: positives P_ij (y_i = y_j, i ≠ j), negatives N_ij (y_i ≠ y_j)."""
    same = y[:, None] == y[None, :]  # (N,) -> (N, N)
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    return same & ~eye, ~same


def hardest(d: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """max_{p ∈ P(a)} d_ap and min_{n ∈ N(a)} d_an for each anchor a that has both.

    Shapes: ``(N, N)`` -> two ``(|A|,)``, A the anchors with a positive and a negative.
    """
    valid = pos.any(1) & neg.any(1)
    # Selecting the anchors first keeps the ±inf fill of the others out of the graph.
    d, pos, neg = d[valid], pos[valid], neg[valid]  # (N, N) -> (|A|, N)
    d_ap = d.masked_fill(~pos, float("-inf")).amax(1)  # farthest positive
    d_an = d.masked_fill(~neg, float("inf")).amin(1)  # nearest negative
    return d_ap, d_an


class MinedLoss(Loss):
    """What the two losses share: options, input checks, and a reduction over tuples.

    Args:
        margin: m > 0 (see each loss).
        mining: ``"all"`` valid tuples or ``"batch_hard"`` (one per anchor).
        distance: ``"euclidean"`` or ``"cosine"``.
        normalize: L2-normalize the embeddings first (the embedding task sets this
            from its own ``normalize`` option, so training and retrieval agree).
        reduction: ``"mean"`` over the mined tuples, ``"sum"``, or ``"none"`` (one
            loss per tuple, in the order the masks enumerate them).
        impl: accepted for uniformity; PyTorch has no mining kernel, both run
            :meth:`reference`.

    Shapes:
        embeddings ``(N, D)`` and integer labels ``(N,)``. Output scalar, or ``(T,)``
        for ``reduction="none"`` with T the number of mined tuples.
    """

    tasks = ("embedding",)
    target = "index"

    def __init__(
        self,
        margin: float = 1.0,
        mining: str = "all",
        distance: str = "euclidean",
        normalize: bool = False,
        reduction: str = "mean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        name = type(self).__name__
        check_positive(f"{name} margin", margin)
        check_choice(f"{name} mining", mining, MININGS)
        check_choice(f"{name} distance", distance, DISTANCES)
        self.margin, self.mining, self.distance, self.normalize = (
            margin,
            mining,
            distance,
            normalize,
        )

    def check(self, x: Tensor, y: Tensor) -> None:
        if x.ndim != 2 or y.shape != x.shape[:1] or y.is_floating_point():
            raise ValueError(
                f"{type(self).__name__}: needs embeddings (N, D) and integer labels (N,), got "
                f"{tuple(x.shape)} and {tuple(y.shape)} {y.dtype}"
            )

    def distances(self, x: Tensor) -> Tensor:
        if self.normalize:
            x = F.normalize(x, dim=1)
        return pairwise_distances(x, self.distance)

    def reduce(self, loss: Tensor) -> Tensor:
        """As the base class, but the mean of no tuples is 0 (not 0/0), still in the graph."""
        if self.reduction == "mean":
            return loss.sum() / max(loss.numel(), 1)
        return super().reduce(loss)

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, mining={self.mining!r}, distance={self.distance!r}, "
            f"normalize={self.normalize}, {super().extra_repr()}"
        )


@register_loss("triplet")
class TripletLoss(MinedLoss):
    """Triplet margin loss: the positive must be nearer the anchor than the negative
    is, by at least the margin m,

        ℓ(a, p, n) = max(0, d(x_a, x_p) − d(x_a, x_n) + m)       y_p = y_a, p ≠ a, y_n ≠ y_a

    mining ``"all"``:  L = (1/|T|) Σ_{(a,p,n) ∈ T} ℓ(a, p, n) over every valid triplet T
    (what ``nn.TripletMarginLoss`` gives on the same triplets, stacked);
    mining ``"batch_hard"``, over the anchors A that have a positive and a negative:

        ℓ_a = max(0, max_p d(x_a, x_p) − min_n d(x_a, x_n) + m),   L = (1/|A|) Σ_a ℓ_a

    Only the difference of distances counts, so the loss says nothing about absolute
    scale: with unnormalized embeddings the model can meet any margin by growing them,
    which is why the embedding task normalizes them by default. On the unit sphere
    euclidean distances lie in [0, 2], so m = 1 is a large margin there.

    All triplets are formed at once as an (N, N, N) tensor: fine for batches of
    hundreds, cubic memory beyond.
    """

    def reference(self, x: Tensor, y: Tensor) -> Tensor:
        m = self.margin
        d = self.distances(x)  # (N, D) -> (N, N): d[a, j] = d(x_a, x_j)
        pos, neg = label_masks(y)
        if self.mining == "all":
            valid = pos[:, :, None] & neg[:, None, :]  # (N, N, N): [a, p, n]
            ell = torch.relu(d[:, :, None] - d[:, None, :] + m)[valid]  # (N, N, N) -> (T,)
        else:
            d_ap, d_an = hardest(d, pos, neg)  # (N, N) -> (|A|,)
            ell = torch.relu(d_ap - d_an + m)
        return self.reduce(ell)


@register_loss("contrastive")
class ContrastiveLoss(MinedLoss):
    """Contrastive loss (Hadsell et al., 2006, eq. 4): pull pairs of the same label
    together, push pairs of different labels apart until they are m away,

        ℓ(i, j) = (1 − Y) ½ D² + Y ½ max(0, m − D)²       D = d(x_i, x_j)
                                                         Y = 0 same label, 1 different

    mining ``"all"``: L = mean of ℓ over all unordered pairs i < j; a batch of distinct
    labels still has negative pairs, which cost while nearer than m.
    mining ``"batch_hard"``, over the anchors A that have a positive and a negative,
    with their farthest positive p and nearest negative n:

        ℓ_a = ½ d(x_a, x_p)² + ½ max(0, m − d(x_a, x_n))²

    Unlike the triplet loss, D itself is pulled to 0 for positives: the loss fixes an
    absolute scale, with m the distance beyond which negatives no longer matter.
    """

    tasks = ("embedding", "siamese")  # siamese: one-shot verification (engine/tasks/fewshot.py)

    def reference(self, x: Tensor, y: Tensor) -> Tensor:
        m = self.margin
        d = self.distances(x)  # (N, D) -> (N, N)
        pos, neg = label_masks(y)
        if self.mining == "all":
            upper = torch.ones_like(pos).triu(1)  # i < j: each pair once
            D, Y = d[upper], neg[upper].to(d.dtype)  # (N, N) -> (P,)
            ell = (1 - Y) * 0.5 * D**2 + Y * 0.5 * torch.relu(m - D) ** 2
        else:
            d_ap, d_an = hardest(d, pos, neg)  # (N, N) -> (|A|,)
            ell = 0.5 * d_ap**2 + 0.5 * torch.relu(m - d_an) ** 2
        return self.reduce(ell)
