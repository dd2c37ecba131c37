"""Semi-supervised classification: a few labels, many unlabelled inputs.

With ``data.labels_per_class=k`` the training split keeps k labelled samples per
class and serves the rest unlabelled (:mod:`engine.data.labels`). Every step reads a
labelled batch of B samples and an unlabelled batch of μ·B (FixMatch's μ); an epoch
is one pass over the unlabelled set, the few labelled samples cycled through in
shuffled rounds. The loss adds an unlabelled term to the labelled one,

    L = L_s(f(x_l), y_l) + λ_u · L_u(x_u),

and the tasks differ in L_u:

* ``pseudo_label`` (Lee, 2013): the model's own confident predictions on x_u become
  hard targets: L_u = mean_b 1[max p_b ≥ τ] · CE(f(x_u)_b, argmax p_b).
* ``mean_teacher`` (Tarvainen & Valpola, 2017): an EMA of the model's weights
  (:mod:`engine.tasks.teacher`) predicts on a differently perturbed copy of x_u; the
  student's class probabilities are pulled toward the teacher's by squared error,
  L_u = mean_b ‖softmax f(x̃_u)_b − softmax f′(x̃′_u)_b‖², its weight ramped up as
  exp(−5(1 − t/T)²) over the first T epochs.
* ``fixmatch`` (Sohn et al., 2020): the prediction on a weakly augmented view gives
  a hard pseudo-label when its confidence reaches τ = 0.95, and the strongly
  augmented view is trained on it: L_u = mean_b 1[max p_b^weak ≥ τ] · CE(f(A(x_u))_b,
  argmax p_b^weak).

Each step also reports ``mask_rate`` (the share of unlabelled samples that passed the
threshold) and ``pseudo_accuracy`` (how often the pseudo-labels that passed are right,
read from the hidden labels of the unlabelled set, which no loss ever sees).

Where it continues: the split into labelled and unlabelled is
``engine/data/labels.py``; the supervised part and the evaluation are the
classification task's (``engine/tasks/supervised.py``); LabelSpreading, the
non-neural baseline, is in ``bench/semi_supervised.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.data import DataModule
from engine.data.core import batch_count
from engine.errors import ConfigError
from engine.tasks.core import TASKS, Step
from engine.tasks.supervised import Classification
from engine.tasks.teacher import EMATeacher


class MixedBatch(NamedTuple):
    """One step's inputs: B labelled and μ·B unlabelled samples (and the unlabelled
    samples' hidden labels, for the ``pseudo_accuracy`` diagnostic only)."""

    labelled: Tensor
    unlabelled: Tensor
    hidden_labels: Tensor


