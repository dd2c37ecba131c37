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
from engine.data import DATASETS, DataModule
from engine.errors import ConfigError
from zoo import DataSpec, Registry

TASKS = Registry("task")


def list_tasks() -> list[str]:
    return TASKS.names()


def create_task(name: str, **kwargs: Any) -> Task:
    return TASKS.get(name)(**kwargs)


class Task:
    """Base class. Subclasses set ``name`` and ``target_kind``."""

    name: str = ""
    target_kind: str = ""  # what DataSpec.target_kind this task reads

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
        fits = getattr(loss, "tasks", ())
        if self.name not in fits:
            fitting = [n for n in losses.list_losses() if self.name in losses.loss_tasks(n)]
            raise ConfigError(
                f"loss '{loss_name}' fits task {', '.join(fits) or 'none'}, not {self.name}; "
                f"losses for {self.name}: {', '.join(fitting)}"
            )
        self.loss_target = getattr(loss, "target", "")
        return self.output_size(spec)

    def output_size(self, spec: DataSpec) -> int:
        return spec.num_outputs

    def encode_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Targets as the loss wants them (applied once per split, not per step)."""
        return y

    def train_metrics(self, out: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
        """Metrics of the outputs the model gave during an epoch (train mode)."""
        return {}

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        raise NotImplementedError

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        """Loss and metrics of ``model`` on a whole split, in eval mode."""
        was_training = model.training
        model.eval()
        batches = [(model(x), t) for x, t in data.batches(split, 4096)]
        model.train(was_training)
        if len(batches) == 1:  # the usual case for small data: no copy
            out, t = batches[0]
        else:
            out, t = torch.cat([o for o, _ in batches]), torch.cat([t for _, t in batches])
        return {"loss": loss_fn(out, t).item(), **self.metrics(out, t, data)}


@TASKS.register("classification")
class Classification(Task):
    """Binary or multi-class classification from logits.

    A binary problem trained with a binary loss (BCE) gets one output, the logit of
    the positive class; every other case gets one output per class.
    """

    name = "classification"
    target_kind = "classification"

    def output_size(self, spec: DataSpec) -> int:
        assert spec.num_classes is not None
        self.single_logit = self.loss_target == "binary" and spec.num_classes == 2
        self.num_classes = spec.num_classes
        return 1 if self.single_logit else spec.num_classes

    def encode_targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.loss_target != "binary":
            return y
        if self.single_logit:
            return y.float()[:, None]  # (N,) -> (N, 1), matching the single logit
        return nn.functional.one_hot(y, self.num_classes).float()  # one-vs-rest

    def labels(self, out: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted and true class indices from logits and encoded targets."""
        if self.single_logit:
            return (out[:, 0] > 0).long(), t[:, 0].long()
        pred = out.argmax(1)
        return pred, (t.argmax(1) if t.ndim == 2 else t)

    def train_metrics(self, out: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
        pred, true = self.labels(out, t)
        return {"accuracy": (pred == true).float().mean().item()}

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        pred, true = self.labels(out, t)
        return {"accuracy": (pred == true).float().mean().item()}


@TASKS.register("regression")
class Regression(Task):
    """Real-valued targets: one output per target column.

    Metrics are reported in the data's original units (the data module
    standardizes targets for training): MSE, MAE and R² (coefficient of
    determination, averaged over targets as scikit-learn does by default).
    """

    name = "regression"
    target_kind = "regression"

    def metrics(self, out: torch.Tensor, t: torch.Tensor, data: DataModule) -> dict[str, float]:
        out, t = out.double(), t.double()
        if "y_std" in data.stats:  # back to original units
            std, mean = data.stats["y_std"].double(), data.stats["y_mean"].double()
            out, t = out * std + mean, t * std + mean
        err = out - t
        ss_res = (err**2).sum(0)
        ss_tot = ((t - t.mean(0)) ** 2).sum(0)
        r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot, torch.zeros_like(ss_tot))
        return {
            "mse": (err**2).mean().item(),
            "mae": err.abs().mean().item(),
            "r2": r2.mean().item(),
        }
