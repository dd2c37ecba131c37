"""Zero-shot classification: classes described by attributes, never seen in training.

Each class z has a row s_z ∈ [0, 1]^A of a class-attribute table S (``(C, A)``,
:mod:`engine.data.attributes`). The model is trained on the *seen* classes only, to
predict the attributes of its input: its A outputs are logits, one per attribute,
with the binary cross-entropy against s_y (``loss=bce``). A class it never saw is
then recognized from its description alone, by one of two rules:

* ``dap``, Direct Attribute Prediction (Lampert, Nickisch & Harmeling, "Learning To
  Detect Unseen Object Classes by Between-Class Attribute Transfer", 2009): with
  p_m = σ(o_m(x)) the predicted probability that x has attribute m,

      log p(z | x) = Σ_m [ s_zm log p_m + (1 − s_zm) log(1 − p_m) ] − Σ_m log p(a_m = s_zm)

  (the attributes independent given x; the prior p(a_m = 1) is the mean of column m
  over the seen classes); the prediction is the class of highest p(z | x).
* ``eszsl``, Embarrassingly Simple Zero-Shot Learning (Romera-Paredes & Torr, 2015):
  a bilinear score x̃ᵀ V s_z on features x̃ (here the model's outputs and a 1), with V
  fitted in closed form on the seen training samples X ``(M, d)``, their classes
  Y ∈ {−1, 1}^{M × Z} and the seen rows S ``(Z, A)``, coded ±1 (2s − 1: with 0/1 rows
  the class with the most attributes, digit 8, would win every sum):

      V = (XᵀX + γI)⁻¹ Xᵀ Y S (SᵀS + λI)⁻¹

  the minimizer of ‖XVSᵀ − Y‖² + γ‖VSᵀ‖² + λ‖XV‖² + γλ‖V‖² (the paper's eq. 6, in
  rows-are-samples notation, with its β = γλ).

Metrics: on validation (seen classes) the loss and the accuracy among the seen classes;
on the test, ``unseen_accuracy``, the unseen classes' samples classified among the
unseen classes only (classic zero-shot), and the generalized setting (Xian et al.,
"Zero-Shot Learning — The Good, the Bad and the Ugly", 2018), every test sample among
all classes: ``gzsl_seen`` and ``gzsl_unseen`` (each the mean over its classes of the
per-class accuracy) and their harmonic mean ``gzsl_h`` = 2·s·u / (s + u). The unseen
classes' samples are all of theirs (none was trained on); the seen ones' are the test
split's. The outputs of the unseen classes' samples go to TensorBoard's projector.

Where it continues: the attribute tables are ``engine/data/attributes.py``; the
few-shot tasks, which see a few examples instead of a description, are
``engine/tasks/fewshot.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from engine.data import DataModule, call_model
from engine.data.attributes import read_table, table_for, table_path
from engine.data.episodes import class_pool, set_split
from engine.errors import ConfigError
from engine.tasks.core import TASKS, Step, Task, outputs
from engine.tasks.fewshot import check_embedding
from zoo import DataSpec

METHODS = ("dap", "eszsl")
EPS = 1e-6  # probabilities are kept in [ε, 1 − ε] before their logarithm


def dap_scores(logits: Tensor, s: Tensor, prior: Tensor) -> Tensor:
    """log p(z | x) of DAP (module docstring) for every sample and class.

    Shapes: attribute logits ``(M, A)``, table ``(C, A)``, prior ``(A,)`` -> ``(M, C)``.
    """
    p = torch.sigmoid(logits).clamp(EPS, 1 - EPS)
    log_p, log_q = p.log(), (1 - p).log()  # (M, A) each
    likelihood = log_p @ s.T + log_q @ (1 - s).T  # (M, A) @ (A, C) -> (M, C)
    prior = prior.clamp(EPS, 1 - EPS)
    log_prior = s @ prior.log() + (1 - s) @ (1 - prior).log()  # (C,)
    return likelihood - log_prior


def eszsl_weights(x: Tensor, y: Tensor, s: Tensor, gamma: float, lam: float) -> Tensor:
    """V = (XᵀX + γI)⁻¹ Xᵀ Y S (SᵀS + λI)⁻¹, ESZSL's closed form (module docstring).

    Shapes: features X ``(M, d)``, targets Y ``(M, Z)``, seen rows S ``(Z, A)`` -> ``(d, A)``.
    """
    x, y, s = x.double(), y.double(), s.double()
    d, a = x.shape[1], s.shape[1]
    left = torch.linalg.solve(x.T @ x + gamma * torch.eye(d, dtype=x.dtype), x.T @ y @ s)
    # (d, A) · (SᵀS + λI)⁻¹: solve from the right, as the transpose of a left solve.
    return torch.linalg.solve(s.T @ s + lam * torch.eye(a, dtype=x.dtype), left.T).T


def with_bias(out: Tensor) -> Tensor:
    """x̃ = [o(x), 1]: ESZSL's features, the model's outputs and a constant."""
    return torch.cat([out, out.new_ones(len(out), 1)], dim=1).double()


def per_class_accuracy(pred: Tensor, y: Tensor, classes: Tensor) -> float:
    """Mean over ``classes`` of each class's accuracy (classes with no sample skipped)."""
    accs = [(pred[y == c] == c).float().mean() for c in classes.tolist() if bool((y == c).any())]
    return torch.stack(accs).mean().item()