class SemiSupervised(Classification):
    """What the semi-supervised tasks share: the batches, the labelled loss, the
    confidence mask and its diagnostics.

    Args:
        mu: μ, unlabelled samples per labelled one in a step (FixMatch: 7).
        unlabelled_weight: λ_u, the weight of the unlabelled loss.
        threshold: τ, the confidence a pseudo-label needs (FixMatch: 0.95).
    """

    takes_penalty = False
    takes_augment = False  # True where the unlabelled loss draws augmented views
    needs_views = False  # FixMatch: a strong augmentation is required

    def __init__(
        self, mu: int = 7, unlabelled_weight: float = 1.0, threshold: float = 0.95
    ) -> None:
        super().__init__()
        if not (isinstance(mu, int) and mu >= 1):
            raise ValueError(f"mu must be a whole number >= 1 (FixMatch: 7), got {mu!r}")
        if unlabelled_weight < 0:
            raise ValueError(f"unlabelled_weight must be >= 0, got {unlabelled_weight}")
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1) (FixMatch: 0.95), got {threshold}")
        self.mu, self.unlabelled_weight, self.threshold = mu, unlabelled_weight, threshold

    def check_loss(self, loss: nn.Module, loss_name: str) -> None:
        """The labelled loss is a classification loss on class indices (the unlabelled
        one is the task's own)."""
        if "classification" not in getattr(loss, "tasks", ()) or loss.target != "index":
            raise ConfigError(
                f"task '{self.name}' trains on labels and hard pseudo-labels by class index; "
                f"use loss=sparse_cross_entropy, not {loss_name}"
            )
        self.loss_target = loss.target

    def bind(self, data: DataModule) -> None:
        if not data.has_unlabelled:
            raise ConfigError(
                f"task '{self.name}' learns from unlabelled data: set data.labels_per_class=k "
                "(e.g. 10), which keeps k labels per class and serves the rest unlabelled"
            )
        if data.lengths is not None:
            raise ConfigError(
                f"task '{self.name}' takes inputs of one shape; these are padded sequences "
                "of different lengths"
            )

    def train_batches(
        self, data: DataModule, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[MixedBatch, Tensor]]:
        """One pass over the shuffled unlabelled set in batches of μ·B, each paired with
        the next B labelled samples of shuffled rounds through the labelled set."""
        x_l, y_l = data.splits["train"]
        x_u, y_u = data.splits["unlabelled"]
        size_u = self.mu * batch_size
        steps = self.steps_per_epoch(data, batch_size)
        rounds = math.ceil(steps * batch_size / len(x_l))
        order_l = torch.cat([torch.randperm(len(x_l), generator=generator) for _ in range(rounds)])
        order_u = torch.randperm(len(x_u), generator=generator)
        order_l, order_u = order_l.to(x_l.device), order_u.to(x_u.device)
        for i in range(steps):
            u = order_u[i * size_u : len(x_u) if i == steps - 1 else (i + 1) * size_u]
            lab = order_l[i * batch_size : (i + 1) * batch_size]
            yield MixedBatch(x_l[lab], x_u[u], y_u[u]), y_l[lab]

    def steps_per_epoch(self, data: DataModule, batch_size: int) -> int:
        return batch_count(data.size("unlabelled"), self.mu * batch_size)

    def confident(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Hard pseudo-labels argmax p and the mask max p ≥ τ of (detached) logits."""
        probs = torch.softmax(logits.detach(), dim=1)
        confidence, labels = probs.max(dim=1)
        return labels, (confidence >= self.threshold).float()

    def pseudo_label_loss(
        self, logits: Tensor, labels: Tensor, mask: Tensor, hidden: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """mean_b mask_b · CE(logits_b, labels_b), with its diagnostics."""
        loss = (F.cross_entropy(logits, labels, reduction="none") * mask).mean()
        right = ((labels == hidden).float() * mask).sum() / mask.sum().clamp(min=1)
        return loss, {"mask_rate": mask.mean(), "pseudo_accuracy": right}

    def unlabelled_loss(self, trainer: Any, batch: MixedBatch) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def training_step(self, trainer: Any, x: MixedBatch, t: Tensor) -> Step:
        """L = L_s + λ_u·L_u, one optimizer step; the labelled logits for train_metrics."""
        model = trainer.model
        out = model(x.labelled)
        supervised = trainer.loss_fn(out, t)
        unlabelled, extra = self.unlabelled_loss(trainer, x)
        loss = supervised + self.weight(trainer) * unlabelled
        trainer.update("model", loss)
        self.after_update(trainer)
        values = {"loss": loss, "loss_labelled": supervised, "loss_unlabelled": unlabelled}
        return Step(values | extra, out, t)

    def weight(self, trainer: Any) -> float:
        return self.unlabelled_weight

    def after_update(self, trainer: Any) -> None:
        """What follows each optimizer step (the mean teacher's EMA)."""


@TASKS.register("pseudo_label")
class PseudoLabel(SemiSupervised):
    """Pseudo-labelling: confident predictions on unlabelled inputs as targets (Lee 2013;
    a threshold τ as in USB's implementation rather than Lee's annealed weight)."""

    name = "pseudo_label"

    def unlabelled_loss(self, trainer: Any, batch: MixedBatch) -> tuple[Tensor, dict]:
        logits = trainer.model(batch.unlabelled)
        labels, mask = self.confident(logits)
        return self.pseudo_label_loss(logits, labels, mask, batch.hidden_labels)


@TASKS.register("mean_teacher")
class MeanTeacher(SemiSupervised):
    """Mean Teacher: consistency with an EMA teacher on perturbed unlabelled inputs.

    Each of the student and the teacher reads its own perturbation of x_u: a draw of
    the configured augmentation (``augment=light``; none with augment=none), then
    Gaussian input noise of standard deviation σ (in the standardized units of the
    data, the paper's "input noise"), on top of the student's dropout.

    Args:
        ema_decay: α of the teacher's weights. The paper's 0.99 early, 0.999 later
            average 100-1000 steps of runs of 10^5; the default 0.9 averages about 10,
            one epoch of digits at k = 10 (runs of a few hundred steps; the YAML has
            the figures).
        noise: σ of the input noise; 0 = none.
        rampup_epochs: T, epochs over which the consistency weight rises to λ_u (the
            default 15: a quarter of a 60-epoch run, as Laine & Aila's 80 of 300).
        unlabelled_weight: λ_u (the paper's consistency weight; 10 to 100 with MSE
            over classes, here the mean over samples of the squared distance).
    """

    name = "mean_teacher"
    takes_augment = True  # each of student and teacher sees its own augmented draw

    def __init__(
        self,
        ema_decay: float = 0.9,
        noise: float = 0.15,
        rampup_epochs: int = 15,
        unlabelled_weight: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(unlabelled_weight=unlabelled_weight, **kwargs)
        if not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if noise < 0 or rampup_epochs < 0:
            raise ValueError(
                f"noise and rampup_epochs must be >= 0, got {noise} and {rampup_epochs}"
            )
        self.ema_decay, self.noise, self.rampup_epochs = ema_decay, noise, rampup_epochs
        self.teacher: EMATeacher | None = None
        self._pending: dict[str, Any] | None = None

    def ensure_teacher(self, model: nn.Module) -> EMATeacher:
        """The teacher, made from the model at its first step (after initialization, or
        from a checkpoint's teacher when resuming)."""
        if self.teacher is None:
            self.teacher = EMATeacher(model, self.ema_decay)
            if self._pending is not None:
                self.teacher.load_state_dict(self._pending)
        return self.teacher

    def perturb(self, trainer: Any, x: Tensor) -> Tensor:
        """x augmented as configured (``augment=light``), then with input noise."""
        if trainer.augment:
            x = trainer.augment(x, trainer.augment_generator)
        return x + self.noise * torch.randn_like(x) if self.noise else x

    def unlabelled_loss(self, trainer: Any, batch: MixedBatch) -> tuple[Tensor, dict]:
        teacher = self.ensure_teacher(trainer.model)
        student = torch.softmax(trainer.model(self.perturb(trainer, batch.unlabelled)), dim=1)
        target = torch.softmax(teacher(self.perturb(trainer, batch.unlabelled)), dim=1)
        consistency = (student - target).pow(2).sum(1).mean()  # ‖·‖² per sample, mean
        agree = (target.argmax(1) == batch.hidden_labels).float().mean()
        return consistency, {"pseudo_accuracy": agree}

    def weight(self, trainer: Any) -> float:
        """λ_u·exp(−5(1 − t/T)²), t the epoch in progress (Laine & Aila's ramp-up)."""
        if not self.rampup_epochs:
            return self.unlabelled_weight
        progress = min(trainer.epoch / self.rampup_epochs, 1.0)
        return self.unlabelled_weight * math.exp(-5 * (1 - progress) ** 2)

    def after_update(self, trainer: Any) -> None:
        self.ensure_teacher(trainer.model).update(trainer.model)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.teacher is None else {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "teacher" in state:
            self._pending = state["teacher"]  # the model may not be built into a teacher yet
            if self.teacher is not None:
                self.teacher.load_state_dict(self._pending)


@TASKS.register("fixmatch")
class FixMatch(SemiSupervised):
    """FixMatch: pseudo-labels from weak views train the strong views (Sohn et al. 2020).

    Per step: the unlabelled batch is augmented twice, weakly by ``weak`` (a small
    affine: the preset ``light``; FixMatch's flip-and-shift without the flip, which
    changes a digit's class) and strongly by the configured ``augment=strong`` (the
    paper's RandAugment + Cutout in spirit: affine with shear, brightness, contrast,
    erasing). The prediction on the weak view, where its confidence reaches τ, is the
    hard target of the strong view. Labelled and both unlabelled views go through the
    model in one forward pass, as in the paper's code, so batch norm sees them together.

    Args:
        weak: the augment preset or transform of the weak view.
    """

    name = "fixmatch"
    takes_augment = True
    needs_views = True

    def __init__(self, weak: str = "light", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weak_name = weak

    def bind(self, data: DataModule) -> None:
        super().bind(data)
        import augment  # the augmentation package, needed by this task only

        spec = data.spec
        try:
            weak = augment.build_augment(
                self.weak_name, spec.input_kind, spec.input_shape, data.stats
            )
        except (augment.AugmentError, augment.UnknownNameError, ValueError) as e:
            raise ConfigError(f"task 'fixmatch' weak view: {e}") from None
        self.weak = weak.to(data.device)

    def training_step(self, trainer: Any, x: MixedBatch, t: Tensor) -> Step:
        g, model, n = trainer.augment_generator, trainer.model, len(x.labelled)
        weak, strong = self.weak(x.unlabelled, g), trainer.augment(x.unlabelled, g)
        logits = model(torch.cat([x.labelled, weak, strong]))  # (B + 2μB, C)
        out, (logits_weak, logits_strong) = logits[:n], logits[n:].chunk(2)
        supervised = trainer.loss_fn(out, t)
        labels, mask = self.confident(logits_weak)  # detached: no gradient through targets
        unlabelled, extra = self.pseudo_label_loss(logits_strong, labels, mask, x.hidden_labels)
        loss = supervised + self.unlabelled_weight * unlabelled
        trainer.update("model", loss)
        values = {"loss": loss, "loss_labelled": supervised, "loss_unlabelled": unlabelled}
        return Step(values | extra, out, t)
