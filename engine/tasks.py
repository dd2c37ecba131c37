"""Tasks: how a batch becomes predictions, a loss, and metrics.

A task sits between the data and the loss. It checks that the three fit together
(before any training), chooses the size of the model's head, encodes targets the
way the loss wants them once, and computes metrics in the data's own units.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import losses
from engine.data import DATASETS, DataModule, call_model
from engine.errors import ConfigError
from zoo import DataSpec, Registry
from zoo.modes import eval_mode

TASKS = Registry("task")


def flatten_steps(out: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step outputs ``(B, T, K)`` and targets ``(B, T[, K])`` as ``B·T`` samples.

    Sequence labelling (a target at every step) then uses every loss and metric of
    one-target-per-sample data unchanged: the mean over samples becomes the mean
    over all steps of all sequences. Other outputs pass through.
    """
    if out.ndim == 3:
        return out.flatten(0, 1), t.flatten(0, 1)
    return out, t


@torch.inference_mode()
def outputs(model: nn.Module, data: DataModule, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs and the targets on a whole split, in eval mode (per-step
    outputs flattened as by :func:`flatten_steps`); the model's mode is restored."""
    with eval_mode(model):
        batches = [flatten_steps(call_model(model, x), t) for x, t in data.batches(split, 4096)]
    if len(batches) == 1:  # the usual case for small data: no copy
        return batches[0]
    return torch.cat([o for o, _ in batches]), torch.cat([t for _, t in batches])


def list_tasks() -> list[str]:
    return TASKS.names()


def create_task(name: str, **kwargs: Any) -> Task:
    return TASKS.get(name)(**kwargs)


class Task:
    """Base class. Subclasses set ``name`` and ``target_kind``.

    Most tasks only say how outputs become a loss and metrics, and the trainer's own
    step (forward, loss, backward, one optimizer step) trains them. A task whose
    training is more than that (a GAN's two players, a VAE's loss on the posterior)
    sets ``own_step`` and writes :meth:`training_step`, names the parts that get their
    own optimizer in :meth:`optimizer_groups`, and overrides :meth:`evaluate`.
    """

    name: str = ""
    target_kind: str = ""  # what DataSpec.target_kind this task reads
    own_step: bool = False  # True: the trainer calls training_step for each batch
    takes_penalty: bool = True  # whether a regularizer's weight penalty fits its losses
    optimizer_configs: tuple[str, ...] = ("optim",)  # the config groups of its optimizers

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        """Check that data, task and loss fit together (one-line error before any
        training if not) and return the size of the model's output layer."""
        if spec.target_kind != self.target_kind:
            fitting = [
                n for n in DATASETS.names() if DATASETS.meta(n)["target_kind"] == self.target_kind
            ]
            raise ConfigError(
                f"task '{self.name}' needs {self.target_kind} targets but data '{data_name}' "
                f"has {spec.target_kind} targets; use task={spec.target_kind}, or data that "
                f"fits {self.name}: {', '.join(fitting)}"
            )
        self.check_loss(loss, loss_name)
        return self.output_size(spec)

    def check_loss(self, loss: nn.Module, loss_name: str) -> None:
        """One line unless the loss declares that it fits this task; keep its target kind."""
        fits = getattr(loss, "tasks", ())
        if self.name not in fits:
            fitting = [n for n in losses.list_losses() if self.name in losses.loss_tasks(n)]
            raise ConfigError(
                f"loss '{loss_name}' fits task {', '.join(fits) or 'none'}, not {self.name}; "
                f"losses for {self.name}: {', '.join(fitting)}"
            )
        self.loss_target = getattr(loss, "target", "")

    def output_size(self, spec: DataSpec) -> int:
        return spec.num_outputs

    def bind(self, data: DataModule) -> None:
        """Look at the built data once, before the model (default: nothing; e.g. the
        reconstruction task checks the input range its loss needs)."""

    def check_model(self, model: nn.Module, model_name: str) -> None:
        """Refuse, in one line, a model this task cannot train (default: any model but
        the generative ones, which have tasks of their own)."""
        own = "adversarial" if hasattr(model, "discriminate") else None
        own = "reconstruction" if hasattr(model, "decode") else own
        if own is not None:
            raise ConfigError(
                f"model '{model_name}' is trained by task={own}, not {self.name}; "
                f"use task={own} (or name only the model, which brings its task and loss)"
            )

    def optimizer_groups(self, model: nn.Module) -> dict[str, tuple[Any, str]]:
        """The parts of the model that get their own optimizer: name -> (parameters,
        the config group of its optimizer). One optimizer, ``optim``, by default."""
        return {"model": (model.parameters(), "optim")}

    def training_step(self, trainer: Any, x: Any, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch of training for an ``own_step`` task: update the weights with
        ``trainer.update(name, loss)`` and return the step's numbers by name."""
        raise NotImplementedError(f"task '{self.name}' trains with the trainer's own step")

    def example_input(self, data: DataModule, n: int = 2) -> Any:
        """``n`` inputs the model's ``forward`` takes (to trace its graph for TensorBoard)."""
        return data.head("train", n)

    def log_epoch(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """Log what a task shows after each epoch beyond scalars (default: nothing; the
        generative tasks draw samples and reconstructions)."""

    def encode_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Targets as the loss wants them (applied once per split, not per step)."""
        return y

    def train_metrics(self, out: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
        """Metrics of the outputs the model gave during an epoch (train mode)."""
        return {}

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        """Loss and metrics of ``model`` on a whole split, in eval mode."""
        return self.score(*outputs(model, data, split), loss_fn, data)

    @torch.inference_mode()
    def score(
        self, out: torch.Tensor, t: torch.Tensor, loss_fn: nn.Module, data: DataModule
    ) -> dict[str, float]:
        """Loss and metrics of a split's outputs (from :func:`outputs`)."""
        return {"loss": loss_fn(out, t).item(), **self.metrics(out, t, data)}

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """Log what a task shows beyond scalars, once the test metrics are in (default:
        nothing; the embedding task sends the test embeddings to the projector)."""


@TASKS.register("classification")
class Classification(Task):
    """Binary or multi-class classification from logits.

    A binary problem trained with a binary loss (BCE) gets one output, the logit of
    the positive class; every other case gets one output per class.
    """

    name = "classification"
    target_kind = "classification"

    def __init__(self, teacher_run: str | None = None) -> None:
        # A saved run whose logits replace the training labels (engine.run.distill_from).
        self.teacher_run = teacher_run

    def output_size(self, spec: DataSpec) -> int:
        assert spec.num_classes is not None
        self.single_logit = self.loss_target == "binary" and spec.num_classes == 2
        self.num_classes = spec.num_classes
        return 1 if self.single_logit else spec.num_classes

    def encode_targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.loss_target == "onehot":  # the categorical form: rows of the identity
            return nn.functional.one_hot(y, self.num_classes).float()
        if self.loss_target != "binary":
            return y
        if self.single_logit:
            return y.float()[..., None]  # (N[, T]) -> (N[, T], 1), matching the single logit
        return nn.functional.one_hot(y, self.num_classes).float()  # one-vs-rest

    def probabilities(self, out: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, C)`` from the model's logits: a sigmoid turns a
        single logit into P(class 1) (and 1 − it into P(class 0)); a softmax turns a
        row of C logits into a distribution. (BCE over C columns is one-vs-rest: each
        column its own sigmoid, the rows need not sum to 1.)"""
        if self.single_logit:
            p1 = torch.sigmoid(out[:, 0])
            return torch.stack([1 - p1, p1], dim=1)  # (N, 1) -> (N, 2)
        if self.loss_target == "binary":
            return torch.sigmoid(out)
        return torch.softmax(out, dim=1)

    def labels(self, out: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted and true class indices from logits and encoded targets."""
        if self.single_logit:
            return (out[:, 0] > 0).long(), t[:, 0].long()
        pred = out.argmax(1)
        return pred, (t.argmax(1) if t.ndim == 2 else t)

    def train_metrics(self, out: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
        pred, true = self.labels(out, t)
        return {"accuracy": (pred == true).float().mean().item()}

    @torch.inference_mode()
    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """One precision-recall curve per class (one against the rest) on the test split,
        for TensorBoard's PR CURVES tab; a binary task draws the positive class only."""
        out, t = outputs(model, data, "test")
        scores, (_, true) = self.probabilities(out), self.labels(out, t)
        names = data.class_names or [str(c) for c in range(scores.shape[1])]
        classes = [1] if self.num_classes == 2 else range(scores.shape[1])
        for c in classes:
            logger.pr_curve(f"pr_curve/test/{names[c]}", true == c, scores[:, c], step)

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        return self.train_metrics(out, t)  # accuracy, in train and eval mode alike


@TASKS.register("regression")
class Regression(Task):
    """Real-valued targets: one output per target column.

    Metrics are reported in the data's original units (the data module
    standardizes targets for training): MSE, MAE and R² (coefficient of
    determination, averaged over targets as scikit-learn does by default).
    """

    name = "regression"
    target_kind = "regression"

    def in_units(
        self, out: torch.Tensor, t: torch.Tensor, data: DataModule
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets in the data's original units (float64)."""
        out, t = out.double(), t.double()
        if "y_std" in data.stats:
            std = data.stats["y_std"].double().to(out.device)
            mean = data.stats["y_mean"].double().to(out.device)
            out, t = out * std + mean, t * std + mean
        return out, t

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        out, t = self.in_units(out, t, data)
        err = out - t
        ss_res = (err**2).sum(0)
        ss_tot = ((t - t.mean(0)) ** 2).sum(0)
        r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot, torch.zeros_like(ss_tot))
        return {
            "mse": (err**2).mean().item(),
            "mae": err.abs().mean().item(),
            "r2": r2.mean().item(),
        }


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
        logger.embedding(z, labels, "test", step)


# The generative tasks (adversarial, reconstruction) register themselves on import.
from engine import generative  # noqa: E402, F401
