"""The augmentation registry, the base class of a transform, and the pipeline.

A transform takes a whole batch and a ``torch.Generator`` and draws its own random
parameters for every sample in one call (``torch.rand(B, generator=g)``), so the
batch goes through it as a few tensor operations on its own device, never as a
Python loop over samples. torchvision's v2 transforms, given a batched tensor, draw
one set of parameters for the whole batch (pytorch/vision#8484): every sample would
be rotated by the same angle. Drawing from an explicit generator, not the global
RNG, is what keeps a run that resumes bit-exact and leaves dropout's stream alone.

A :class:`Pipeline` applies transforms in order and, last, at most one label-mixing
transform (mixup, cutmix), which changes targets too. It works in the data's own
units: images are unscaled before the first transform (so zero padding is a black
border and brightness multiplies real intensities) and scaled back after the last.

Where it continues: the transforms are the other modules of this package (images:
``geometric.py``, ``photometric.py``; signals: ``signal.py``; labels: ``mixing.py``),
the named presets ``presets.py``; the engine builds the configured pipeline
(``engine/run.py``) and the default training step applies it
(``engine/tasks/core.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.registry import Registry

AUGMENTS = Registry("augment")
KINDS = ("image", "sequence")  # the input kinds a transform can apply to


class AugmentError(ValueError):
    """A transform that cannot apply to the data: the message says what would."""


def register_augment(name: str, *, kinds: Sequence[str], mixes: bool = False) -> Any:
    """Register a :class:`Transform` subclass (or a preset) under ``name``, with the
    input kinds it applies to and whether it mixes labels."""
    return AUGMENTS.register(name, kinds=tuple(kinds), mixes=mixes)


def list_augments() -> list[str]:
    return AUGMENTS.names()


def uniform(g: torch.Generator, n: int, lo: float, hi: float, device: torch.device) -> Tensor:
    """``n`` draws of U[lo, hi) from ``g`` on ``device``: ``(n,)``."""
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def chosen(g: torch.Generator, n: int, p: float, device: torch.device) -> Tensor:
    """Which of ``n`` samples a transform of probability ``p`` applies to: ``(n,)`` bool."""
    return torch.rand(n, generator=g, device=device) < p


def gaussian_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """``x + σ·ε`` with ε ~ N(0, 1) drawn for every element, like ``x`` (images' noise,
    sequences' jitter)."""
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * eps


def check_probability(name: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"augment {name}: p must be a probability in [0, 1], got {p}")
    return float(p)


def check_range(name: str, key: str, value: Sequence[float] | float, low: float) -> tuple:
    """A ``[lo, hi]`` pair with ``low <= lo <= hi`` (a number ``v`` means ``[v, v]``)."""
    pair = (value, value) if isinstance(value, int | float) else tuple(value)
    if len(pair) != 2 or not low <= pair[0] <= pair[1]:
        raise ValueError(
            f"augment {name}: {key} must be [lo, hi] with {low} <= lo <= hi, got {value}"
        )
    return float(pair[0]), float(pair[1])


def check_kind(name: str, kinds: Sequence[str], kind: str) -> None:
    """One line unless augment ``name`` applies to inputs of ``kind``, naming those that do."""
    if kind in kinds:
        return
    fitting = [n for n in list_augments() if kind in AUGMENTS.meta(n)["kinds"]]
    use = f"use augment={', '.join(fitting)}" if fitting else "the one that fits is augment=none"
    raise AugmentError(
        f"augment '{name}' applies to {' and '.join(kinds)} inputs, not {kind}; for {kind} "
        f"data {use}"
    )


def expand(mask: Tensor, like: Tensor) -> Tensor:
    """A per-sample ``(B,)`` tensor shaped to broadcast over ``like`` ``(B, ...)``."""
    return mask.view(-1, *([1] * (like.ndim - 1)))


def random_box(
    generator: torch.Generator,
    n: int,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device,
) -> tuple[Tensor, ...]:
    """Per-sample boxes of area fraction ~ U[scale] and aspect ratio log-uniform in
    ``ratio``, inside an image of ``size``: top, left, height, width, each ``(n,)``."""
    h, w = size
    area = uniform(generator, n, *scale, device) * (h * w)
    r = torch.exp(uniform(generator, n, math.log(ratio[0]), math.log(ratio[1]), device))
    height = torch.sqrt(area * r).round().clamp(1, h)
    width = torch.sqrt(area / r).round().clamp(1, w)
    top = (torch.rand(n, generator=generator, device=device) * (h - height + 1)).floor()
    left = (torch.rand(n, generator=generator, device=device) * (w - width + 1)).floor()
    return top, left, height, width


def box_mask(shape: tuple[int, int], top: Tensor, left: Tensor, height: Tensor, width: Tensor):
    """Whether each pixel of an image of ``shape`` (H, W) lies in each sample's box
    (``(B,)`` integer corner and size): ``(B, 1, H, W)`` bool."""
    h, w = shape
    rows = torch.arange(h, device=top.device)[None, :]  # (1, H)
    cols = torch.arange(w, device=top.device)[None, :]  # (1, W)
    in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])  # (B, W)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (B, 1, H, W)


