"""Supervised tasks: classification from logits, regression of real values.

Both train with the trainer's default step (forward, loss, backward, one optimizer
step); what they add is the size of the head, the encoding of targets, and metrics
in the data's own units.

Where it continues: the losses they pair with are in ``losses/classification.py``,
``losses/margin.py``, ``losses/divergence.py`` (distillation's KL) and
``losses/regression.py``; the full evaluation of a finished run (confusion matrix,
ROC and PR curves, scikit-learn-equal metrics) is
``engine/report/evaluation.py`` and ``engine/report/metrics.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.data.core import DataModule
from engine.tasks.core import TASKS, Task, outputs
from zoo import DataSpec


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

    def score(
        self, out: torch.Tensor, t: torch.Tensor, loss_fn: nn.Module, data: DataModule
    ) -> dict[str, float]:
        """Under distillation, the loss on true labels (validation, test) is their
        cross-entropy, −(1/N) Σ_i log softmax(z_i)_{y_i}: the T²-scaled KL of the
        training loss means nothing against one-hot labels, and early stopping watches
        ``val/loss``. (``train/loss`` stays the KL to the teacher's softened outputs.)"""
        if self.teacher_run is None or t.is_floating_point():
            return super().score(out, t, loss_fn, data)
        with torch.inference_mode():
            loss = nn.functional.cross_entropy(out, t).item()
        return {"loss": loss, **self.metrics(out, t, data)}

    def class_indices(self, t: torch.Tensor) -> torch.Tensor:
        """Encoded targets back to class indices, one per sample (or per step); soft
        targets (a teacher's logits) to the class they favour."""
        if self.single_logit:
            return t[..., 0].long()
        return t.argmax(-1) if t.is_floating_point() else t

    def baseline(self, data: DataModule, split: str = "test") -> tuple[str, dict[str, float]]:
        """Always the training split's most frequent class (per step for sequence
        labelling: in the copy task, always 'blank')."""
        train = self.class_indices(data.splits["train"][1]).flatten()
        majority = int(torch.bincount(train).argmax())
        true = self.class_indices(data.splits[split][1]).flatten()
        name = data.class_names[majority] if data.class_names else str(majority)
        accuracy = (true == majority).double().mean().item()
        return f"always the majority class '{name}'", {"accuracy": accuracy}


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

    def baseline(self, data: DataModule, split: str = "test") -> tuple[str, dict[str, float]]:
        """Always the mean of the training targets (R² = 1 − MSE / that predictor's on
        the split's own mean: near 0)."""
        mean = data.splits["train"][1].flatten(0, -2).mean(0)  # (K,)
        t = data.splits[split][1]
        t = t.flatten(0, -2)  # (N[, T], K) -> (N·T, K)
        return "always the training targets' mean", self.metrics(mean.expand_as(t), t, data)

    def units(self) -> str:
        return "loss on standardized targets; mse and mae in the targets' own units"

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
