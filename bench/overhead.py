"""How much time does the zoo's trainer add over a bare PyTorch loop?

    make bench            # or: python bench/overhead.py [--epochs 60] [--runs 10]

The trainer and two bare loops train the default run (configs/train.yaml: the MLP on
digits, Adam, batch size 64) for the same number of steps, in this one process, with
the same threads. The trainer runs as a user runs it: progress bar, TensorBoard logging
every step, validation, early-stopping bookkeeping and checkpoints every epoch.
The bare loops are what one writes by hand: shuffle in-memory tensors, slice
batches, forward, loss, backward, step; the first then validates every epoch (eval
mode, the validation split's loss and accuracy), as the default run does and as its
early stopping needs, so it does the trainer's work and the ratio to it is the
trainer's overhead; the second only trains, so its ratio adds validation's cost.

The loops are timed in turns, ``--runs`` times each (their order rotates, so a drift in
the machine's speed hits all alike), and each figure is the median of the per-turn
ratios: a busy machine slows the loops of a turn alike, so the ratio holds better than
any time. Beside it: the median ratio of process CPU times, which other programs on the
machine disturb less, and the ratio of each loop's fastest turn. Last line:
``ratio=<median wall-clock ratio>``, against the first bare loop.
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


def time_bare(cfg, validate: bool = True) -> Timing:
    seed_everything(cfg.seed)
    built = build(cfg, resolve_device(cfg.device))
    model = built.model
    x_train, y_train = built.data.splits["train"]
    x_val, y_val = built.data.splits["val"]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, fused=True)
    loss_fn = nn.CrossEntropyLoss()
    bs, n, steps = cfg.trainer.batch_size, len(x_train), 0
    gen = torch.Generator().manual_seed(cfg.seed)
    curve = []  # (val loss, val accuracy) per epoch
    start = clocks()
    for _ in range(cfg.trainer.max_epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        xs, ys = x_train[perm], y_train[perm]
        for i in range(0, n, bs):
            loss = loss_fn(model(xs[i : i + bs]), ys[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        if validate:
            model.eval()
            with torch.inference_mode():
                out = model(x_val)
                accuracy = (out.argmax(1) == y_val).float().mean()
                curve.append((loss_fn(out, y_val).item(), accuracy.item()))
    return since(start, steps)


def time_bare_training(cfg) -> Timing:
    return time_bare(cfg, validate=False)


def compare(cfg, bares: dict[str, Callable[[Any], Timing]], warm_up_cfg, runs: int) -> float:
    """Time the trainer and each of ``bares`` (by name) on ``cfg`` in ``runs`` turns,
    their order rotating (after one warm-up of each on ``warm_up_cfg``); print the
    figures, return the median wall-clock ratio to the first bare loop."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} "
          f"epochs={cfg.trainer.max_epochs} runs={runs} load={load:.2f}")  # fmt: skip
    loops = {"trainer": time_trainer, **bares}
    for loop in loops.values():
        loop(warm_up_cfg)  # kernels, allocator, lazy imports
    names = list(loops)
    timings: dict[str, list[Timing]] = {name: [] for name in names}
    for turn in range(runs):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            timings[name].append(loops[name](cfg))
    pad = max(len(n) for n in names) + 1
    for name, runs_of in timings.items():
        w = statistics.median(t[0] for t in runs_of)
        steps = runs_of[0][2]
        print(f"{name + ':':{pad}} {steps} steps, median {w:.3f}s = {steps / w:,.0f} steps/s")
    ratios = {}
    for name in bares:
        pairs = list(zip(timings["trainer"], timings[name], strict=True))
        ratios[name] = statistics.median(t[0] / b[0] for t, b in pairs)
        cpu = statistics.median(t[1] / b[1] for t, b in pairs)
        # Interference only ever adds time, so each loop's fastest turn is its least
        # disturbed one: a second, steadier estimate beside the median.
        fastest = min(t[0] for t, _ in pairs) / min(b[0] for _, b in pairs)
        print(f"trainer / {name}: per-turn ratios (wall) "
              f"{' '.join(f'{t[0] / b[0]:.3f}' for t, b in pairs)}; "
              f"median CPU-time ratio={cpu:.3f}, fastest turns' ratio={fastest:.3f}, "
              f"median wall-clock ratio={ratios[name]:.3f}")  # fmt: skip
    print(f"ratio={ratios[names[1]]:.3f}")
    return ratios[names[1]]


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
    bares = {"bare loop (trains, validates)": time_bare, "bare loop (trains)": time_bare_training}
    compare(cfg, bares, config(2, args.overrides), args.runs)


if __name__ == "__main__":
    main()
