"""How much gradient reaches the first step? The vanishing gradient of RNN, LSTM and GRU, measured.

    python bench/vanishing.py [--seeds 0 1 2] [--steps 1500]

zoo/recurrent.py tells the story (Bengio, Simard & Frasconi, 1994; Hochreiter &
Schmidhuber, 1997): in the tanh RNN, ∂h_T/∂h_t is a product of T − t Jacobians
diag(1 − h_s²) W_hh that shrinks geometrically, while the gated, additive updates of the
LSTM (c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t) and the GRU (h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1})
let the gates keep it near 1. This program measures it on the adding problem
(engine.data.sequences.adding: add the two marked values among T), with the zoo's models
(hidden 64, 1 layer, impl=fused, the LSTM with its default forget-gate bias 1).

For a batch of 256 sequences, L is the MSE of the prediction read at the last step,
and ‖∂L/∂x_t‖ the norm over the 2 input channels of its gradient with respect to step
t's input, averaged over the batch. The figure is

    ratio = ‖∂L/∂x_1‖ / ‖∂L/∂x_T‖,

how much of the gradient the last step gets reaches the first (the 1/B of the mean
cancels). It is computed in float64, because at T = 200 the tanh RNN's ratio falls
below float32's smallest number and would print as 0.

1. At initialization, for T = 10, 25, 50, 100, 200: the geometric mean of the ratio
   over ``--seeds`` (each seed draws the weights and the batch; ratios span many
   orders of magnitude, so they are averaged as logarithms).
2. After training each family on T = 100 (10,000 sequences from seed 0, 8,500 to train
   and 1,500 to test; ``--steps`` steps of Adam lr 3e-3, batch 64, gradient norm
   clipped at 1.0, seed 0): the test MSE against the 0.167 of predicting the mean,
   and the ratio on the first 256 test sequences, before and after training.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from engine.data.sequences import ADDING_BASELINE_MSE, adding  # noqa: E402
from zoo import DataSpec  # noqa: E402

FAMILIES = ("rnn", "lstm", "gru")
LENGTHS = (10, 25, 50, 100, 200)
HIDDEN, PROBE_BATCH = 64, 256
TRAIN_T, N_TRAIN, N_TEST = 100, 8500, 1500
LR, BATCH, CLIP = 3e-3, 64, 1.0


def build(family: str, T: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    spec = DataSpec("sequence", (T, 2), "regression", num_targets=1)
    return zoo.create_model(family, spec, hidden_size=HIDDEN, num_layers=1)


def grad_ratio(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """‖∂L/∂x_1‖ / ‖∂L/∂x_T‖, each averaged over the batch, in float64."""
    model = copy.deepcopy(model).double()
    X = X.double().requires_grad_(True)
    F.mse_loss(model(X).squeeze(-1), y.double()).backward()
    norms = X.grad.norm(dim=-1).mean(dim=0)  # (B, T, 2) -> (B, T) -> (T,)
    return (norms[0] / norms[-1]).item()


@torch.no_grad()
def test_mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    se = sum(
        F.mse_loss(model(xb).squeeze(-1), yb, reduction="sum").item()
        for xb, yb in zip(X.split(500), y.split(500), strict=True)
    )
    return se / len(y)


def train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """``steps`` steps of Adam with clipping on fresh permutations; returns steps/s."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    perm, i = torch.randperm(len(y), generator=gen), 0
    start = time.perf_counter()
    for _ in range(steps):
        if i + BATCH > len(y):  # next epoch; the last partial batch is dropped
            perm, i = torch.randperm(len(y), generator=gen), 0
        idx, i = perm[i : i + BATCH], i + BATCH
        loss = F.mse_loss(model(X[idx]).squeeze(-1), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1500, help="training steps per family")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} hidden={HIDDEN}")

    print(
        f"1. At initialization: ‖∂L/∂x_1‖ / ‖∂L/∂x_T‖ on {PROBE_BATCH} adding sequences, "
        f"geometric mean over seeds {args.seeds}"
    )
    header = "| family |" + "|".join(f" T={T:<7}" for T in LENGTHS) + "|"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for family in FAMILIES:
        cells = []
        for T in LENGTHS:
            logs = []
            for seed in args.seeds:
                probe = adding(PROBE_BATCH, T, seed=seed)
                X, y = torch.from_numpy(probe.X), torch.from_numpy(probe.y)
                logs.append(math.log(grad_ratio(build(family, T, seed), X, y)))
            cells.append(f" {math.exp(statistics.mean(logs)):<9.1e}")
        print(f"| {family:<6} |" + "|".join(cells) + "|", flush=True)

    print(
        f"2. Trained {args.steps} steps on T={TRAIN_T} (seed 0): test MSE (mean predictor "
        f"{ADDING_BASELINE_MSE:.3f}) and the ratio on {PROBE_BATCH} test sequences"
    )
    full = adding(N_TRAIN + N_TEST, TRAIN_T, seed=0)
    X, y = torch.from_numpy(full.X), torch.from_numpy(full.y)
    X_train, y_train, X_test, y_test = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    probe = (X_test[:PROBE_BATCH], y_test[:PROBE_BATCH])
    header = (
        "| family | steps/s | test MSE at init | test MSE trained | ratio at init | ratio trained |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for family in FAMILIES:
        model = build(family, TRAIN_T, 0)
        mse0, ratio0 = test_mse(model, X_test, y_test), grad_ratio(model, *probe)
        steps_per_s = train(model, X_train, y_train, args.steps)
        mse1, ratio1 = test_mse(model, X_test, y_test), grad_ratio(model, *probe)
        print(
            f"| {family:<6} | {steps_per_s:7.1f} | {mse0:16.4f} | {mse1:16.4f} "
            f"| {ratio0:13.1e} | {ratio1:13.1e} |",
            flush=True,
        )
    print(f"total wall time: {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
