"""Fewer classes and fewer labels: ``data.classes`` and ``data.labels_per_class``.

Transfer and semi-supervised learning are measured on small-label problems carved
out of a labelled dataset (the guide's transfer-learning section; Oliver et al. 2018,
"Realistic evaluation of deep semi-supervised learning algorithms"):

* ``data.classes=[5,6,7,8,9]`` keeps the samples of those classes only, relabelled
  0..k-1 in the order given, and keeps their original names for every report;
* ``data.labels_per_class=k`` keeps k labelled training samples of each class,
  drawn from the training split by the data seed. Validation and test splits are
  the ones the run would have without it; the other training samples stay available
  as an unlabelled set (:attr:`~engine.data.core.DataModule.splits` ``["unlabelled"]``).

Both are plain index arithmetic on the label vector, shared by every builder
(arrays and graphs): :func:`select_classes` before the split, :func:`labelled_subset`
after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import ConfigError


def select_classes(
    y: np.ndarray, class_names: list[str], classes: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The samples of ``classes`` only, relabelled 0..k-1 in the order given.

    Args:
        y: (N,) labels 0..C-1.
        class_names: the C names of those labels (``class_names[y[n]]``).
        classes: the classes to keep, by name (``"setosa"``) or by the label the
            dataset gives them (digits' ``5``); None keeps every class as it is.

    Returns:
        ``(keep, y_new, names)``: the (M,) indices of the kept samples, their (M,)
        new labels 0..k-1, and the k kept classes' original names.
    """
    if classes is None:
        return np.arange(len(y)), y, class_names
    wanted = [str(c) for c in classes]
    missing = [c for c in wanted if c not in class_names]
    if missing:
        raise ConfigError(
            f"data.classes names {', '.join(missing)}, which the data lacks; "
            f"its classes are {', '.join(class_names)}"
        )
    if len(set(wanted)) != len(wanted) or len(wanted) < 2:
        raise ConfigError(
            f"data.classes={wanted} must name at least two different classes, each once"
        )
    old = np.array([class_names.index(c) for c in wanted])  # new label j <- old label old[j]
    new_of_old = np.full(len(class_names), -1)
    new_of_old[old] = np.arange(len(old))
    keep = np.flatnonzero(new_of_old[y] >= 0)
    return keep, new_of_old[y[keep]], wanted


def labelled_subset(
    y_train: np.ndarray, k: int | None, seed: int, class_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` training samples of each class, drawn by ``seed``; the rest unlabelled.

    Args:
        y_train: (N,) labels of the training split, 0..C-1.
        k: labelled samples to keep per class; None keeps them all.
        seed: the data seed (the same seed draws the same samples).
        class_names: the C class names, for the error message.

    Returns:
        ``(labelled, unlabelled)``: sorted positions into ``y_train``, k·C and N − k·C;
        the k drawn for a class include the ones a smaller k draws.
    """
    everything = np.arange(len(y_train))
    if k is None:
        return everything, everything[:0]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"data.labels_per_class must be a whole number >= 1 or null, got {k!r}")
    counts = np.bincount(y_train, minlength=len(class_names))
    smallest = int(counts.argmin())
    if k > counts[smallest]:
        raise ConfigError(
            f"data.labels_per_class={k} but class '{class_names[smallest]}' has only "
            f"{counts[smallest]} training samples; use at most {counts[smallest]}"
        )
    # One shuffle per class whatever k is: the k=1 sample is among the k=5 ones, and so
    # on, so a sweep over k adds labels rather than drawing new ones.
    rng = np.random.default_rng(seed)
    labelled = [rng.permutation(np.flatnonzero(y_train == c))[:k] for c in range(len(counts))]
    labelled = np.sort(np.concatenate(labelled))
    return labelled, np.setdiff1d(everything, labelled)


def label_options(cfg: Any, classification: bool, step_targets: bool) -> dict[str, Any]:
    """``data.classes`` and ``data.labels_per_class`` where set, checked to apply."""
    options = {k: cfg.get(k) for k in ("classes", "labels_per_class") if cfg.get(k) is not None}
    if options and (not classification or step_targets):
        what = "per-step targets" if classification else "regression targets"
        raise ConfigError(
            f"data.{next(iter(options))} picks classes or labels of a classification dataset; "
            f"this data has {what} (leave it null)"
        )
    if "classes" in options:
        options["classes"] = list(options["classes"])
    return options


def with_unlabelled(
    parts: dict[str, np.ndarray],
    y: np.ndarray,
    k: int | None,
    seed: int,
    class_names: list[str] | None,
) -> dict[str, np.ndarray]:
    """``parts`` with ``train`` cut to ``k`` labelled samples per class and the rest of
    the training split as ``unlabelled`` (:func:`labelled_subset`);
    ``parts`` as they are when ``k`` is None."""
    if k is None:
        return parts
    train = parts["train"]
    labelled, unlabelled = labelled_subset(y[train], k, seed, class_names or [])
    return {**parts, "train": train[labelled], "unlabelled": train[unlabelled]}
