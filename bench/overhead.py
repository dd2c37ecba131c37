"""How much time does the zoo's trainer add over a bare PyTorch loop?

    make bench            # or: python bench/overhead.py [--epochs 60] [--runs 10]

Both loops train the default run (configs/train.yaml: the MLP on digits, Adam,
batch size 64) for the same number of steps, in this one process, with the same
threads. The trainer runs as a user runs it: progress bar, TensorBoard logging
every step, validation, early-stopping bookkeeping and checkpoints every epoch.
The bare loop is what one writes by hand: shuffle in-memory tensors, slice
batches, forward, loss, backward, step.

The two are timed in turns, ``--runs`` times each (which goes first alternates, so
a drift in the machine's speed hits both alike), and the figure is the median of
the per-turn ratios: a busy machine slows both loops of a turn alike, so the ratio
holds better than either time. Besides wall-clock time it reports process CPU time,
which other programs on the machine disturb less. Last line: ``ratio=<median>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.run import build, make_trainer, resolve_device, seed_everything  # noqa: E402

Timing = tuple[float, float, int]  # wall seconds, CPU seconds, steps


def config(epochs: int, extra: list[str]):
    # patience=null: both loops run every epoch, so they do the same number of steps.
    return compose_config([f"trainer.max_epochs={epochs}", "trainer.patience=null", *extra])


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float], steps: int) -> Timing:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1], steps


def time_trainer(cfg) -> Timing:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, _ = make_trainer(cfg, run_dir)
        start = clocks()
        trainer.fit()
        timing = since(start, trainer.step)
        trainer.logger.close()
    return timing


def time_bare(cfg) -> Timing:
    seed_everything(cfg.seed)
    built = build(cfg, resolve_device(cfg.device))
    model = built.model
    x_train, y_train = built.data.splits["train"]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, fused=True)
    loss_fn = nn.CrossEntropyLoss()
    bs, n, steps = cfg.trainer.batch_size, len(x_train), 0
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    start = clocks()
    for _ in range(cfg.trainer.max_epochs):
        perm = torch.randperm(n, generator=gen)
        xs, ys = x_train[perm], y_train[perm]
        for i in range(0, n, bs):
            loss = loss_fn(model(xs[i : i + bs]), ys[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return since(start, steps)


def compare(cfg, bare: Callable[[Any], Timing], warm_up_cfg, runs: int) -> float:
    """Time the trainer and ``bare`` on ``cfg`` in ``runs`` alternating turns (after
    one warm-up of each on ``warm_up_cfg``); print the figures, return the median
    wall-clock ratio."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} "
          f"epochs={cfg.trainer.max_epochs} runs={runs} load={load:.2f}")  # fmt: skip
    bare(warm_up_cfg)  # kernels, allocator, lazy imports
    time_trainer(warm_up_cfg)
    timings: dict[str, list[Timing]] = {"trainer": [], "bare": []}
    for turn in range(runs):
        order = ("trainer", "bare") if turn % 2 == 0 else ("bare", "trainer")
        for name in order:
            timings[name].append(time_trainer(cfg) if name == "trainer" else bare(cfg))
    pairs = list(zip(timings["trainer"], timings["bare"], strict=True))
    wall = statistics.median(t[0] / b[0] for t, b in pairs)
    cpu = statistics.median(t[1] / b[1] for t, b in pairs)
    for name, runs_of in timings.items():
        w = statistics.median(t[0] for t in runs_of)
        steps = runs_of[0][2]
        print(f"{name + ':':8} {steps} steps, median {w:.3f}s = {steps / w:,.0f} steps/s")
    print(f"per-turn ratios (wall): {' '.join(f'{t[0] / b[0]:.3f}' for t, b in pairs)}")
    print(f"median CPU-time ratio={cpu:.3f}")
    print(f"ratio={wall:.3f}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--runs", type=int, default=10, help="alternating turns; median of")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model=perceptron")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config(args.epochs, args.overrides)
    compare(cfg, time_bare, config(2, args.overrides), args.runs)


if __name__ == "__main__":
    main()
