"""Few-shot and one-shot classification: train on base classes, test on novel ones.

A model that gives an embedding (capability ``embedding``: MLP, CNN, RNNs,
Transformer) trains on the *base* classes only; it is tested on episodes of *novel*
classes it never saw: N classes, K labelled examples of each (the support set), and
queries to label (:mod:`engine.data.episodes`). Three ways to train it:

* ``protonet`` (Snell, Swersky & Zemel, "Prototypical Networks for Few-shot
  Learning", 2017): training is episodic too. A class's prototype is the mean
  embedding of its support, c_n = (1/K) Σ_{i: y_i = n} f(x_i), and a query x is scored
  by p(y = n | x) = softmax_n(−d(f(x), c_n)), with d the squared Euclidean distance
  (or, ``distance=cosine``, logits s·cos(f(x), c_n) with a fixed scale s = 10); the
  loss is the queries' cross-entropy.
* ``siamese`` (Koch, Zemel & Salakhutdinov, "Siamese Neural Networks for One-shot
  Image Recognition", 2015; Hadsell et al. 2006's contrastive loss): pairs mined from
  ordinary batches, same class pulled together, different classes pushed at least a
  margin m apart. A query takes the class of its nearest support example; two inputs
  are *verified* as the same class when their distance is below m/2.
* ``fewshot_baseline`` (Chen et al., "A Closer Look at Few-Shot Classification",
  2019): an ordinary classifier W·f(x) on the base classes (W, the task's linear head,
  is dropped after training); a novel query takes the class of the nearest centroid
  of the support features f(x), as a prototypical network does at test time.

Validation draws episodes of the base classes' validation samples (K = ``k_shot``);
the test draws ``test_episodes`` episodes of the novel classes from all their samples
(none was trained on) for each K in ``shots``, and reports each K's mean accuracy and
95% confidence interval, ``accuracy_1shot`` and ``ci95_1shot`` and so on. The novel
classes' embeddings go to TensorBoard's projector, and one test episode is drawn
(IMAGES tab; :mod:`engine.report.episode_picture`).

Where it continues: MAML is ``engine/tasks/maml.py``; the contrastive loss is
``losses/metric_learning.py``; the experiments are ``bench/fewshot.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import zoo
from engine.data import DataModule, call_model
from engine.data.episodes import (
    EpisodeSampler,
    check_fits,
    class_pool,
    class_split,
    mean_ci,
    set_split,
    take,
)
from engine.errors import ConfigError
from engine.report.episode_picture import log_episode
from engine.tasks.core import TASKS, Step, Task
from losses.metric_learning import distance as pair_distance
from zoo import DataSpec
from zoo.modes import eval_mode

EVAL_SEED = 0  # test and validation episodes: the same every epoch, training RNG untouched
COSINE_SCALE = 10.0  # s: cosine logits lie in [-1, 1], too flat for a softmax unscaled
DISTANCES = ("euclidean", "cosine")


def prototype_logits(zs: Tensor, ys: Tensor, zq: Tensor, n_way: int, distance: str) -> Tensor:
    """Logits of queries against class prototypes c_n = mean of class n's support.

    Shapes:
        support embeddings ``(N·K, D)`` with labels ``(N·K,)`` 0..N-1, queries
        ``(M, D)`` -> logits ``(M, N)``.
    """
    counts = torch.bincount(ys, minlength=n_way).clamp_min(1)
    c = zs.new_zeros(n_way, zs.shape[1]).index_add_(0, ys, zs) / counts[:, None]  # (N, D)
    if distance == "cosine":
        return COSINE_SCALE * F.normalize(zq, dim=1) @ F.normalize(c, dim=1).T
    return -((zq[:, None, :] - c[None, :, :]) ** 2).sum(-1)  # (M, 1, D) - (1, N, D) -> (M, N)


@torch.inference_mode()
def embed(model: nn.Module, x: Any, chunk: int = 4096) -> Tensor:
    """The model's outputs for a pool of inputs, in eval mode, ``chunk`` at a time."""
    n = len(x[0] if isinstance(x, tuple) else x)
    with eval_mode(model):
        parts = [
            call_model(model, take(x, torch.arange(i, min(n, i + chunk))))
            for i in range(0, n, chunk)
        ]
    return torch.cat(parts)


