"""Offline datasets, deterministic splits, and batches served from in-memory tensors.

A dataset is a function registered by short name that returns an :class:`ArrayData`
(or, for a user's own function named by ``data._target_``, a plain ``(X, y)`` pair).
:func:`build_data` splits it train/val/test from the seed (stratified for
classification), fits feature scaling on the training split only, and returns a
:class:`DataModule` that hands out batches as tensor slices: no DataLoader, no
worker processes, no per-sample Python (for small data that is most of the cost).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from engine.data.labels import label_options, select_classes, with_unlabelled
from engine.errors import ConfigError
from zoo import DataSpec, Registry, UnknownNameError
from zoo.sequence import padding_mask

DATASETS = Registry("dataset")
# input kind -> the function that builds a DataModule for it, where arrays do not fit.
BUILDERS: dict[str, Callable[..., Any]] = {}
SPLITS = ("train", "val", "test")
# What a batch's input is: a tensor, or (x, lengths) for padded sequences.
Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def call_model(model: Callable[..., torch.Tensor], x: Inputs) -> torch.Tensor:
    """``model(x)``, or ``model(x, lengths)`` when ``x`` carries sequence lengths."""
    return model(*x) if isinstance(x, tuple) else model(x)


@dataclass
class ArrayData:
    """A whole dataset as arrays, before splitting.

    ``X`` is ``(N, *input_shape)``; ``y`` is ``(N,)`` integer labels for
    classification or ``(N,)`` / ``(N, K)`` floats for regression. With
    ``step_targets`` there is a target per time step: ``y`` is ``(N, T)`` labels or
    ``(N, T, K)`` values. Sequences of different lengths are padded at the end to
    ``(N, T_max, F)``, with ``lengths`` ``(N,)`` their real numbers of steps. Data
    published with a fixed test part (MNIST, CIFAR, the UCR/UEA archives) mark it in
    ``official_test`` ``(N,)`` bool, for ``data.split=official``.
    """

    X: np.ndarray
    y: np.ndarray
    input_kind: str = "vector"
    target_kind: str = "classification"
    class_names: list[str] | None = None
    lengths: np.ndarray | None = None
    step_targets: bool = False
    official_test: np.ndarray | None = None


def register_dataset(name: str, *, input_kind: str, target_kind: str) -> Callable:
    """Register a loader ``fn(**params, [seed]) -> ArrayData`` under ``name``."""
    return DATASETS.register(name, input_kind=input_kind, target_kind=target_kind)


def list_datasets() -> list[str]:
    return DATASETS.names()


def register_builder(input_kind: str) -> Callable:
    """Register ``build(cfg, seed, device, stats) -> DataModule`` for datasets of an
    ``input_kind`` that is not arrays (graphs): :func:`build_data` hands them over."""

    def decorator(fn: Callable) -> Callable:
        if input_kind in BUILDERS:
            raise ValueError(f"data builder for '{input_kind}' is registered twice")
        BUILDERS[input_kind] = fn
        return fn

    return decorator


def datasets_of_kind(*kinds: str) -> list[str]:
    """Registered datasets whose inputs are of one of ``kinds`` (for error messages)."""
    return [n for n in DATASETS.names() if DATASETS.meta(n)["input_kind"] in kinds]


# ----------------------------------------------------------------------------- loading


def _import_function(path: str) -> Callable:
    module_name, _, attr = path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(
            f"data._target_ '{path}' cannot be imported ({e}); give the dotted path of a "
            "function that returns (X, y) arrays, e.g. my_package.my_module.load"
        ) from None
    if not callable(fn):
        raise ConfigError(f"data._target_ '{path}' is not a function")
    return fn


def _call_loader(fn: Callable, params: dict[str, Any], seed: int, what: str) -> Any:
    if "seed" in inspect.signature(fn).parameters and "seed" not in params:
        params = {**params, "seed": seed}
    try:
        return fn(**params)
    except TypeError as e:
        raise ConfigError(f"{what} rejected data.params {params}: {e}") from None


def load_arrays(cfg: Any, seed: int) -> ArrayData:
    """Load a dataset by registry ``name``, or by a user's ``_target_`` function."""
    params = dict(cfg.get("params") or {})
    target = cfg.get("_target_")
    if not target:
        try:
            fn = DATASETS.get(cfg.name)
        except UnknownNameError as e:
            raise ConfigError(str(e)) from None
        return _call_loader(fn, params, seed, f"dataset '{cfg.name}'")

    out = _call_loader(_import_function(target), params, seed, f"data._target_ '{target}'")
    if isinstance(out, ArrayData):
        return out
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise ConfigError(
            f"data._target_ '{target}' returned {type(out).__name__}; it must return (X, y)"
        )
    X, y = (np.asarray(a) for a in out)
    if len(X) != len(y):
        raise ConfigError(f"data._target_ '{target}' returned {len(X)} inputs but {len(y)} targets")
    # Float targets are values to regress; integer, bool or string ones are labels.
    target_kind = cfg.get("target_kind") or (
        "regression" if np.issubdtype(y.dtype, np.floating) else "classification"
    )
    if y.ndim != 1 and not (target_kind == "regression" and y.ndim == 2):
        need = "(N,) or (N, targets)" if target_kind == "regression" else "(N,), one label each"
        raise ConfigError(
            f"data._target_ '{target}' returned {target_kind} targets of shape {y.shape}; "
            f"they must be {need}"
        )
    try:
        X = X.astype(np.float32)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"data._target_ '{target}' returned inputs that are not numbers ({e})"
        ) from None
    shape = cfg.get("input_shape")
    if shape:
        try:
            X = X.reshape(len(X), *shape)
        except ValueError:
            raise ConfigError(
                f"data.input_shape {list(shape)} does not fit inputs of shape {X.shape}"
            ) from None
    kind = cfg.get("input_kind") or ("vector" if X.ndim == 2 else "image")
    if target_kind == "regression":
        y = y.astype(np.float32)
    return ArrayData(X, y, kind, target_kind, None)


