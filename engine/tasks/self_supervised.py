"""Self-supervised tasks: learn a representation from the inputs alone.

A pretext task hides or changes part of each input and asks the model to undo or see
through it; no label is read in training. Three tasks:

* ``masked``: mask a random share of the input and reconstruct it, the loss counted
  on the masked positions only. Images lose square patches (MAE, He et al. 2022, on
  the Transformer reading patches; a CNN inpaints the squares, Pathak et al. 2016),
  sequences lose whole steps and vectors features (BERT, Devlin et al. 2019, on the
  Transformer and the RNNs). A masked position is set to 0, the training mean after
  standard scaling (SimMIM's choice of keeping every token in the encoder, Xie et
  al. 2022, rather than MAE's dropping them).
* ``simclr``: two augmented views of every input, the model's outputs compared with
  NT-Xent (Chen et al. 2020); the model's head is the projection g.
* ``vicreg``: the same two views, compared with VICReg (Bardes et al. 2022).

Each reports how good the representation is (:mod:`engine.report.representation`):
a linear probe and kNN accuracy on the frozen features, every ``probe_every`` epochs
on the validation split (``val/linear_probe``, ``val/knn_accuracy``) and after
training on validation and test; the test features go to TensorBoard's projector.

Where it continues: the losses are ``losses/self_supervised.py`` (nt_xent, vicreg)
and ``losses/regression.py`` (mse); fine-tuning the pretrained weights on few labels
is ``transfer.from`` (``engine/run.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor, nn

from engine.data import DataModule
from engine.errors import ConfigError
from engine.report.pictures import thumbnails
from engine.report.representation import last_linear, probe_metrics, split_features
from engine.tasks.core import TASKS, Step, Task
from zoo import DataSpec
from zoo.factory import MODELS
from zoo.modes import eval_mode
from zoo.sequence import as_sequence, padding_mask

EVAL_SEED = 0  # masks and views of evaluation: the same at every epoch, training RNG untouched


class Representation(Task):
    """What the self-supervised tasks share: any labelled data (labels only score the
    features), the probes, and the projector.

    Args:
        probe_every: evaluate the representation on the validation split every this
            many epochs (0 = only after training).
        knn_k: k of the kNN accuracy.
        probe_c: C of the linear probe's logistic regression (inverse L2 strength).
    """

    target_kind = "classification"
    takes_penalty = False
    takes_augment = False  # masking is its own corruption; the two-view tasks take views
    needs_views = False  # whether it needs an augmentation to draw two views

    def __init__(self, probe_every: int = 5, knn_k: int = 5, probe_c: float = 1.0) -> None:
        if probe_every < 0:
            raise ValueError(f"probe_every must be >= 0 (0 = after training), got {probe_every}")
        if knn_k < 1:
            raise ValueError(f"knn_k must be >= 1, got {knn_k}")
        if not probe_c > 0:
            raise ValueError(f"probe_c must be > 0, got {probe_c}")
        self.probe_every, self.knn_k, self.probe_c = probe_every, knn_k, probe_c
        self._epoch = 0  # the epoch whose validation comes next (set by training_step)
        self._in_training = False  # the next val evaluation is the epoch's own

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        self.check_loss(loss, loss_name)
        self.loss_fn = loss
        self.probes = spec.target_kind == "classification"  # labels to score features with
        return self.output_size(spec)

    def check_model(self, model: nn.Module, model_name: str) -> None:
        super().check_model(model, model_name)
        last_linear(model, model_name)  # the probes read its input: one line if none

    def mark_epoch(self, trainer: Any) -> None:
        self._epoch, self._in_training = trainer.epoch + 1, True

    def batch_loss(self, model: nn.Module, x: Any, generator: torch.Generator | None) -> Tensor:
        """The pretext loss of one batch, its randomness (masks, views) drawn from
        ``generator`` (None: the global RNG, in training)."""
        raise NotImplementedError

    def eval_generator(self, device: torch.device) -> torch.Generator:
        """The fixed draws of evaluation: the same masks or views at every epoch."""
        return torch.Generator(device=device).manual_seed(EVAL_SEED)

    def pretext_loss(self, model: nn.Module, data: DataModule, split: str) -> float:
        """The batch loss's mean over a split, in eval mode, from fixed draws."""
        generator = self.eval_generator(data.device)
        total, n = 0.0, 0
        with eval_mode(model):
            for x, t in data.batches(split, 4096):
                total += self.batch_loss(model, x, generator).item() * len(t)
                n += len(t)
        return total / n

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        """The pretext loss; the probes on test, on val every ``probe_every`` epochs
        during training and always after it."""
        metrics = {"loss": self.pretext_loss(model, data, split)}
        per_epoch = split == "val" and self._in_training
        self._in_training = self._in_training and not per_epoch
        due = not per_epoch or (self.probe_every and self._epoch % self.probe_every == 0)
        if self.probes and due and split != "train":
            metrics |= probe_metrics(model, data, split, self.knn_k, self.probe_c)
        return metrics

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        h, t = split_features(model, data, "test")
        names = data.class_names
        labels = [names[i] for i in t.tolist()] if names and self.probes else t.tolist()
        logger.embedding(h, labels, "test", step, images=thumbnails(data, "test"))