def check_embedding(task: str, model_name: str) -> None:
    """One line unless the model declares the ``embedding`` capability."""
    if "embedding" not in zoo.model_capabilities(model_name):
        fitting = ", ".join(zoo.models_with("embedding"))
        raise ConfigError(
            f"task '{task}' reads the model's output as an embedding of any width, and model "
            f"'{model_name}' gives none (no 'embedding' capability); use model={fitting}"
        )


def check_count(name: str, value: Any) -> None:
    """A whole number >= 1, or a one-line error naming the option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


class Episodic(Task):
    """What the few-shot tasks share: the class split, the checks, episodes, the test.

    Args:
        n_way: N, classes per episode (training and test).
        k_shot: K, support examples per class in training episodes and validation.
        q_queries: Q, queries per class (fewer in validation if a class lacks them).
        shots: the K of each test (1 and 5: one-shot and five-shot).
        base_classes: the classes trained on; null = the first half of the data's.
        novel_classes: the classes tested on; null = the classes that are not base.
        dim: D, the embedding size (the model's output layer).
        distance: ``euclidean`` (squared) or ``cosine``, for prototypes.
        test_episodes: episodes per K in the test (1,000 in the field's protocol).
        val_episodes: episodes of each validation.
    """

    target_kind = "classification"
    takes_penalty = False
    takes_augment = False  # episodes are drawn by the task, not the default step
    uses_centroids = True  # the test classifies by prototypes of the model's output

    def __init__(
        self,
        n_way: int = 5,
        k_shot: int = 1,
        q_queries: int = 15,
        shots: Any = (1, 5),
        base_classes: list[Any] | None = None,
        novel_classes: list[Any] | None = None,
        dim: int = 64,
        distance: str = "euclidean",
        test_episodes: int = 1000,
        val_episodes: int = 100,
    ) -> None:
        shots = tuple(shots) if isinstance(shots, list | tuple) else (shots,)
        counts = {
            "n_way": n_way,
            "k_shot": k_shot,
            "q_queries": q_queries,
            "dim": dim,
            "test_episodes": test_episodes,
            "val_episodes": val_episodes,
        }
        for key, value in [*counts.items(), *(("shots", k) for k in shots)]:
            check_count(key, value)
        if n_way < 2:
            raise ValueError(f"n_way must be at least 2 (one class is no choice), got {n_way}")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got '{distance}'")
        self.n_way, self.k_shot, self.q_queries = n_way, k_shot, q_queries
        self.shots = tuple(dict.fromkeys((k_shot, *shots)))  # k_shot first, no repeats
        self.base_classes, self.novel_classes = base_classes, novel_classes
        self.dim, self.distance = dim, distance
        self.test_episodes, self.val_episodes = test_episodes, val_episodes

    def output_size(self, spec: DataSpec) -> int:
        return self.dim

    def check_model(self, model: nn.Module, model_name: str) -> None:
        check_embedding(self.name, model_name)
        super().check_model(model, model_name)

    def bind(self, data: DataModule) -> None:
        """Split the classes: train and validation keep the base classes' samples, the
        test split becomes every sample of the novel classes, each relabelled 0.. in the
        order of its list. Refuse, in one line, episodes the classes cannot fill."""
        if not data.class_names:
            raise ConfigError(f"task '{self.name}' needs labelled classes; this data has none")
        self.base, self.novel = class_split(data.class_names, self.base_classes, self.novel_classes)
        novel = class_pool(data, ("train", "val", "test"), self.novel)  # before train changes
        for split in ("train", "val"):
            set_split(data, split, *class_pool(data, (split,), self.base))
        set_split(data, "test", *novel)
        check_fits(
            data.splits["train"][1],
            self.base,
            self.n_way,
            self.k_shot,
            self.q_queries,
            "base (training)",
        )
        check_fits(novel[1], self.novel, self.n_way, max(self.shots), self.q_queries, "novel")
        check_fits(
            data.splits["val"][1],
            self.base,
            min(self.n_way, len(self.base)),
            self.k_shot,
            1,
            "base (validation)",
        )

    # ------------------------------------------------------------------ training

    def episodes(
        self, data: DataModule, count: int, generator: torch.Generator
    ) -> Iterator[tuple[Any, Tensor]]:
        """``count`` training episodes of the base classes, each as one batch: the
        support inputs then the queries, ``(N·K + N·Q, ...)``, and their episode labels."""
        x, y = data.inputs("train"), data.splits["train"][1]
        sampler = EpisodeSampler(y, self.n_way, self.k_shot, self.q_queries)
        for _ in range(count):
            e = sampler.sample(generator)
            idx = torch.cat([e.support, e.query]).to(y.device)
            yield take(x, idx), torch.cat([e.support_labels, e.query_labels]).to(y.device)

    def train_metrics(self, out: Tensor, t: Tensor) -> dict[str, float]:
        return {"accuracy": (out.argmax(1) == t).float().mean().item()}

    # ------------------------------------------------------------------ testing

    def classify(self, zs: Tensor, ys: Tensor, zq: Tensor, n_way: int) -> Tensor:
        """Logits ``(M, N)`` of query embeddings given the support's (default: prototypes)."""
        return prototype_logits(zs, ys, zq, n_way, self.distance)

    def run_episodes(
        self, model: nn.Module, x: Any, sampler: EpisodeSampler, count: int, gen: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Per-episode query accuracy and cross-entropy over ``count`` episodes."""
        z = embed(model, x)
        accs, losses = [], []
        for _ in range(count):
            e = sampler.sample(gen)
            yq = e.query_labels.to(z.device)
            logits = self.classify(
                z[e.support], e.support_labels.to(z.device), z[e.query], sampler.n_way
            )
            accs.append((logits.argmax(1) == yq).float().mean())
            losses.append(F.cross_entropy(logits, yq))
        return torch.stack(accs), torch.stack(losses)

    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        """Episodes of the split's classes: ``loss`` (the queries' cross-entropy) and
        ``accuracy`` at K = ``k_shot``, and on the test every K's accuracy and CI."""
        names = self.novel if split == "test" else self.base
        y = data.splits[split][1]
        smallest = int(torch.bincount(y, minlength=len(names)).min())
        test = split == "test"
        metrics: dict[str, float] = {}
        for k in self.shots if test else (self.k_shot,):
            gen = torch.Generator().manual_seed(EVAL_SEED + k)
            q = min(self.q_queries, smallest - k)
            sampler = EpisodeSampler(y, min(self.n_way, len(names)), k, q)
            count = self.test_episodes if test else self.val_episodes
            accs, losses = self.run_episodes(model, data.inputs(split), sampler, count, gen)
            mean, ci = mean_ci(accs)
            if k == self.k_shot:
                metrics |= {"loss": losses.mean().item(), "accuracy": mean}
            if test:
                metrics |= {f"accuracy_{k}shot": mean, f"ci95_{k}shot": ci}
        return metrics

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """The novel classes' embeddings to the projector; one test episode drawn."""
        x, y = data.inputs("test"), data.splits["test"][1]
        z = embed(model, x)
        logger.embedding(z, [self.novel[i] for i in y.tolist()], "novel", step)
        e = EpisodeSampler(y, self.n_way, self.k_shot, min(self.q_queries, 4)).sample(
            torch.Generator().manual_seed(EVAL_SEED)
        )
        if self.uses_centroids:
            logits = self.classify(
                z[e.support], e.support_labels.to(z.device), z[e.query], self.n_way
            )
        else:
            logits = self.adapted_logits(model, x, e)
        log_episode(logger, data, x, e, logits.argmax(1).cpu(), f"episode/{self.k_shot}shot", step)

    def adapted_logits(self, model: nn.Module, x: Any, e: Any) -> Tensor:
        raise NotImplementedError


@TASKS.register("protonet")
class PrototypicalNetwork(Episodic):
    """Episodic training of prototypes (module docstring). Loss: sparse_cross_entropy."""

    name = "protonet"

    def train_batches(
        self, data: DataModule, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Any, Tensor]]:
        """As many episodes per epoch as the base training split has batches."""
        return self.episodes(data, data.num_batches("train", batch_size), generator)

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        nk = self.n_way * self.k_shot
        z = call_model(trainer.model, x)  # (N·K + N·Q, D)
        logits = self.classify(z[:nk], t[:nk], z[nk:], self.n_way)  # (N·Q, N)
        loss = trainer.loss_fn(logits, t[nk:])
        trainer.update("model", loss)
        return Step({"loss": loss}, logits, t[nk:])


@TASKS.register("siamese")
class Siamese(Episodic):
    """Pairs with the contrastive loss; a query takes its nearest support's class.

    Args (beyond :class:`Episodic`'s):
        normalize: L2-normalize embeddings, in the loss and in every comparison.
    """

    name = "siamese"

    def __init__(self, normalize: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.normalize = normalize

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        size = super().configure(spec, data_name, loss, loss_name)
        loss.normalize = self.normalize  # the loss measures the space the test does
        self.distance = getattr(loss, "distance", "euclidean")
        self.margin = getattr(loss, "margin", 1.0)
        return size

    def distances(self, zq: Tensor, zs: Tensor) -> Tensor:
        """d(q, s) for every query and support pair, as the loss measures it: ``(M, S)``."""
        if self.normalize:
            zq, zs = F.normalize(zq, dim=1), F.normalize(zs, dim=1)
        return pair_distance(zq[:, None, :], zs[None, :, :], self.distance)

    def classify(self, zs: Tensor, ys: Tensor, zq: Tensor, n_way: int) -> Tensor:
        """Logit of class n = −(distance to the nearest support example of class n)."""
        d = self.distances(zq, zs)  # (M, N·K)
        nearest = d.new_full((len(zq), n_way), float("inf"))
        nearest = nearest.scatter_reduce(1, ys.expand_as(d), d, "amin")  # (M, N·K) -> (M, N)
        return -nearest

    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        """As :class:`Episodic`, plus on the test ``verification_accuracy``: the balanced
        accuracy of "same class iff d < m/2" over the query-support pairs of one-shot
        episodes (the mean of the true-positive and true-negative rates)."""
        metrics = super().evaluate(model, loss_fn, data, split)
        if split == "test":
            x, y = data.inputs("test"), data.splits["test"][1]
            z = embed(model, x)
            gen = torch.Generator().manual_seed(EVAL_SEED)
            sampler = EpisodeSampler(y, self.n_way, 1, self.q_queries)
            rates = []
            for _ in range(self.test_episodes):
                e = sampler.sample(gen)
                same = e.query_labels[:, None] == e.support_labels[None, :]  # (M, N)
                said_same = (self.distances(z[e.query], z[e.support]) < self.margin / 2).cpu()
                hits, rejections = said_same[same].float(), (~said_same[~same]).float()
                rates.append((hits.mean() + rejections.mean()) / 2)
            metrics["verification_accuracy"] = torch.stack(rates).mean().item()
        return metrics


@TASKS.register("fewshot_baseline")
class TransferBaseline(Episodic):
    """A classifier on the base classes; novel queries by nearest support centroid.

    The linear head W ``(B, D)`` over the B base classes belongs to the task: it is
    trained with the model (one optimizer) and saved in ``last.pt`` for resume, and the
    test reads f(x), the model's output, without it.
    """

    name = "fewshot_baseline"

    def bind(self, data: DataModule) -> None:
        super().bind(data)
        self.head = nn.Linear(self.dim, len(self.base)).to(data.device)

    def optimizer_groups(self, model: nn.Module) -> dict[str, tuple[Any, str]]:
        return {"model": ([*model.parameters(), *self.head.parameters()], "optim")}

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        logits = self.head(call_model(trainer.model, x))  # (B_batch, D) -> (B_batch, B)
        loss = trainer.loss_fn(logits, t)
        trainer.update("model", loss)
        return Step({"loss": loss}, logits, t)

    def state_dict(self) -> dict[str, Any]:
        return {"head": self.head.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "head" in state:
            self.head.load_state_dict(state["head"])