# ----------------------------------------------------------------------------- splitting


def split_indices(
    y: np.ndarray, val_size: float, test_size: float, seed: int, stratify: bool
) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index sets (stratified by class when asked)."""
    for name, frac in (("val_size", val_size), ("test_size", test_size)):
        if not 0 < frac < 1:
            raise ConfigError(f"data.{name} must be a fraction in (0, 1), got {frac}")
    if val_size + test_size >= 1:
        raise ConfigError(
            f"data.val_size + data.test_size = {val_size + test_size} leaves no training data"
        )
    idx = np.arange(len(y))
    strat = y if stratify else None
    try:
        rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
        val_frac = val_size / (1 - test_size)
        train, val = train_test_split(
            rest, test_size=val_frac, random_state=seed, stratify=strat[rest] if stratify else None
        )
    except ValueError as e:  # e.g. a class with a single sample cannot be stratified
        raise ConfigError(f"cannot split the data: {e}") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def official_split_indices(
    y: np.ndarray, official_test: np.ndarray, val_size: float, seed: int, stratify: bool
) -> dict[str, np.ndarray]:
    """The published test part as it is; ``val_size`` of the published train part held
    out for validation (seeded; stratified when asked, with at least one sample per
    class, which the small UCR train parts need)."""
    if not 0 < val_size < 1:
        raise ConfigError(f"data.val_size must be a fraction in (0, 1), got {val_size}")
    rest, test = np.flatnonzero(~official_test), np.flatnonzero(official_test)
    n_val = max(round(val_size * len(rest)), len(np.unique(y[rest])) if stratify else 1)
    try:
        train, val = train_test_split(
            rest, test_size=n_val, random_state=seed, stratify=y[rest] if stratify else None
        )
    except ValueError as e:  # e.g. a class with a single training sample
        raise ConfigError(f"cannot split the official train part: {e}") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": test}


def _stat_dims(x: torch.Tensor, input_kind: str) -> list[int]:
    """The axes statistics of the inputs reduce over: samples and pixels for images
    ``(N, C, H, W)`` (one per channel), samples (and steps) for vectors ``(N, F)`` and
    sequences ``(N, T, F)`` (one per feature)."""
    if input_kind == "image":
        return [0, *range(2, x.ndim)]
    return list(range(x.ndim - 1)) if input_kind == "sequence" else [0]


def _moments(
    x: torch.Tensor, input_kind: str, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the training inputs: per feature for vectors and sequences
    (over the real steps only, when sequences are padded), per channel for images (so
    the picture's spatial structure is kept)."""
    if lengths is not None:  # (N, T, F): the real steps as rows (S, F), then per feature
        real = x[~padding_mask(lengths, x.shape[1])]
        mean, std = real.mean(0).view(1, 1, -1), real.std(0).view(1, 1, -1)
    else:
        dims = _stat_dims(x, input_kind)  # e.g. (N, C, H, W) -> stats of shape (1, C, 1, 1)
        mean, std = x.mean(dim=dims, keepdim=True), x.std(dim=dims, keepdim=True)
    return mean, torch.where(std > 0, std, torch.ones_like(std))  # constant features stay put


