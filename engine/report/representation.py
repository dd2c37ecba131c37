"""How good is a representation? A linear probe and k-nearest-neighbour accuracy.

Self-supervised learning trains without labels, so its own loss says little about
what the features are worth. The field's two protocols (SimCLR §4, solo-learn,
lightly) ask instead how easily the labels can be read off the frozen features:

* **linear probe**: multinomial logistic regression on the standardized features
  h, fitted on the training split (weights W ``(C, D)``, bias b ``(C,)``),

      min_{W,b}  C_reg · Σ_i CE(W·ĥ_i + b, y_i) + ½‖W‖²_F,   ĥ = (h − μ_train) / σ_train,

  scikit-learn's ``LogisticRegression(C=C_reg)`` objective (the bias unpenalized),
  minimized here by L-BFGS in float64 on the data's device. Its accuracy on the
  validation and test splits is ``linear_probe``.
* **kNN**: each query takes the majority label of its k nearest training features by
  cosine similarity (ties to the smaller label, as scikit-learn's
  ``KNeighborsClassifier(metric="cosine")``); the accuracy is ``knn_accuracy``.

The features are what the model's last linear layer reads (the penultimate layer,
the representation h below the head, mean-pooled over steps or patches when the
model gives per-step outputs): for a self-supervised model the head is the
projection g and h = f(x) its input, exactly where SimCLR evaluates.

Where it continues: the self-supervised tasks (``engine/tasks/self_supervised.py``)
report these numbers every ``probe_every`` epochs and after testing, and send the
test features to TensorBoard's projector.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.data import DataModule
from engine.errors import ConfigError
from zoo.modes import eval_mode


def last_linear(model: nn.Module, model_name: str = "") -> nn.Linear:
    """The model's output layer: the last ``nn.Linear`` it registers (its head)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"model '{model_name or type(model).__name__}' has no linear output layer whose "
            "input could be probed as a representation; use a model with a head: mlp, cnn, "
            "resnet, transformer, rnn, lstm or gru"
        )
    return linears[-1]


@torch.inference_mode()
def features(model: nn.Module, x: Tensor | tuple[Tensor, ...]) -> Tensor:
    """h, the input of the model's output layer, for a batch: ``(B, D)`` (per-step
    inputs ``(B, T, D)`` are averaged over T). Computed in eval mode."""
    captured: list[Tensor] = []
    hook = last_linear(model).register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        with eval_mode(model):
            model(*x) if isinstance(x, tuple) else model(x)
    finally:
        hook.remove()
    h = captured[-1]
    return h.mean(dim=1) if h.ndim == 3 else h.flatten(1)  # (B, T, D) -> (B, D)


def split_features(model: nn.Module, data: DataModule, split: str) -> tuple[Tensor, Tensor]:
    """Features ``(N, D)`` and labels ``(N,)`` of a whole split."""
    parts = [(features(model, x), t) for x, t in data.batches(split, 4096)]
    return torch.cat([h for h, _ in parts]), torch.cat([t for _, t in parts])


def fit_logistic_regression(
    h: Tensor, y: Tensor, num_classes: int, c_reg: float = 1.0, max_iter: int = 200
) -> tuple[Tensor, Tensor]:
    """W ``(C, D)`` and b ``(C,)`` minimizing C_reg·Σ CE + ½‖W‖² (module docstring), by
    L-BFGS with a strong-Wolfe line search, in float64, from zeros (the objective is
    strictly convex in W, so the start does not change the answer)."""
    with torch.inference_mode(False), torch.enable_grad():  # also when evaluation is in it
        return _fit(h.double().clone(), y.clone(), num_classes, c_reg, max_iter)


def _fit(
    h: Tensor, y: Tensor, num_classes: int, c_reg: float, max_iter: int
) -> tuple[Tensor, Tensor]:
    w = torch.zeros(num_classes, h.shape[1], dtype=torch.float64, device=h.device)
    b = torch.zeros(num_classes, dtype=torch.float64, device=h.device)
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def objective() -> Tensor:
        opt.zero_grad()
        loss = c_reg * F.cross_entropy(h @ w.T + b, y, reduction="sum") + 0.5 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(objective)
    return w.detach(), b.detach()


def standardize(train: Tensor, *others: Tensor) -> list[Tensor]:
    """(h − μ) / σ with μ, σ of the training features (a constant feature keeps σ = 1)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [(h - mean) / std for h in (train, *others)]


def linear_probe_accuracy(
    train_h: Tensor, train_y: Tensor, eval_h: Tensor, eval_y: Tensor, c_reg: float = 1.0
) -> float:
    """Accuracy on (eval_h, eval_y) of logistic regression fitted on standardized
    (train_h, train_y)."""
    train_s, eval_s = standardize(train_h.double(), eval_h.double())
    num_classes = int(max(train_y.max().item(), eval_y.max().item())) + 1
    w, b = fit_logistic_regression(train_s, train_y, num_classes, c_reg)
    return ((eval_s @ w.T + b).argmax(1) == eval_y).double().mean().item()


def knn_accuracy(
    train_h: Tensor, train_y: Tensor, eval_h: Tensor, eval_y: Tensor, k: int = 5
) -> float:
    """Majority vote of the k nearest training features by cosine similarity."""
    sim = F.normalize(eval_h.double(), dim=1) @ F.normalize(train_h.double(), dim=1).T  # (Q, N)
    nearest = sim.topk(min(k, len(train_h)), dim=1).indices  # (Q, N) -> (Q, k)
    votes = F.one_hot(train_y[nearest], int(train_y.max().item()) + 1).sum(1)  # (Q, k, C) -> (Q, C)
    return (votes.argmax(1) == eval_y).double().mean().item()  # argmax: first = smaller label


def probe_metrics(
    model: nn.Module,
    data: DataModule,
    split: str,
    k: int = 5,
    c_reg: float = 1.0,
    train: tuple[Tensor, Tensor] | None = None,
) -> dict[str, float]:
    """``linear_probe`` and ``knn_accuracy`` of the model's features on ``split``, with
    the training split's features as the probe's training set (and kNN's gallery)."""
    train_h, train_y = train if train is not None else split_features(model, data, "train")
    h, y = split_features(model, data, split)
    return {
        "linear_probe": linear_probe_accuracy(train_h, train_y, h, y, c_reg),
        "knn_accuracy": knn_accuracy(train_h, train_y, h, y, k),
    }
