"""How much time does the zoo's trainer add over a bare PyTorch loop?

    make bench            # or: python bench/overhead.py [--epochs 60] [--repeats 3]

Both loops train the default run (configs/train.yaml: the MLP on digits, Adam,
batch size 64) for the same number of steps, in this one process, with the same
threads. The trainer runs as a user runs it: progress bar, TensorBoard logging
every step, validation, early-stopping bookkeeping and checkpoints every epoch.
The bare loop is what one writes by hand: shuffle in-memory tensors, slice
batches, forward, loss, backward, step. Last line: ``ratio=<trainer / bare>``.
"""

from __future__ import annotations

import argparse
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


def config(epochs: int, extra: list[str]):
    # patience=null: both loops run every epoch, so they do the same number of steps.
    return compose_config([f"trainer.max_epochs={epochs}", "trainer.patience=null", *extra])


def time_trainer(cfg) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, _ = make_trainer(cfg, run_dir)
        start = time.perf_counter()
        trainer.fit()
        elapsed = time.perf_counter() - start
        trainer.logger.close()
    return elapsed, trainer.step


def time_bare(cfg) -> tuple[float, int]:
    seed_everything(cfg.seed)
    built = build(cfg, resolve_device(cfg.device))
    model = built.model
    x_train, y_train = built.data.splits["train"]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, fused=True)
    loss_fn = nn.CrossEntropyLoss()
    bs, n, steps = cfg.trainer.batch_size, len(x_train), 0
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    start = time.perf_counter()
    for _ in range(cfg.trainer.max_epochs):
        perm = torch.randperm(n, generator=gen)
        xs, ys = x_train[perm], y_train[perm]
        for i in range(0, n, bs):
            loss = loss_fn(model(xs[i : i + bs]), ys[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return time.perf_counter() - start, steps


def compare(cfg, bare: Callable[[Any], tuple[float, int]], warm_up_cfg, repeats: int) -> None:
    """Time the trainer and ``bare`` on ``cfg``, alternating, ``repeats`` times each
    (after one warm-up of ``bare`` on ``warm_up_cfg``); print both and the ratio."""
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} "
          f"epochs={cfg.trainer.max_epochs}")  # fmt: skip
    bare(warm_up_cfg)  # warm up kernels and allocator
    trainer_times, bare_times = [], []
    for _ in range(repeats):
        t, steps_trainer = time_trainer(cfg)
        trainer_times.append(t)
        b, steps_bare = bare(cfg)
        bare_times.append(b)
    # The fastest of the alternating repeats, as timeit does: noise only ever adds time.
    t, b = min(trainer_times), min(bare_times)
    print(f"trainer: {steps_trainer} steps in {t:.3f}s = {steps_trainer / t:,.0f} steps/s")
    print(f"bare:    {steps_bare} steps in {b:.3f}s = {steps_bare / b:,.0f} steps/s")
    print(f"ratio={t / b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs; best of")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model=perceptron")
    args = parser.parse_args()
    cfg = config(args.epochs, args.overrides)
    compare(cfg, time_bare, config(2, args.overrides), args.repeats)


if __name__ == "__main__":
    main()