def _ranges(x: torch.Tensor, input_kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum and range (max − min) of the training inputs, over the same axes as
    :func:`_moments` (per channel for images, per feature otherwise): ``scale: minmax``
    maps the training inputs onto [0, 1] with them, as pixel intensities are for a
    sigmoid output (a VAE's Bernoulli decoder, a GAN's generator)."""
    dims = _stat_dims(x, input_kind)
    lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    span = hi - lo
    return lo, torch.where(span > 0, span, torch.ones_like(span))


def _training_inputs(parts: dict[str, Any]) -> Any:
    """The training split's entries joined with the unlabelled ones, where there are
    any: what scaling is fitted on (every training input, labelled or not)."""
    if "train" not in parts:
        return None
    return torch.cat([parts[k] for k in ("train", "unlabelled") if k in parts])


# ----------------------------------------------------------------------------- the module

# standard: zero mean, unit std per feature/channel; minmax: onto [0, 1]; none: as loaded.
SCALES = ("standard", "minmax", "none")


def batch_count(n: int, batch_size: int) -> int:
    """Batches in an epoch of ``n`` samples. A last batch of one sample is merged into
    the one before it: batch norm cannot normalize a single sample, and no sample is
    skipped this way."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """The :func:`batch_count` consecutive slices covering ``range(n)``."""
    count = batch_count(n, batch_size)
    for i in range(count):
        yield slice(i * batch_size, n if i == count - 1 else (i + 1) * batch_size)


class DataModule:
    """Train/val/test tensors on the device, plus what a model needs to size itself.

    ``splits`` maps ``train``, ``val`` and ``test`` to ``(inputs, targets)``. With
    ``data.labels_per_class=k`` (:mod:`engine.data.labels`), ``train`` holds the k·C
    labelled samples and ``splits["unlabelled"]`` the rest of the training split:
    ``batches("unlabelled", ...)`` serves them like any split, for a semi-supervised
    task to read the inputs of. Their targets are the true labels, kept for
    diagnostics (how good are pseudo-labels?); a task must not train on them.
    ``has_unlabelled`` says whether the split is there.
    """

    def __init__(
        self,
        spec: DataSpec,
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
        stats: dict[str, torch.Tensor],
        class_names: list[str] | None = None,
        lengths: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.spec = spec
        self.splits = splits
        self.stats = stats  # what scaling was fitted: saved with every checkpoint
        self.class_names = class_names
        self.lengths = lengths  # real steps of padded sequences, per split (or None)
        # Where the data came from: the dataset's registry name and its loader's
        # params (e.g. the ring's radius, for the GAN's mode metrics); set by build_data.
        self.name: str | None = None
        self.params: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return self.splits["train"][0].device

    @property
    def has_unlabelled(self) -> bool:
        """Whether the training split was cut to a few labels (``data.labels_per_class``),
        the rest of it served as ``splits["unlabelled"]``."""
        return "unlabelled" in self.splits

    def size(self, split: str) -> int:
        return len(self.splits[split][0])

    def num_batches(self, split: str, batch_size: int) -> int:
        return batch_count(self.size(split), batch_size)

    def batches(
        self,
        split: str,
        batch_size: int,
        generator: torch.Generator | None = None,
    ) -> Iterator[tuple[Inputs, torch.Tensor]]:
        """Yield ``(x, y)`` slices; shuffled when a generator is given.

        For padded sequences ``x`` is the pair ``(x, lengths)``: a model is called as
        ``model(*x)`` then (:func:`call_model`).
        """
        x, y = self.splits[split]
        n_steps = None if self.lengths is None else self.lengths[split]
        if generator is not None:
            perm = torch.randperm(len(x), generator=generator).to(x.device)
            x, y = x[perm], y[perm]
            n_steps = None if n_steps is None else n_steps[perm]
        for part in batch_slices(len(x), batch_size):
            yield (x[part] if n_steps is None else (x[part], n_steps[part])), y[part]

    def head(self, split: str, n: int) -> Inputs:
        """The first ``n`` inputs of a split, as :meth:`batches` hands them out (a graph,
        one input, whole)."""
        x = self.inputs(split)
        if isinstance(x, tuple):
            return tuple(v[:n] for v in x)
        return x[:n] if isinstance(x, torch.Tensor) else x

    def inputs(self, split: str) -> Inputs:
        """A whole split's inputs, as :meth:`batches` hands them out."""
        x = self.splits[split][0]
        return x if self.lengths is None else (x, self.lengths[split])

    def unscale(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs in the data's own units, undoing the scaling (e.g. a generator's
        samples, before they are measured against the real modes)."""
        if "x_mean" not in self.stats:
            return x
        return x * self.stats["x_std"].to(x.device) + self.stats["x_mean"].to(x.device)

    def map_targets(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Re-encode every split's targets once (e.g. labels to floats for BCE)."""
        self.splits = {k: (x, fn(y)) for k, (x, y) in self.splits.items()}


def build_data(
    cfg: Any,
    seed: int,
    device: torch.device | str = "cpu",
    stats: dict[str, torch.Tensor] | None = None,
) -> DataModule:
    """Load, split, scale and move a dataset to ``device``, as ``cfg`` (``data``) says.

    Scaling is fitted on the training split, unless ``stats`` saved with a run are
    given (evaluation reuses exactly what the model was trained with).
    """
    name = None if cfg.get("_target_") else cfg.get("name")
    kind = DATASETS.meta(name)["input_kind"] if name in DATASETS else None
    if kind in BUILDERS:  # e.g. graphs, which have no (N, ...) array
        return BUILDERS[kind](cfg, seed, device, stats)
    arrays = load_arrays(cfg, seed)
    X, y = arrays.X, arrays.y
    if X.ndim < 2 or len(X) < 3:
        raise ConfigError(f"data has shape {X.shape}; need (N, features...) with N >= 3")
    classification = arrays.target_kind == "classification"
    if classification:
        labels, inverse = np.unique(y, return_inverse=True)  # any labels -> 0..C-1
        y = inverse.reshape(y.shape)
        # Names follow the labels that occur (a dataset may lack some of its classes).
        names = arrays.class_names
        class_names = [names[i] for i in labels] if names else [str(c) for c in labels]
    else:
        class_names = None
    picked = label_options(cfg, classification, arrays.step_targets)
    if picked.get("classes") is not None:  # before the split: the others never exist
        keep, y, class_names = select_classes(y, class_names, picked["classes"])
        X = X[keep]
        if arrays.lengths is not None:
            arrays.lengths = arrays.lengths[keep]
        if arrays.official_test is not None:
            arrays.official_test = arrays.official_test[keep]
    if arrays.lengths is not None and arrays.step_targets:
        raise ConfigError(
            "per-step targets on padded sequences of different lengths are not supported "
            "(the padded steps would be scored); give sequences of one length, or one "
            "target per sequence"
        )
    # Per-step targets have no single class per sample to stratify by.
    stratify = classification and not arrays.step_targets
    split = cfg.get("split", "random")
    if split not in ("random", "official"):
        raise ConfigError(f"data.split must be random or official, got '{split}'")
    if split == "official" and arrays.official_test is None:
        raise ConfigError(
            f"data.split=official: data={name or cfg.get('_target_')} has no official test "
            "part (mnist, fashion_mnist, cifar10 and ucr do); use data.split=random"
        )
    if split == "official":
        parts = official_split_indices(
            y, arrays.official_test, cfg.get("val_size", 0.15), seed, stratify
        )
    else:
        val_size, test_size = cfg.get("val_size", 0.15), cfg.get("test_size", 0.15)
        parts = split_indices(y, val_size, test_size, seed, stratify)
    # Scaling below is fitted on every training input: labels are scarce, inputs are not.
    parts = with_unlabelled(parts, y, picked.get("labels_per_class"), seed, class_names)

    tensors, lengths = {}, {}
    for split, idx in parts.items():
        xt = torch.as_tensor(X[idx], dtype=torch.float32)
        yt = torch.as_tensor(y[idx], dtype=torch.long if classification else torch.float32)
        if not classification and yt.ndim == 1 + int(arrays.step_targets):
            yt = yt[..., None]  # (N,) -> (N, 1): one column per regression target
        tensors[split] = (xt, yt)
        if arrays.lengths is not None:
            lengths[split] = torch.as_tensor(arrays.lengths[idx], dtype=torch.long)

    scale = cfg.get("scale", "standard")
    if scale not in SCALES:
        raise ConfigError(f"data.scale must be one of {', '.join(SCALES)}; got '{scale}'")
    if scale == "minmax" and arrays.lengths is not None:
        raise ConfigError("data.scale=minmax does not take padded sequences; use standard or none")
    fit_x = _training_inputs({k: x for k, (x, _) in tensors.items()})
    if stats is None:
        stats = {}
        # x ↦ (x − x_mean) / x_std either way: for minmax, "mean" is the minimum and
        # "std" the range, so unscaling (x · x_std + x_mean) is one formula for both.
        if scale == "standard":
            stats["x_mean"], stats["x_std"] = _moments(
                fit_x, arrays.input_kind, _training_inputs(lengths)
            )
        elif scale == "minmax":
            stats["x_mean"], stats["x_std"] = _ranges(fit_x, arrays.input_kind)
        if not classification:
            # Targets are standardized too so one learning rate suits every dataset;
            # tasks map predictions back to the original units before any metric.
            y_train = tensors["train"][1].flatten(0, int(arrays.step_targets))
            stats["y_mean"], stats["y_std"] = y_train.mean(0), y_train.std(0).clamp_min(1e-12)
    stats = {k: v.cpu() for k, v in stats.items()}
    x_mean, x_std = stats.get("x_mean", 0.0), stats.get("x_std", 1.0)
    y_mean, y_std = stats.get("y_mean", 0.0), stats.get("y_std", 1.0)
    tensors = {
        k: ((x - x_mean) / x_std, t if classification else (t - y_mean) / y_std)
        for k, (x, t) in tensors.items()
    }
    for split, n in lengths.items():  # padding stays zero after scaling
        x = tensors[split][0]
        x.masked_fill_(padding_mask(n, x.shape[1])[..., None], 0.0)

    spec = DataSpec(
        input_kind=arrays.input_kind,
        input_shape=tuple(X.shape[1:]),
        target_kind=arrays.target_kind,
        num_classes=len(class_names) if classification else None,
        num_targets=None if classification else tensors["train"][1].shape[-1],
        step_targets=arrays.step_targets,
        padded=arrays.lengths is not None,
    )
    tensors = {k: (x.to(device), t.to(device)) for k, (x, t) in tensors.items()}
    lengths = {k: n.to(device) for k, n in lengths.items()}
    data = DataModule(spec, tensors, stats, class_names, lengths or None)
    data.name, data.params = name, dict(cfg.get("params") or {})
    return data
