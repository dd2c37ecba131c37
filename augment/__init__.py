"""Data augmentation: random transforms of whole batches, a parameter draw per sample.

    import torch, augment
    pipeline = augment.build_augment("strong", kind="image", shape=(1, 8, 8))
    g = torch.Generator(device=x.device).manual_seed(0)
    x_aug = pipeline(x, g)                  # (B, 1, 8, 8) -> (B, 1, 8, 8), on x's device
    x_aug, t_soft = pipeline.batch(x, t, g)  # the same, then mixup/cutmix if configured

Every call draws new parameters for every sample from the generator ``g`` (which
must live on ``x``'s device), so two calls give two different views of a batch.
That is how a self- or semi-supervised task draws two views (SimCLR's pair,
FixMatch's weak and strong), with the run's augmentation generator:

    weak = augment.build_augment("light", spec.input_kind, spec.input_shape, data.stats)
    strong = augment.build_augment("strong", spec.input_kind, spec.input_shape, data.stats)
    g = trainer.augment_generator           # this epoch's, a function of (seed, epoch)
    x_weak, x_strong = weak(x, g), strong(x, g)
    v1, v2 = trainer.augment(x, g), trainer.augment(x, g)  # two views, the configured one

A training step reaches the configured pipeline as ``trainer.augment`` (a
:class:`Pipeline`; empty for ``augment=none``) and the default step applies it as
``x, t = trainer.augment.batch(x, t, trainer.augment_generator)``. Names:
:func:`list_augments` (``python train.py augment=list`` prints them with what each
does). ``kind`` is ``"image"`` ``(B, C, H, W)`` or ``"sequence"`` ``(B, T, F)``;
anything else (tables, graphs) is refused with one line (:class:`AugmentError`).
Padded sequences go in as the pair ``(x, lengths)`` and come out as one, each
transform acting within a sample's valid steps: ``pipeline((x, lengths), g)``.

Adding a transform: subclass :class:`Transform` in the module for its kind (or a new
module here: every module is imported), write ``apply(x, generator)`` drawing ``(B,)``
parameters, decorate it with ``@register_augment("name", kinds=(...))``, and add
``configs/augment/<name>.yaml``.
"""

from augment.base import (
    AUGMENTS,
    AugmentError,
    Mixing,
    Pipeline,
    Transform,
    build_augment,
    create_transform,
    list_augments,
    register_augment,
)
from zoo.registry import UnknownNameError, import_submodules

import_submodules(__name__, __path__)


def describe(name: str) -> str:
    """The first paragraph of an augment's docstring (for ``augment=list``)."""
    return " ".join((AUGMENTS.get(name).__doc__ or "").split("\n\n")[0].split())


__all__ = [
    "AUGMENTS",
    "AugmentError",
    "Mixing",
    "Pipeline",
    "Transform",
    "UnknownNameError",
    "build_augment",
    "create_transform",
    "describe",
    "list_augments",
    "register_augment",
]