@TASKS.register("zeroshot")
class ZeroShot(Task):
    """Attribute prediction on seen classes; unseen classes by DAP or ESZSL.

    Args:
        method: ``dap`` or ``eszsl``.
        attributes: the class-attribute table (CSV); null = the one shipped for the data.
        unseen_classes: the classes held out of training; null = the last 3 classes.
        gamma: γ of ESZSL (regularizes the features' side).
        lam: λ of ESZSL (regularizes the attributes' side).
    """

    name = "zeroshot"
    target_kind = "classification"
    takes_penalty = False
    takes_augment = False  # its own step; attribute targets have no mixup

    def __init__(
        self,
        method: str = "dap",
        attributes: str | None = None,
        unseen_classes: list[Any] | None = None,
        gamma: float = 1.0,
        lam: float = 1.0,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
        if not (gamma > 0 and lam > 0):
            raise ValueError(f"gamma and lam must be > 0, got {gamma} and {lam}")
        self.method, self.attributes, self.unseen_classes = method, attributes, unseen_classes
        self.gamma, self.lam = gamma, lam

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        super().configure(spec, data_name, loss, loss_name)
        self.path = table_path(self.attributes, data_name)
        return len(read_table(self.path)[1])  # A: one output per attribute

    def check_model(self, model: nn.Module, model_name: str) -> None:
        check_embedding(self.name, model_name)  # its outputs are the attribute scores
        super().check_model(model, model_name)

    def bind(self, data: DataModule) -> None:
        """Read the table in the data's class order; keep the seen classes' samples in
        train and validation, and put the test pool (seen test samples, every unseen
        sample) in the test split. Labels stay the data's, 0..C-1, to index S."""
        names = data.class_names or []
        self.attribute_names, s = table_for(self.path, names)
        self.s = s.to(data.device)  # (C, A)
        unseen = (
            names[-3:] if self.unseen_classes is None else [str(c) for c in self.unseen_classes]
        )
        unknown = [c for c in unseen if c not in names]
        if unknown:
            raise ConfigError(
                f"task.unseen_classes names {', '.join(unknown)}, which the data lacks; "
                f"its classes are {', '.join(names)}"
            )
        seen = [c for c in names if c not in unseen]
        if len(seen) < 2 or len(unseen) < 2:
            raise ConfigError(
                f"zero-shot needs at least 2 seen and 2 unseen classes, got unseen {unseen} "
                f"of {', '.join(names)}; set task.unseen_classes"
            )
        self.seen = torch.tensor([names.index(c) for c in seen], device=data.device)
        self.unseen = torch.tensor([names.index(c) for c in unseen], device=data.device)
        unseen_x, unseen_y = class_pool(data, ("train", "val", "test"), unseen)
        seen_test = class_pool(data, ("test",), seen)
        for split in ("train", "val"):
            x, y = class_pool(data, (split,), seen)
            set_split(data, split, x, self.seen[y])
        x = (
            tuple(torch.cat(v) for v in zip(seen_test[0], unseen_x, strict=True))
            if isinstance(unseen_x, tuple)
            else torch.cat([seen_test[0], unseen_x])
        )
        set_split(data, "test", x, torch.cat([self.seen[seen_test[1]], self.unseen[unseen_y]]))
        self.prior = self.s[self.seen].mean(0)  # p(a_m = 1) over the seen classes

    def training_step(self, trainer: Any, x: Any, t: Tensor) -> Step:
        out = call_model(trainer.model, x)  # (B, A) attribute logits
        loss = trainer.loss_fn(out, self.s[t])
        trainer.update("model", loss)
        return Step({"loss": loss})

    def scores(self, model: nn.Module, data: DataModule, out: Tensor) -> Tensor:
        """Every sample's score for every class, ``(M, A) -> (M, C)``, by the method."""
        if self.method == "dap":
            return dap_scores(out, self.s, self.prior)
        train_out, train_y = outputs(model, data, "train")
        column = {c: j for j, c in enumerate(self.seen.tolist())}
        y = -torch.ones(len(train_y), len(self.seen), dtype=torch.float64, device=out.device)
        y[torch.arange(len(train_y)), torch.tensor([column[c] for c in train_y.tolist()])] = 1
        signed = 2 * self.s - 1  # ±1: every class's signature has the same length
        v = eszsl_weights(with_bias(train_out), y, signed[self.seen], self.gamma, self.lam)
        return (with_bias(out) @ v @ signed.double().T).float()  # (M, d) (d, A) (A, C)

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        out, y = outputs(model, data, split)
        metrics = {"loss": loss_fn(out, self.s[y]).item()}
        scores = self.scores(model, data, out)  # (M, C)
        if split != "test":
            pred = self.seen[scores[:, self.seen].argmax(1)]
            return metrics | {"accuracy": (pred == y).float().mean().item()}
        unseen = torch.isin(y, self.unseen)
        pred = self.unseen[scores[unseen][:, self.unseen].argmax(1)]
        metrics["unseen_accuracy"] = per_class_accuracy(pred, y[unseen], self.unseen)
        pred = scores.argmax(1)  # among all classes: the generalized setting
        s = per_class_accuracy(pred, y, self.seen)
        u = per_class_accuracy(pred, y, self.unseen)
        return metrics | {"gzsl_seen": s, "gzsl_unseen": u, "gzsl_h": 2 * s * u / (s + u or 1)}

    def after_test(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        """The unseen classes' attribute scores to the projector."""
        out, y = outputs(model, data, "test")
        unseen = torch.isin(y, self.unseen)
        names = data.class_names or []
        logger.embedding(out[unseen], [names[i] for i in y[unseen].tolist()], "unseen", step)
