"""Episodes: N-way K-shot tasks drawn from classes a model never trained on.

Few-shot classification is measured on *novel* classes, disjoint from the *base*
classes the model trained on (Vinyals et al., "Matching Networks for One Shot
Learning", 2016; Snell et al., "Prototypical Networks", 2017). One test is an
episode: N classes drawn from the novel ones, K labelled examples of each (the
support set S) and Q unlabelled ones of each (the query set), relabelled 0..N-1 in
the order drawn. A method sees S and predicts the N·Q queries; its score is the
accuracy over many episodes, reported as the mean and the half-width of its 95%
confidence interval (Chen et al., "A Closer Look at Few-Shot Classification", 2019,
over 600 episodes; the zoo draws 1,000):

    acc ± 1.96 · s / √E,     s² = Σ_e (acc_e − acc)² / (E − 1)

with acc_e the accuracy of episode e and E the number of episodes.

The class split reuses ``data.classes``'s relabelling (:func:`select_classes`): base
and novel classes are picked by name (or by the dataset's label) in the order given.

Where it continues: the tasks that train and test on episodes are
``engine/tasks/fewshot.py`` (prototypical networks, siamese, the transfer baseline)
and ``engine/tasks/maml.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from engine.data.core import DataModule, Inputs
from engine.data.labels import select_classes
from engine.errors import ConfigError

Z_95 = 1.959964  # the standard normal's 97.5% quantile: a two-sided 95% interval


def class_split(
    class_names: list[str], base: Sequence[Any] | None, novel: Sequence[Any] | None
) -> tuple[list[str], list[str]]:
    """Base and novel class names: as given; one left out is the other's complement,
    both left out are the first half of the classes and the rest (digits: 0-4, 5-9).
    One line when the two overlap or name a class the data lacks."""
    novel = None if novel is None else [str(c) for c in novel]
    if base is None:  # the classes that are not novel, or the first half
        half = (len(class_names) + 1) // 2
        base = class_names[:half] if novel is None else [c for c in class_names if c not in novel]
    base = [str(c) for c in base]
    novel = [c for c in class_names if c not in base] if novel is None else novel
    unknown = [c for c in [*base, *novel] if c not in class_names]
    if unknown:
        raise ConfigError(
            f"task.base_classes/novel_classes name {', '.join(unknown)}, which the data "
            f"lacks; its classes are {', '.join(class_names)}"
        )
    both = [c for c in base if c in novel]
    if both:
        raise ConfigError(
            f"classes {', '.join(both)} are both base and novel; few-shot tests on classes "
            f"never trained on: make task.base_classes and task.novel_classes disjoint"
        )
    if len(base) < 2 or len(novel) < 2:
        raise ConfigError(
            f"few-shot needs at least 2 base and 2 novel classes, got base {base} and "
            f"novel {novel}; set task.base_classes and task.novel_classes"
        )
    return base, novel


def take(x: Inputs, idx: torch.Tensor) -> Inputs:
    """Rows ``idx`` of inputs, or of ``(x, lengths)`` for padded sequences."""
    return tuple(v[idx] for v in x) if isinstance(x, tuple) else x[idx]


def cat(parts: list[Inputs]) -> Inputs:
    """Inputs stacked along the samples, pair by pair for ``(x, lengths)``."""
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts, strict=True))
    return torch.cat(parts)


def class_pool(
    data: DataModule, splits: Sequence[str], names: list[str]
) -> tuple[Inputs, torch.Tensor]:
    """The samples of classes ``names`` in ``splits``, relabelled 0..len(names)-1 in
    that order (``data.classes``'s :func:`select_classes`, applied to built splits)."""
    xs, ys = [], []
    for split in splits:
        y = data.splits[split][1].cpu().numpy()
        keep, y_new, _ = select_classes(y, data.class_names, names)
        idx = torch.as_tensor(keep, device=data.device)
        xs.append(take(data.inputs(split), idx))
        ys.append(torch.as_tensor(y_new, device=data.device))
    return cat(xs), torch.cat(ys)


def set_split(data: DataModule, split: str, x: Inputs, y: torch.Tensor) -> None:
    """Replace a split of ``data`` (its lengths too, for padded sequences)."""
    if isinstance(x, tuple):
        x, lengths = x
        data.lengths[split] = lengths
    data.splits[split] = (x, y)


def check_fits(
    y: torch.Tensor, names: list[str], n_way: int, k_shot: int, q_queries: int, what: str
) -> None:
    """One line unless every class of ``y`` has K + Q samples and there are N classes."""
    if n_way > len(names):
        raise ConfigError(
            f"task.n_way={n_way} but there are only {len(names)} {what} classes "
            f"({', '.join(names)}); use task.n_way<={len(names)} or more {what} classes"
        )
    counts = torch.bincount(y, minlength=len(names))
    small = int(counts.argmin())
    if k_shot + q_queries > counts[small]:
        raise ConfigError(
            f"an episode takes K + Q = {k_shot} + {q_queries} samples of a class, but "
            f"{what} class '{names[small]}' has only {int(counts[small])}; lower "
            f"task.k_shot or task.q_queries (K + Q <= {int(counts[small])})"
        )


class Episode(NamedTuple):
    """Indices of one episode into a pool, and the episode's own labels 0..N-1."""

    support: torch.Tensor  # (N·K,) class by class: K of class 0, then K of class 1, ...
    query: torch.Tensor  # (N·Q,) in the same order
    support_labels: torch.Tensor  # (N·K,)
    query_labels: torch.Tensor  # (N·Q,)
    classes: torch.Tensor  # (N,) the pool's label of episode class 0..N-1


class EpisodeSampler:
    """Draws N-way K-shot Q-query episodes from a labelled pool, by a generator.

    The same generator state draws the same episodes; each episode picks N classes
    uniformly without replacement, then K + Q distinct samples of each.
    """

    def __init__(self, labels: torch.Tensor, n_way: int, k_shot: int, q_queries: int) -> None:
        labels = labels.cpu()
        self.by_class = [torch.nonzero(labels == c).flatten() for c in range(int(labels.max()) + 1)]
        self.n_way, self.k_shot, self.q_queries = n_way, k_shot, q_queries

    def sample(self, generator: torch.Generator) -> Episode:
        n, k, q = self.n_way, self.k_shot, self.q_queries
        classes = torch.randperm(len(self.by_class), generator=generator)[:n]
        support, query = [], []
        for c in classes.tolist():
            members = self.by_class[c]
            drawn = members[torch.randperm(len(members), generator=generator)[: k + q]]
            support.append(drawn[:k])
            query.append(drawn[k:])
        ways = torch.arange(n)
        return Episode(
            torch.cat(support),
            torch.cat(query),
            ways.repeat_interleave(k),  # (N,) -> (N·K,)
            ways.repeat_interleave(q),  # (N,) -> (N·Q,)
            classes,
        )


def mean_ci(values: torch.Tensor | Sequence[float]) -> tuple[float, float]:
    """The mean of per-episode accuracies and the half-width of its 95% confidence
    interval, 1.96 · s / √E (module docstring); 0 for a single episode."""
    acc = np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu())
    if len(acc) < 2:
        return float(acc.mean()), 0.0
    return float(acc.mean()), Z_95 * float(acc.std(ddof=1)) / math.sqrt(len(acc))
