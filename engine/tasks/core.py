"""Tasks: how a batch becomes predictions, a loss, and metrics.

A task sits between the data and the loss. It checks that the three fit together
(before any training), chooses the size of the model's head, encodes targets the
way the loss wants them once, and computes metrics in the data's own units.

Where it continues: the families of tasks are the other modules of this package;
the epoch loop that calls :meth:`Task.training_step` and keeps the books is
``engine/trainer.py``; ``engine/run.py`` builds data, loss, task and model from a
config and checks they fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import torch
from torch import nn

import losses
import zoo
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


class Step(NamedTuple):
    """What one training step reports to the trainer, which checks, logs and averages it."""

    values: dict[str, torch.Tensor]  # 0-d numbers by name: loss, penalty, loss_d, kl, ...
    outputs: torch.Tensor | None = None  # the model's outputs and their targets, for
    targets: torch.Tensor | None = None  # train_metrics (and to weigh the step's values)


class Task:
    """Base class. Subclasses set ``name`` and ``target_kind``.

    Most tasks only say how outputs become a loss and metrics, and the default
    :meth:`training_step` (forward, loss, backward, one optimizer step) trains them.
    A task whose training is more than that (a GAN's two players, a VAE's loss on the
    posterior) overrides :meth:`training_step`, names the parts that get their own
    optimizer in :meth:`optimizer_groups`, and overrides :meth:`evaluate`. A task that
    reads other batches than the shuffled training split's (a semi-supervised task's
    labelled and unlabelled pairs, a few-shot task's episodes) overrides
    :meth:`train_batches`, and :meth:`steps_per_epoch` where their number differs.
    """

    name: str = ""
    target_kind: str = ""  # what DataSpec.target_kind this task reads
    generative: bool = False  # evaluation saves what it makes (arrays), not predictions
    takes_penalty: bool = True  # whether a regularizer's weight penalty fits its losses
    takes_augment: bool = True  # whether its training step applies trainer.augment
    needs_views: bool = False  # whether it cannot train without an augmentation (SimCLR)
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

    def model_spec(self, spec: DataSpec, model_name: str) -> DataSpec:
        """The data as the model is built for it (default: as it is; the masked task
        asks a model that can for one output per step)."""
        return spec

    def state_dict(self) -> dict[str, Any]:
        """What the task itself learns beside the model (an EMA teacher), saved in
        ``last.pt`` for exact resume (default: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` gave."""

    def train_batches(
        self, data: DataModule, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Any, torch.Tensor]]:
        """An epoch's training batches ``(x, t)`` (default: the shuffled training split;
        a semi-supervised task pairs each with an unlabelled batch)."""
        return data.batches("train", batch_size, generator=generator)

    def steps_per_epoch(self, data: DataModule, batch_size: int) -> int:
        """How many batches :meth:`train_batches` yields an epoch, what a schedule over
        the run counts (default: the training split's; a semi-supervised task's epoch is
        a pass over its unlabelled samples)."""
        return data.num_batches("train", batch_size)

    def bind(self, data: DataModule) -> None:
        """Look at the built data once, before the model (default: nothing; e.g. the
        reconstruction task checks the input range its loss needs)."""

    def check_model(self, model: nn.Module, model_name: str) -> None:
        """Refuse, in one line, a model this task cannot train (default: any model but
        one registered with a task of its own, as the generative ones are)."""
        own = zoo.model_task(model_name)
        if own is not None and own != self.name:
            raise ConfigError(
                f"model '{model_name}' is trained by task={own}, not {self.name}; "
                f"use task={own} (or name only the model, which brings its task and loss)"
            )

    def optimizer_groups(self, model: nn.Module) -> dict[str, tuple[Any, str]]:
        """The parts of the model that get their own optimizer: name -> (parameters,
        the config group of its optimizer). One optimizer, ``optim``, by default."""
        return {"model": (model.parameters(), "optim")}

    def training_step(self, trainer: Any, x: Any, t: torch.Tensor) -> Step:
        """One optimizer step on one batch, by default of mini-batch gradient descent:

            θ ← θ − η·∇θ (L(f(x; θ), t) + Ω(θ))

        with L the loss, Ω the regularizer's weight penalty and the update rule the
        optimizer's (η·∇ for plain SGD). ``trainer.forward_backward`` leaves ∇θ(L + Ω)
        in ``.grad`` (through time, truncated or not, for a recurrent model) and
        ``trainer.optimizer_step`` clips it and steps. Returns L (``loss``, comparable
        to ``val/loss``), Ω (``penalty``) and the outputs, for :meth:`train_metrics`.

        A task that trains otherwise updates its weights with ``trainer.update(name,
        loss)`` (backward, clip, step of optimizer ``name``) and returns its numbers:
        the trainer checks each for inf/NaN, logs the ``loss*`` ones every step and
        averages each over the epoch's samples.

        With ``augment=...`` the batch first goes through ``trainer.augment`` (and, for
        mixup or cutmix, its targets become soft): training batches only.
        """
        if trainer.augment:  # engine/augmentation.py
            x, t = trainer.augment.batch(x, t, trainer.augment_generator)
        out, t, loss, penalty = trainer.forward_backward(x, t)
        trainer.optimizer_step("model")
        values = {"loss": loss} if penalty is None else {"loss": loss, "penalty": penalty}
        return Step(values, out, t)

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

    def baseline(
        self, data: DataModule, split: str = "test"
    ) -> tuple[str, dict[str, float]] | None:
        """What a trivial predictor, fitted on the training split, scores on ``split``:
        the number a trained model must beat to have learned anything (its name and its
        metrics), or None when this task has no such predictor (default)."""
        return None

    def units(self) -> str | None:
        """A note on what the numbers are measured in, where the loss and the metrics
        differ (default: none)."""
        return None

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """Log what a task shows beyond scalars, once the test metrics are in (default:
        nothing; the embedding task sends the test embeddings to the projector)."""
