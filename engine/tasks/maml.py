"""MAML: weights from which a few gradient steps on a support set fit a new task.

Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", 2017. The model outputs N logits, one per class of an episode. For an
episode with support S and queries Q, the *inner loop* adapts the weights θ by a few
steps of gradient descent on the support's loss,

    θ'₀ = θ,    θ'ₛ₊₁ = θ'ₛ − α ∇ L_S(θ'ₛ)        s = 0 .. steps−1

and the *outer* (meta) step moves θ so that the adapted weights do well on the queries,
averaged over a meta-batch of episodes:

    θ ← θ − β ∇θ (1/B) Σ_episodes L_Q(θ'(θ))

The exact meta-gradient differentiates through the inner steps (second order: Hessian-
vector products). First-order MAML (``first_order=true``, the paper's §5.2) treats
∇L_S as a constant, so ∇θ L_Q(θ') ≈ ∇θ' L_Q(θ'), at a fraction of the cost.

The inner loop is written with ``torch.func.functional_call``: the model runs on a
dictionary of weights that are ordinary tensors in the autograd graph, so θ' is a
function of θ and no learn2learn-style cloned module is needed. The outer step is the
trainer's optimizer (β its learning rate).

At test, each novel episode adapts from θ with ``test_steps`` inner steps on its
support and predicts its queries; the accuracy over episodes is reported as for the
other few-shot tasks (``engine/tasks/fewshot.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from engine.data import DataModule
from engine.data.episodes import EpisodeSampler, take
from engine.tasks.core import TASKS, Step
from engine.tasks.fewshot import Episodic, check_count
from zoo import DataSpec

Weights = dict[str, Tensor]


def forward_with(model: nn.Module, weights: Weights, x: Any) -> Tensor:
    """f(x; θ') : the model run on ``weights`` instead of its own parameters."""
    return functional_call(model, weights, x if isinstance(x, tuple) else (x,))


def inner_loop(
    model: nn.Module,
    weights: Weights,
    x: Any,
    y: Tensor,
    loss_fn: nn.Module,
    steps: int,
    lr: float,
    first_order: bool,
) -> Weights:
    """θ' after ``steps`` steps θ'ₛ₊₁ = θ'ₛ − α ∇ L_S(θ'ₛ) on the support ``(x, y)``.

    With ``first_order`` the gradients are constants (no graph through them): the
    meta-gradient of θ' is then the identity (first-order MAML).
    """
    for _ in range(steps):
        loss = loss_fn(forward_with(model, weights, x), y)
        grads = torch.autograd.grad(loss, list(weights.values()), create_graph=not first_order)
        weights = {name: w - lr * g for (name, w), g in zip(weights.items(), grads, strict=True)}
    return weights


@TASKS.register("maml")
class MAML(Episodic):
    """MAML and first-order MAML on episodes of the base classes (module docstring).

    Args (beyond :class:`Episodic`'s; ``dim`` is unused: the output is N logits):
        inner_lr: α, the inner loop's step size.
        inner_steps: steps of the inner loop in training.
        test_steps: steps of the inner loop at validation and test.
        first_order: first-order MAML (no gradient through the inner steps).
        meta_batch: episodes averaged per outer step.
    """

    name = "maml"
    uses_centroids = False

    def __init__(
        self,
        inner_lr: float = 0.1,
        inner_steps: int = 1,
        test_steps: int = 3,
        first_order: bool = False,
        meta_batch: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not inner_lr > 0:
            raise ValueError(f"inner_lr must be > 0, got {inner_lr}")
        for key, value in ("inner_steps", inner_steps), ("test_steps", test_steps):
            check_count(key, value)
        check_count("meta_batch", meta_batch)
        self.inner_lr, self.inner_steps, self.test_steps = inner_lr, inner_steps, test_steps
        self.first_order, self.meta_batch = first_order, meta_batch

    def output_size(self, spec: DataSpec) -> int:
        return self.n_way  # one logit per class of the episode

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        size = super().configure(spec, data_name, loss, loss_name)
        self.loss_fn = loss
        return size

    def train_batches(
        self, data: DataModule, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Any, Tensor]]:
        """As many meta-batches per epoch as the base training split has batches; each
        is ``meta_batch`` episodes one after the other (support, then queries, each)."""
        episodes = self.episodes(
            data, data.num_batches("train", batch_size) * self.meta_batch, generator
        )
        for _ in range(data.num_batches("train", batch_size)):
            parts = [next(episodes) for _ in range(self.meta_batch)]
            x = [p[0] for p in parts]
            yield (
                (
                    tuple(torch.cat(v) for v in zip(*x, strict=True))
                    if isinstance(x[0], tuple)
                    else torch.cat(x)
                ),
                torch.cat([p[1] for p in parts]),
            )

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        """One outer step: the mean query loss of the meta-batch's adapted weights."""
        nk, nq = self.n_way * self.k_shot, self.n_way * self.q_queries
        model, size = trainer.model, nk + nq
        theta = dict(model.named_parameters())
        losses, logits = [], []
        for i in range(self.meta_batch):
            s = torch.arange(i * size, i * size + nk, device=t.device)
            q = torch.arange(i * size + nk, (i + 1) * size, device=t.device)
            adapted = inner_loop(
                model,
                theta,
                take(x, s),
                t[s],
                trainer.loss_fn,
                self.inner_steps,
                self.inner_lr,
                self.first_order,
            )
            out = forward_with(model, adapted, take(x, q))  # (N·Q, N)
            losses.append(trainer.loss_fn(out, t[q]))
            logits.append(out)
        loss = torch.stack(losses).mean()
        trainer.update("model", loss)
        queries = torch.cat([t[i * size + nk : (i + 1) * size] for i in range(self.meta_batch)])
        return Step({"loss": loss}, torch.cat(logits), queries)

    def adapted_logits(self, model: nn.Module, x: Any, e: Any) -> Tensor:
        """Query logits ``(N·Q, N)`` after adapting to the episode's support."""
        device = (x[0] if isinstance(x, tuple) else x).device
        theta = {k: v.detach().requires_grad_() for k, v in model.named_parameters()}
        with torch.enable_grad():
            adapted = inner_loop(
                model,
                theta,
                take(x, e.support.to(device)),
                e.support_labels.to(device),
                self.loss_fn,
                self.test_steps,
                self.inner_lr,
                first_order=True,
            )
        with torch.no_grad():
            return forward_with(model, adapted, take(x, e.query.to(device)))

    def run_episodes(
        self, model: nn.Module, x: Any, sampler: EpisodeSampler, count: int, gen: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Adapt to each episode's support from θ, then score its queries (eval mode:
        batch norm on its running statistics, no dropout)."""
        accs, losses = [], []
        was_training = model.training
        model.eval()
        try:
            for _ in range(count):
                e = sampler.sample(gen)
                logits = self.adapted_logits(model, x, e)
                yq = e.query_labels.to(logits.device)
                accs.append((logits.argmax(1) == yq).float().mean())
                losses.append(F.cross_entropy(logits, yq))
        finally:
            model.train(was_training)
        return torch.stack(accs), torch.stack(losses)
