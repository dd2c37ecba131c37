"""Does a GRU train faster than an LSTM, to the same accuracy? Measured on the adding problem.

    python bench/gru_vs_lstm.py [--seeds 0 1 2] [--budget 360] [--ref-steps 100]

The claim (Chung et al., 2014, "Empirical evaluation of gated recurrent neural networks
on sequence modeling": the GRU has 3 gate blocks to the LSTM's 4, so fewer parameters
and less work per step, at comparable accuracy) tested on this zoo's models, built by
``zoo.create_model`` from a DataSpec("sequence", (100, 2), "regression"), 1 layer, the
LSTM with its default forget-gate bias 1.

Data: ``engine.data.sequences.adding(10000, 100, seed=0)``, the first 8,500 sequences to
train, the last 1,500 to test; predicting the mean scores MSE 1/6 ≈ 0.167. Training:
Adam lr 3e-3, batch 64 (a fresh permutation of the training set every epoch), gradient
norm clipped at 1.0, evaluated on the test set every 100 steps. A run stops the first
time the test MSE is below 0.01 (the target), or at 4,000 steps ("not reached"); its
final MSE is the test MSE at that last evaluation. Seconds count training steps only,
not the evaluations. Runs: (a) equal hidden size, LSTM 64 and GRU 64; (b) equal
parameter count, LSTM 64 and the GRU whose hidden size gives the count closest to it.
With one seed, LSTM and GRU draw the same batches in the same order; each seed also
redraws the initial weights.

Each model is trained on ``impl="fused"`` (nn.LSTM / nn.GRU). The ``impl="reference"``
path (the Python cells of zoo.recurrent_cells) is the same function with the same
parameters, so rather than retrain it to the target, it is run for the first
``--ref-steps`` steps from the same initial weights on the same batches: that gives
its steps/s, and a check that its losses and weights match the fused run's up to
float rounding (printed). Its steps to target are then the fused run's (marked "=")
and its seconds to target that many steps at its own speed (an estimate). Rounding
differences can grow over thousands of steps, so the trajectories are not bitwise the
same; the model, data and optimizer are.

Seed 0 always runs; each further seed only if the time so far plus the slowest seed's
time stays within ``--budget`` seconds. One torch thread (the machine's two cores are
shared).
"""

from __future__ import annotations

import argparse
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

T, N_TRAIN, N_TEST = 100, 8500, 1500
SPEC = DataSpec("sequence", (T, 2), "regression", num_targets=1)
LR, BATCH, CLIP = 3e-3, 64, 1.0
TARGET, EVERY, MAX_STEPS = 0.01, 100, 4000


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gru_params(H: int, F_: int = 2) -> int:
    """3 gate blocks of W_ih (H, F), W_hh (H, H), b_ih, b_hh (H,), plus the head H -> 1."""
    return 3 * (H * F_ + H * H + 2 * H) + H + 1


def build(family: str, hidden: int, impl: str, seed: int) -> torch.nn.Module:
    """The model with the fused path's initial weights for ``seed``, on either impl."""
    torch.manual_seed(seed)
    model = zoo.create_model(family, SPEC, hidden_size=hidden, num_layers=1, impl="fused")
    if impl == "reference":
        reference = zoo.create_model(family, SPEC, hidden_size=hidden, impl="reference")
        reference.load_state_dict(model.state_dict())  # same names and shapes
        model = reference
    return model


