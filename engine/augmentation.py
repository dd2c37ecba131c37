"""The run's augmentation: the configured pipeline, checked against the run, its
random generator, and the picture of what the model is fed.

``augment=<name>`` (configs/augment/) names a transform or a preset of the
``augment`` package. :func:`build_augment_of` builds it for the run's data and
refuses, in one line, what cannot work: data that are not images or sequences
(tables, graphs), a task with its own training step that does not take augmented
batches (GAN, autoencoder), label mixing without class distributions as targets
(mixup needs ``loss=cross_entropy``, whose targets are one-hot rows, or ``bce``),
and, for padded sequences, label mixing (two samples of different lengths do not
mix step by step) and the tasks that compare two views of a batch (SimCLR).
Padded sequences otherwise go through the signal transforms as ``(x, lengths)``,
each acting within a sample's valid steps. The default training
step applies it to training batches only (``engine/tasks/core.py``); validation
and test never see it.

Exact resume: the transforms draw from :func:`augment_generator`, a generator on the
data's device seeded from ``(seed, epoch)`` like the shuffling, not from the global
RNG: the draws of epoch k do not depend on how the run got there, so a run resumed
after epoch k ends with the same bits as one never interrupted, and dropout's
stream is the same with and without augmentation.
"""

from __future__ import annotations

from typing import Any

import torch

import augment
from engine.data import DataModule
from engine.errors import ConfigError
from engine.seeds import epoch_seed
from engine.tasks import Task

AUGMENT_STREAM = 1  # keeps this generator's seeds apart from the shuffling's


def augment_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The augmentation RNG of one epoch on ``device``, a pure function of (seed, epoch)
    (engine/seeds.py)."""
    return torch.Generator(device=device).manual_seed(epoch_seed(seed, epoch, AUGMENT_STREAM))


def build_augment_of(node: Any, data: DataModule, task: Task, loss_name: str) -> augment.Pipeline:
    """The pipeline ``augment`` (a config node) describes, for this run's data and task."""
    node = dict(node or {"name": "none"})
    name = node.get("name", "none")
    if name == "none":
        return augment.Pipeline([], name="none")
    spec = data.spec
    if not task.takes_augment:
        raise ConfigError(
            f"task '{task.name}' trains with its own step, which does not take augmented "
            f"batches; use augment=none"
        )
    try:
        pipeline = augment.build_augment(node, spec.input_kind, spec.input_shape, data.stats)
    except augment.AugmentError as e:
        raise ConfigError(str(e)) from None
    except augment.UnknownNameError as e:
        raise ConfigError(f"{e} (python train.py augment=list says what each does)") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"augment '{name}': {e}") from None
    if pipeline.mixes and (
        spec.target_kind != "classification" or task.loss_target not in ("onehot", "binary")
    ):
        raise ConfigError(
            f"augment={name} mixes labels into soft targets, which loss '{loss_name}' does not "
            f"take; use loss=cross_entropy (class distributions) on classification data"
        )
    if spec.padded and task.needs_views:
        raise ConfigError(
            f"task '{task.name}' compares two augmented views of whole batches, which it does "
            "not draw for padded sequences of different lengths; use data of one length"
        )
    if pipeline.mixes and spec.padded:
        raise ConfigError(
            f"augment={name} mixes pairs of samples step by step, which padded sequences of "
            "different lengths do not allow; use augment=light or strong (they keep to each "
            "sequence's valid steps), or data of one length"
        )
    return pipeline.to(data.device)


def describe_augments() -> str:
    """What ``python train.py augment=list`` prints: every option, its inputs, its line."""
    rows = []
    for name in ["none", *augment.list_augments()]:
        if name == "none":
            kinds, text = "any", "No augmentation (the default)."
        else:
            meta = augment.AUGMENTS.meta(name)
            kinds = ", ".join(meta["kinds"]) + (" (mixes labels)" if meta["mixes"] else "")
            text = augment.describe(name)
        rows.append(f"  {name:<13} {kinds:<26} {text}")
    return "augment options (configs/augment/, python train.py augment=<name>):\n" + "\n".join(rows)


@torch.no_grad()
def log_augmented(pipeline: augment.Pipeline, data: DataModule, logger: Any, step: int) -> None:
    """TensorBoard picture ``augment/train``: the first training samples in the top row
    and two augmented draws of them below, so a user sees what the model is fed.
    Images are drawn in the data's raw units; sequences ``(T, F)`` as heat strips,
    one row of pixels per feature, time across. Drawn from a generator of its own: the
    run's draws are the same with and without a logger."""
    kind = data.spec.input_kind
    if not pipeline or kind not in ("image", "sequence") or not logger.draws:
        return
    from engine.report.pictures import colorize, grid, image_grid  # only to draw

    x, _ = next(iter(data.batches("train", 8)))
    g = torch.Generator(device=x[0].device).manual_seed(0)
    if isinstance(x, tuple):  # padded sequences: the steps past each length stay zero
        views = [pipeline(x, g)[0] for _ in range(2)]
        x = x[0]
    else:
        t = torch.zeros(len(x), 1, device=x.device)  # the picture shows inputs only
        views = [pipeline.batch(x, t, g)[0] for _ in range(2)]
    rows = torch.cat([x, *views])  # (3·8, ...)
    if kind == "image":
        raw = data.unscale(rows)
        lo, hi = raw.amin(), raw.amax()
        picture = image_grid((raw - lo) / (hi - lo).clamp_min(1e-12), per_row=len(x))
    else:
        values = rows.transpose(1, 2).cpu().numpy()  # (3·8, T, F) -> (3·8, F, T)
        lo, hi = float(values.min()), float(values.max())
        tall = max(1, 16 // values.shape[1])  # pixel rows per feature: strips 16 px high
        cells = [colorize(v, lo, hi).repeat(tall, axis=0) for v in values]
        picture = grid([cells[i : i + len(x)] for i in range(0, len(cells), len(x))])
    logger.image("augment/train", picture, step)