class Transform:
    """One random transform of a batch: ``x_aug = transform(x, generator)``.

    Subclasses set ``name`` and write :meth:`apply`, which draws ``(B,)`` parameters
    from the generator and transforms the batch with them. ``p`` is the probability
    that a sample is transformed at all (each sample decides on its own).
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = KINDS
    mixes: ClassVar[bool] = False  # mixup and cutmix also change the targets
    # Whether it works in the data's raw units (pixels: 0 is black) rather than scaled.
    raw_units: ClassVar[bool] = True

    def __init__(self, p: float = 1.0) -> None:
        self.p = check_probability(self.name, p)

    def check(self, kind: str, shape: tuple[int, ...]) -> None:
        """Refuse, in one line, an input it cannot apply to (``shape`` per sample)."""
        check_kind(self.name, self.kinds, kind)

    def __call__(
        self, x: Tensor, generator: torch.Generator, lengths: Tensor | None = None
    ) -> Tensor:
        if lengths is not None:  # only sequence transforms know valid steps
            raise AugmentError(f"augment '{self.name}' does not take padded sequences")
        return self.apply(x, generator)

    def keep(self, out: Tensor, x: Tensor, generator: torch.Generator) -> Tensor:
        """``out`` for the samples chosen with probability p, ``x`` for the rest."""
        if self.p == 1:
            return out
        return torch.where(expand(chosen(generator, x.shape[0], self.p, x.device), x), out, x)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Mixing(Transform):
    """A transform that mixes pairs of samples and their targets: ``(x, t) -> (x, t)``.

    Targets must be class distributions ``(B, C)`` (one-hot rows, or soft ones), so
    that the mixed target ``λ·t_i + (1 − λ)·t_j`` is again a distribution.
    """

    mixes = True

    def mix(self, x: Tensor, t: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        raise TypeError(f"augment {self.name} mixes labels: call .mix(x, t, generator)")


class Pipeline:
    """Transforms applied in order to a batch, then at most one label mixing.

    ``pipeline(x, g)`` augments inputs only (what two views of a batch need);
    ``pipeline.batch(x, t, g)`` augments and then mixes labels (what a supervised
    step needs). ``mean`` and ``std`` are the data's scaling (``x = (raw − mean) /
    std``); with them the transforms see raw units. Padded sequences come as the
    pair ``(x, lengths)`` and leave as one: each transform then sees ``lengths``
    and acts on the valid steps only (``augment/signal.py``).
    """

    def __init__(
        self,
        transforms: Sequence[Transform],
        mean: Tensor | None = None,
        std: Tensor | None = None,
        name: str = "",
    ) -> None:
        mixing = [t for t in transforms if t.mixes]
        if len(mixing) > 1 or (mixing and transforms[-1] is not mixing[0]):
            raise ValueError("a pipeline takes at most one label mixing, as its last transform")
        self.transforms = [t for t in transforms if not t.mixes]
        self.mixing: Mixing | None = mixing[0] if mixing else None  # type: ignore[assignment]
        self.mean, self.std = mean, std
        self.name = name

    @property
    def mixes(self) -> bool:
        return self.mixing is not None

    def __bool__(self) -> bool:
        return bool(self.transforms) or self.mixes

    def to(self, device: torch.device | str) -> Pipeline:
        """The same pipeline with its scaling on ``device``."""
        mean = None if self.mean is None else self.mean.to(device)
        std = None if self.std is None else self.std.to(device)
        return Pipeline([*self.transforms, *([self.mixing] if self.mixing else [])], mean, std)

    def __call__(self, x: Tensor | tuple[Tensor, Tensor], generator: torch.Generator) -> Any:
        if isinstance(x, tuple):  # padded sequences (B, T, F) and their lengths (B,)
            x, lengths = x
            for transform in self.transforms:
                x = transform(x, generator, lengths=lengths)
            return x, lengths
        raw = False  # which units x is in now
        for transform in self.transforms:
            if self.std is not None and transform.raw_units != raw:
                x = (x * self.std + self.mean) if transform.raw_units else self.scaled(x)
                raw = transform.raw_units
            x = transform(x, generator)
        return self.scaled(x) if raw else x

    def scaled(self, raw: Tensor) -> Tensor:
        return (raw - self.mean) / self.std

    def batch(self, x: Any, t: Tensor, generator: torch.Generator) -> tuple[Any, Tensor]:
        x = self(x, generator)
        if self.mixing is not None:
            x, t = self.mixing.mix(x, t, generator)
        return x, t

    def __repr__(self) -> str:
        parts = [*self.transforms, *([self.mixing] if self.mixing else [])]
        return f"Pipeline({self.name!r}, {parts})"


def create_transform(name: str, **kwargs: Any) -> Transform:
    """One registered transform by name (a preset is built by :func:`build_augment`)."""
    cls = AUGMENTS.get(name)
    if not isinstance(cls, type):
        raise ValueError(f"augment '{name}' is a preset; build it with build_augment('{name}')")
    return cls(**kwargs)


def build_augment(
    config: str | dict[str, Any] | None,
    kind: str,
    shape: Sequence[int],
    stats: dict[str, Tensor] | None = None,
) -> Pipeline:
    """The pipeline a name or a config node describes, checked against the data.

    ``config`` is a registry name (``"affine"``, ``"light"``), a dict with ``name`` and
    the transform's options (an ``augment`` YAML node), or None/``"none"`` for no
    augmentation. ``kind`` and ``shape`` are the data's input kind and per-sample shape
    (``DataSpec.input_kind``, ``DataSpec.input_shape``); ``stats`` its scaling
    (``DataModule.stats``). Raises :class:`AugmentError` (one line) when a transform
    does not fit the data, ValueError for a bad option.
    """
    if config is None:
        config = "none"
    node = {"name": config} if isinstance(config, str) else dict(config)
    name = node.pop("name")
    shape = tuple(shape)
    if name == "none":
        return Pipeline([], name="none")
    entry = AUGMENTS.entry(name)  # UnknownNameError lists the names
    check_kind(name, entry.meta["kinds"], kind)
    if isinstance(entry.obj, type):
        transforms = [entry.obj(**node)]
    else:  # a preset: a function of the input kind giving [(name, options), ...]
        recipe = entry.obj(kind, shape, **node)
        transforms = [create_transform(n, **opts) for n, opts in recipe]
    for transform in transforms:
        transform.check(kind, shape)
    # Images are transformed in raw units (zero = black); signals in scaled units
    # (a jitter's sigma is then a fraction of each feature's spread).
    mean = std = None
    if kind == "image" and stats and "x_std" in stats:
        mean, std = stats["x_mean"], stats["x_std"]
    return Pipeline(transforms, mean, std, name=name)
