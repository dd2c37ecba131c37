"""Metric learning: the model outputs an embedding, scored by retrieval.

The loss (triplet, contrastive; ``losses/metric_learning.py``) shapes the space;
this task sizes the head, hands the loss its normalization and distance, and
measures the space with nearest-neighbour retrieval against the training split.

Where it continues: the losses and their mining of pairs and triplets are
``losses/metric_learning.py``; the projector's files are written by
``engine/logger.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.data.core import DataModule
from engine.report.pictures import thumbnails
from engine.tasks.core import TASKS, Task, outputs
from zoo import DataSpec


def retrieval_metrics(
    query: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: tuple[int, ...] = (1, 5),
    distance: str = "euclidean",
    exclude_self: bool = False,
) -> dict[str, float]:
    """Nearest-neighbour accuracy and recall@k of queries against a labelled gallery.

    nn_accuracy is the fraction of queries whose nearest gallery item has their label
    (a 1-nearest-neighbour classifier); recall@k the fraction with at least one item of
    their label among the k nearest (Jegou et al., 2011; Song et al., 2016), so
    recall@1 = nn_accuracy. ``exclude_self`` leaves each query out of its own
    neighbours when the gallery is the query set itself (leave-one-out).

    Shapes:
        query ``(Q, D)`` and ``(Q,)`` labels; gallery ``(G, D)`` and ``(G,)`` labels.
    """
    if distance == "euclidean":  # exact differences, not the ‖u‖² − 2u·v + ‖v‖² shortcut
        d = torch.cdist(query, gallery, compute_mode="donot_use_mm_for_euclid_dist")
    else:
        d = 1 - nn.functional.normalize(query, dim=1) @ nn.functional.normalize(gallery, dim=1).T
    if exclude_self:
        d = d.fill_diagonal_(float("inf"))  # (Q, G) with Q = G
    k_max = min(max(ks), len(gallery) - int(exclude_self))
    nearest = d.topk(k_max, dim=1, largest=False).indices  # (Q, G) -> (Q, k_max), nearest first
    hits = gallery_labels[nearest] == query_labels[:, None]  # (Q, k_max)
    metrics = {"nn_accuracy": hits[:, 0].float().mean().item()}
    for k in ks:
        metrics[f"recall@{k}"] = hits[:, :k].any(1).float().mean().item()
    return metrics


@TASKS.register("embedding")
class Embedding(Task):
    """Metric learning on labelled data: the model outputs an embedding, not class scores.

    A metric-learning loss (triplet, contrastive) shapes the embedding space so that
    same-label inputs lie close together. Nothing ties the space to the training
    classes: a new class needs only labelled examples in the gallery, no new head
    (face verification, image retrieval; Schroff et al., "FaceNet", 2015).

    Metrics on a split: the loss, and retrieval of the split's embeddings (the
    queries) among the training split's (the gallery), with the loss's distance:
    nearest-neighbour accuracy and recall@k (:func:`retrieval_metrics`). The
    gallery needs the model, so this task overrides :meth:`evaluate`, not
    :meth:`metrics`. After testing, the test embeddings and their labels go to
    TensorBoard's projector.

    Args:
        dim: D, the embedding size (the model's output layer).
        normalize: L2-normalize embeddings, x / ‖x‖, in the loss (the task sets the
            loss's ``normalize``), in retrieval and in the projector: all measure the
            same space. On the unit sphere the loss cannot cheat by scaling embeddings up.
        k: the k of each recall@k.
    """

    name = "embedding"
    target_kind = "classification"

    def __init__(self, dim: int = 32, normalize: bool = True, k: Any = (1, 5)) -> None:
        if not (isinstance(dim, int) and dim > 0):
            raise ValueError(f"embedding dim must be a positive integer, got {dim!r}")
        ks = tuple(k) if isinstance(k, list | tuple) else (k,)
        if not ks or not all(isinstance(v, int) and v > 0 for v in ks):
            raise ValueError(f"embedding k must be positive integers, got {k!r}")
        self.dim, self.normalize, self.ks = dim, normalize, ks

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        size = super().configure(spec, data_name, loss, loss_name)
        loss.normalize = self.normalize  # the loss measures the space retrieval will
        self.distance = getattr(loss, "distance", "euclidean")
        return size

    def output_size(self, spec: DataSpec) -> int:
        return self.dim

    @torch.inference_mode()
    def embed(self, model: nn.Module, data: DataModule, split: str) -> tuple[torch.Tensor, ...]:
        """The model's outputs on a whole split (eval mode), the embeddings (normalized
        if asked) and the labels."""
        out, t = outputs(model, data, split)
        z = nn.functional.normalize(out, dim=1) if self.normalize else out
        return out, z, t

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        out, z, t = self.embed(model, data, split)
        if split == "train":
            gallery, labels = z, t
        else:
            _, gallery, labels = self.embed(model, data, "train")
        retrieval = retrieval_metrics(
            z, t, gallery, labels, self.ks, self.distance, exclude_self=split == "train"
        )
        return {"loss": loss_fn(out, t).item(), **retrieval}

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        _, z, t = self.embed(model, data, "test")
        names = data.class_names
        labels = [names[i] for i in t.tolist()] if names else t.tolist()
        logger.embedding(z, labels, "test", step, images=thumbnails(data, "test"))