# ----------------------------------------------------------------------------- masked


def unit_grid(x: Tensor, input_kind: str, patch: int) -> tuple[int, ...]:
    """The maskable units of one sample: squares of side p on an image ``(⌈H/p⌉,
    ⌈W/p⌉)``, steps of a sequence ``(T,)``, features of a vector ``(F,)``."""
    if input_kind == "image":
        return (math.ceil(x.shape[2] / patch), math.ceil(x.shape[3] / patch))
    return (x.shape[1],)


def draw_mask(
    x: Tensor,
    input_kind: str,
    ratio: float,
    patch: int,
    lengths: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A bool mask of x's shape, True where hidden: in each sample exactly
    round(ratio·n) of its n real units (at least one), chosen uniformly (MAE's
    per-sample random shuffle), expanded to the pixels, features or steps they cover."""
    grid = unit_grid(x, input_kind, patch)
    B = len(x)
    scores = torch.rand(B, math.prod(grid), generator=generator).to(x.device)  # (B, U)
    real = torch.full((B,), scores.shape[1], device=x.device)
    if lengths is not None:  # only the real steps of padded sequences
        scores = scores.masked_fill(padding_mask(lengths, scores.shape[1]), 2.0)
        real = lengths.to(x.device)
    count = (ratio * real).round().clamp(min=1)  # (B,)
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, U): each unit's place in the shuffle
    units = (rank < count[:, None]).view(B, *grid)
    if input_kind == "image":  # (B, Hu, Wu) -> (B, C, H, W)
        pixels = units.repeat_interleave(patch, 1).repeat_interleave(patch, 2)
        return pixels[:, None, : x.shape[2], : x.shape[3]].expand_as(x)
    if x.ndim == 3:  # whole steps: (B, T) -> (B, T, F)
        return units[..., None].expand_as(x)
    return units  # (B, F)


@TASKS.register("masked")
class Masked(Representation):
    """Masked prediction: hide a random share of each input and reconstruct it.

    With M the mask (1 = hidden), x̃ = (1 − M) ⊙ x the masked input and x̂ = f(x̃):

        L = Σ M ⊙ ℓ(x̂, x) / Σ M        (ℓ the loss's, mse by default)

    only the hidden positions count; copying the visible ones earns nothing. A model
    with per-step outputs (Transformer, RNN, LSTM, GRU) predicts each token from its
    own output, in the token layout it reads (rows, steps or patches); any other model
    (CNN, MLP) outputs the whole input at once, reshaped to x's shape.

    Args:
        mask_ratio: the share of units hidden, in (0, 1) (MAE: 0.75, BERT: 0.15).
        patch_size: p, the side of the hidden squares on images (the Transformer's
            patch_size with tokens=patches, for MAE's setting).
    """

    name = "masked"

    def __init__(self, mask_ratio: float = 0.5, patch_size: int = 2, **probe: Any) -> None:
        if not 0 < mask_ratio < 1:
            raise ValueError(
                f"mask_ratio must be in (0, 1), got {mask_ratio}; e.g. 0.75 (MAE) or 0.15 (BERT)"
            )
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        super().__init__(**probe)
        self.mask_ratio, self.patch_size = mask_ratio, patch_size

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        if spec.input_kind not in ("image", "sequence", "vector"):
            raise ConfigError(
                f"task 'masked' hides parts of images, sequences or vectors, not the "
                f"{spec.input_kind} data of '{data_name}'; use data=digits, sine or adding"
            )
        self.input_kind = spec.input_kind
        self.input_shape = spec.input_shape
        return super().configure(spec, data_name, loss, loss_name)

    def output_size(self, spec: DataSpec) -> int:
        return spec.in_features  # the whole input; a per-step model's head is resized

    def model_spec(self, spec: DataSpec, model_name: str) -> DataSpec:
        """A model with per-step outputs is built to give them (one per token)."""
        self.per_token = bool(MODELS.meta(model_name)["step_outputs"])
        return dataclasses.replace(spec, step_targets=self.per_token)

    def check_model(self, model: nn.Module, model_name: str) -> None:
        super().check_model(model, model_name)
        if self.per_token:  # the head gives each token back: K = the token's features
            head = last_linear(model)
            example = torch.zeros(1, *self.input_shape, device=head.weight.device)
            size = self.tokens(model, example).shape[-1]
            if head.out_features != size:
                replace_module(model, head, nn.Linear(head.in_features, size))

    def tokens(self, model: nn.Module, x: Tensor) -> Tensor:
        """x in the layout of a per-step model's outputs ``(B, T, K)``: its own
        tokenizer (the Transformer's rows or patches), else rows or steps."""
        tokenize = getattr(model, "tokenize", as_sequence)
        return tokenize(x)

    def batch_loss(
        self, model: nn.Module, x: Any, generator: torch.Generator | None = None
    ) -> Tensor:
        """L on the hidden positions of one batch, with a fresh mask."""
        x, lengths = x if isinstance(x, tuple) else (x, None)
        mask = draw_mask(x, self.input_kind, self.mask_ratio, self.patch_size, lengths, generator)
        visible = x.masked_fill(mask, 0.0)
        out = model(visible) if lengths is None else model(visible, lengths)
        if self.per_token:
            target, hidden = self.tokens(model, x), self.tokens(model, mask.float()) > 0.5
        else:  # (B, prod(shape)) -> x's shape
            target, hidden, out = x, mask, out.view_as(x)
        return self.loss_fn(out[hidden], target[hidden])  # (S,): the hidden positions only

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        self.mark_epoch(trainer)
        loss = self.batch_loss(trainer.model, x)
        trainer.update("model", loss)
        return Step({"loss": loss})

    def eval_generator(self, device: torch.device) -> torch.Generator:
        return torch.Generator().manual_seed(EVAL_SEED)  # masks are drawn on the CPU


def replace_module(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` where ``old`` sits in ``model`` (on its device)."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new.to(old.weight.device))
                return
    raise ValueError("module not found in model")


# ----------------------------------------------------------------------------- two views


class TwoViews(Representation):
    """Two augmented views of every input, their embeddings compared by the loss.

    Per step: v = t(x), v′ = t′(x) with t, t′ two draws of the configured augmentation
    (``augment=light`` or ``strong``), z, z′ = f(v), f(v′) in one forward pass (batch
    norm sees both views together), L = loss(z, z′), one optimizer step. The model's
    output layer is the projection g; the probes read its input h, the representation
    kept after pretraining (SimCLR §4.2: h, not z = g(h), transfers best).

    Args:
        dim: the width of z, the projection's output.
    """

    takes_augment = True
    needs_views = True

    def __init__(self, dim: int = 64, **probe: Any) -> None:
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"dim must be a whole number >= 1, got {dim!r}")
        super().__init__(**probe)
        self.dim = dim
        self.pipeline: Any = None  # the run's augmentation, seen at the first step

    def output_size(self, spec: DataSpec) -> int:
        return self.dim

    def batch_loss(self, model: nn.Module, x: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.pipeline:
            v1, v2 = self.pipeline(x, generator), self.pipeline(x, generator)
        else:  # a loaded run evaluated without its pipeline: the inputs themselves
            v1 = v2 = x
        z1, z2 = model(torch.cat([v1, v2])).chunk(2)  # (2B, D) -> 2 x (B, D)
        return self.loss_fn(z1, z2)

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        self.mark_epoch(trainer)
        self.pipeline = trainer.augment
        loss = self.batch_loss(trainer.model, x, trainer.augment_generator)
        trainer.update("model", loss)
        return Step({"loss": loss})


@TASKS.register("simclr")
class SimCLR(TwoViews):
    """SimCLR (Chen et al. 2020): NT-Xent between the two views' projections (loss=nt_xent,
    its temperature ``loss.temperature``)."""

    name = "simclr"


@TASKS.register("vicreg")
class VICReg(TwoViews):
    """VICReg (Bardes et al. 2022): invariance between the views' embeddings, with
    variance and covariance terms against collapse (loss=vicreg)."""

    name = "vicreg"
