"""How do the optimizers compare on the default run, and what does readability cost?

    make bench            # or: python bench/optimizers.py [--epochs 20] [overrides...]

Trains the default run (configs/train.yaml: the MLP with batch norm on standardized
digits, batch size 64, constant learning rate) once per optimizer and ``impl``, each
with its configs/optim/<name>.yaml and the same seed, data and number of steps
(early stopping off), through the zoo's own trainer with logging and the progress
bar off. Prints a table: train loss and test accuracy of the final weights for
impl=fused, then the seconds ``Trainer.fit`` took and steps/s for each impl, and
``ref/fused``, how many times longer the from-scratch Python loop took than
PyTorch's fused/foreach kernels (best of alternating repeats). The time is the
whole of ``fit``, validation and checkpoints included, as a user pays it. The two
impls reach the same weights up to rounding, so only the time differs. One torch
thread by default: two threads on two busy cores slowed these small kernels ~50x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optimizers  # noqa: E402
from engine.cli import compose_config  # noqa: E402
from engine.run import make_trainer  # noqa: E402


def config(optim: str, impl: str, epochs: int, extra: list[str]):
    return compose_config(
        [
            f"optim={optim}",
            f"optim.impl={impl}",
            f"trainer.max_epochs={epochs}",
            "trainer.patience=null",  # every run takes the same number of steps
            "trainer.progress_bar=false",
            "logger=none",
            *extra,
        ]
    )


def run(cfg) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, built = make_trainer(cfg, run_dir)
        start = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - start
        trainer.logger.close()
    evaluate = built.task.evaluate
    train = evaluate(built.model, built.loss_fn, built.data, "train")
    test = evaluate(built.model, built.loss_fn, built.data, "test")
    return {
        "loss": train["loss"],
        "acc": test["accuracy"],
        "seconds": seconds,
        "steps_per_s": trainer.step / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs; best of")
    parser.add_argument("--threads", type=int, default=1, help="a tiny MLP gains nothing from more")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. seed=1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} epochs={args.epochs}")
    run(config("adam", "fused", 1, args.overrides))  # warm up kernels and allocator
    header = (
        f"| {'optim':<9}| train loss | test acc | fused s | fused steps/s "
        f"| ref s | ref steps/s | ref/fused |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in optimizers.list_optimizers():
        runs: dict[str, list[dict[str, float]]] = {"fused": [], "reference": []}
        for _ in range(args.repeats):
            for impl, results in runs.items():
                results.append(run(config(name, impl, args.epochs, args.overrides)))
        # The fastest repeat, as timeit does: noise only ever adds time (the rest is equal).
        fast, ref = (min(results, key=lambda r: r["seconds"]) for results in runs.values())
        print(
            f"| {name:<9}| {fast['loss']:10.4f} | {fast['acc']:8.4f} | {fast['seconds']:7.2f} "
            f"| {fast['steps_per_s']:13,.0f} | {ref['seconds']:5.2f} "
            f"| {ref['steps_per_s']:11,.0f} | {ref['seconds'] / fast['seconds']:9.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