def batches(seed: int):
    """Index batches of 64, a fresh permutation of the training set every epoch."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(N_TRAIN, generator=gen)
        for i in range(0, N_TRAIN - BATCH + 1, BATCH):  # drop the last partial batch
            yield perm[i : i + BATCH]


@torch.no_grad()
def test_mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    se = sum(
        F.mse_loss(model(xb).squeeze(-1), yb, reduction="sum").item()
        for xb, yb in zip(X.split(500), y.split(500), strict=True)
    )
    model.train()
    return se / len(y)


def train(model, data, seed: int, max_steps: int, evaluate: bool, keep: int) -> dict:
    """Train until the test MSE is below TARGET or max_steps; time the steps only."""
    X_train, y_train, X_test, y_test = data
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses, snapshot = [], None
    result = {"target_step": None, "target_s": None, "final": None}
    seconds, step = 0.0, 0
    for step, idx in enumerate(batches(seed), start=1):
        start = time.perf_counter()
        loss = F.mse_loss(model(X_train[idx]).squeeze(-1), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        seconds += time.perf_counter() - start
        if step <= keep:
            losses.append(loss.item())
        if step == keep:
            snapshot = [p.detach().clone() for p in model.parameters()]
        if evaluate and step % EVERY == 0:
            result["final"] = test_mse(model, X_test, y_test)
            if result["final"] < TARGET:
                result["target_step"], result["target_s"] = step, seconds
                break
        if step >= max_steps:
            break
    return {**result, "steps": step, "seconds": seconds, "losses": losses, "snapshot": snapshot}


def fmt(value: float | None, spec: str, missing: str = "not reached") -> str:
    return missing if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def gru_over_lstm(g: dict, lstm: dict, impl: str) -> tuple[float | None, float | None, float]:
    """GRU / LSTM: steps to target, seconds to target, steps/s, on one impl."""
    if impl == "fused":
        sps = (g["steps"] / g["seconds"], lstm["steps"] / lstm["seconds"])
        secs = (g["target_s"], lstm["target_s"])
    else:  # the fused run's steps at the reference path's speed
        sps = (g["ref_sps"], lstm["ref_sps"])
        secs = tuple(
            None if r["target_step"] is None else r["target_step"] / r["ref_sps"] for r in (g, lstm)
        )
    return ratio(g["target_step"], lstm["target_step"]), ratio(*secs), sps[0] / sps[1]


def run_seed(seed: int, data, models, ref_steps: int, checks: list[str]) -> dict:
    rows = {}
    for label, family, hidden in models:  # the LSTM 64 serves both comparisons
        fused = build(family, hidden, "fused", seed)
        r = train(fused, data, seed, MAX_STEPS, evaluate=True, keep=ref_steps)
        reference = build(family, hidden, "reference", seed)
        ref = train(reference, data, seed, ref_steps, evaluate=False, keep=ref_steps)
        n = min(len(r["losses"]), len(ref["losses"]))  # fewer if the fused run stopped first
        d_loss = max(abs(a - b) for a, b in zip(r["losses"][:n], ref["losses"][:n], strict=True))
        d_param = (
            max(
                (a - b).abs().max().item()
                for a, b in zip(r["snapshot"], ref["snapshot"], strict=True)
            )
            if r["snapshot"] is not None
            else float("nan")
        )
        name = f"{family} {hidden}"
        sps, ref_sps = r["steps"] / r["seconds"], ref["steps"] / ref["seconds"]
        est = None if r["target_step"] is None else r["target_step"] / ref_sps  # estimated
        print(
            f"| {seed:4} | {name:<8} | fused     | {n_params(fused):6,} | {sps:7.1f} "
            f"| {fmt(r['target_step'], 'd'):>13} | {fmt(r['target_s'], '.1f'):>9} "
            f"| {fmt(r['final'], '.4f'):>9} |"
        )
        print(
            f"| {seed:4} | {name:<8} | reference | {n_params(reference):6,} | {ref_sps:7.1f} "
            f"| {'= ' + fmt(r['target_step'], 'd'):>13} | {fmt(est, '.1f', 'n/a'):>9} "
            f"| {'-':>9} |",
            flush=True,
        )
        checks.append(
            f"  seed {seed} {name:<8}: max |Δloss| {d_loss:.1e}, max |Δweight| {d_param:.1e}"
        )
        rows[label] = {**r, "ref_sps": ref_sps}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=360.0, help="seconds for all seeds")
    parser.add_argument("--ref-steps", type=int, default=100, help="steps run on impl=reference")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    full = adding(N_TRAIN + N_TEST, T, seed=0)
    X, y = torch.from_numpy(full.X), torch.from_numpy(full.y)
    data = (X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:])
    lstm_count = n_params(zoo.create_model("lstm", SPEC, hidden_size=64))
    H = min(range(1, 257), key=lambda h: abs(gru_params(h) - lstm_count))
    assert gru_params(H) == n_params(zoo.create_model("gru", SPEC, hidden_size=H))
    models = [("lstm", "lstm", 64), ("gru_h", "gru", 64), ("gru_p", "gru", H)]

    print(
        f"threads={torch.get_num_threads()} torch={torch.__version__}; time budget "
        f"{args.budget:.0f}s: seed {args.seeds[0]} always, the others while they fit"
    )
    print(
        f"adding T={T}: {N_TRAIN} train / {N_TEST} test, baseline MSE "
        f"{ADDING_BASELINE_MSE:.3f}; target test MSE < {TARGET} (checked every {EVERY} steps), "
        f"cap {MAX_STEPS} steps"
    )
    print(
        f"equal parameters: lstm 64 has {lstm_count:,}; gru {H} has {gru_params(H):,} "
        f"(gru {H - 1}: {gru_params(H - 1):,}, gru {H + 1}: {gru_params(H + 1):,})"
    )
    header = (
        "| seed | model    | impl      | params | steps/s | steps to 0.01 | s to 0.01 | final MSE |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    results, seed_times, checks = {}, [], []
    for i, seed in enumerate(args.seeds):
        elapsed = time.perf_counter() - start
        if i > 0 and elapsed + max(seed_times) > args.budget:
            print(
                f"seeds {args.seeds[i:]} skipped: {elapsed:.0f}s so far + "
                f"{max(seed_times):.0f}s per seed > the {args.budget:.0f}s budget"
            )
            break
        seed_start = time.perf_counter()
        results[seed] = run_seed(seed, data, models, args.ref_steps, checks)
        seed_times.append(time.perf_counter() - seed_start)

    print(
        f"impl=reference against impl=fused, same initial weights and batches, "
        f"first {args.ref_steps} steps:"
    )
    print("\n".join(checks))
    print(
        "GRU / LSTM ratios (steps and seconds to target: < 1 = the GRU gets there sooner; "
        "steps/s: < 1 = the GRU is slower per step; reference: steps inherited, seconds estimated)"
    )
    header = "| comparison            | impl      | seed   | steps to 0.01 | s to 0.01 | steps/s |"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for label, what in (("gru_h", "equal hidden 64"), ("gru_p", f"equal params, GRU {H}")):
        for impl in ("fused", "reference"):
            per_seed: dict = {
                seed: gru_over_lstm(res[label], res["lstm"], impl) for seed, res in results.items()
            }
            if len(per_seed) > 1:
                cols = list(zip(*per_seed.values(), strict=True))
                per_seed["median"] = tuple(
                    None if None in col else statistics.median(col) for col in cols
                )
            for seed, (steps, secs, sps) in per_seed.items():
                print(
                    f"| {what:<21} | {impl:<9} | {seed!s:<6} | {fmt(steps, '13.2f', 'n/a'):>13} "
                    f"| {fmt(secs, '9.2f', 'n/a'):>9} | {sps:7.2f} |"
                )
    print(f"total wall time: {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
