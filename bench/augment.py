"""How fast is the batched augmentation, and what share of a training step is it?

    python bench/augment.py                  # [--batch 64] [--repeats 7]

1. Images per second of each transform (and the ``strong`` preset) on a batch of
   ``--batch`` digits (1x8x8) and CIFAR-sized images (3x32x32): the batched
   implementation (one call, a parameter draw per sample) against a Python loop
   over the samples calling ``torchvision.transforms.v2`` with the same
   transforms, which is what a per-sample draw costs with torchvision (given a
   batch, v2 draws one set of parameters for all of it). Ratio = batched / loop.
2. The share of a training step of the digits CNN (``experiment=digits_cnn``,
   batch 64) that ``augment=strong`` takes: the time of the pipeline on a batch
   against the time of a whole step (augmentation, forward, backward, update).

Times are the median of ``--repeats`` turns, the two sides alternating in one
process, one torch thread, measured as the CPU time of this process
(``time.process_time``) rather than the wall clock: on a shared machine other
programs preempt the benchmark, which the wall clock counts and CPU time does not.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torchvision.transforms import v2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import augment  # noqa: E402

TORCHVISION = {
    "affine": lambda: v2.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
    "resized_crop": lambda size: v2.RandomResizedCrop(size, scale=(0.6, 1.0)),
    "color": lambda: v2.ColorJitter(brightness=0.3, contrast=0.3),
    "erasing": lambda: v2.RandomErasing(p=0.5, scale=(0.02, 0.2)),
    "strong": lambda size: v2.Compose(
        [
            v2.RandomAffine(15, translate=(0.125, 0.125), scale=(0.85, 1.15), shear=10),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
            v2.RandomErasing(p=0.5, scale=(0.02, 0.2)),
        ]
    ),
}


def seconds(fn: Callable[[], object], repeats: int, inner: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(inner):
            fn()
        out.append((time.process_time() - start) / inner)
    return out


def throughput(batch: int, repeats: int) -> None:
    print(f"1. images/s at batch {batch}: batched (augment) vs per-sample torchvision v2 loop")
    print(f"{'image':8s} {'transform':13s} {'batched':>10s} {'loop':>10s} {'ratio':>7s}")
    for shape in ((1, 8, 8), (3, 32, 32)):
        x = torch.rand(batch, *shape)
        for name, make in TORCHVISION.items():
            tv = make(list(shape[1:])) if name in ("resized_crop", "strong") else make()
            ours = augment.build_augment(name, "image", shape)
            g = torch.Generator().manual_seed(0)
            batched = functools.partial(ours, x, g)
            loop = functools.partial(lambda tv, x: [tv(img) for img in x], tv, x)
            t_ours, t_loop = [], []
            for _ in range(repeats):  # alternating, so load hits both alike
                t_ours += seconds(batched, 1, 20)
                t_loop += seconds(loop, 1, 2)
            a, b = statistics.median(t_ours), statistics.median(t_loop)
            label = "x".join(map(str, shape))
            print(f"{label:8s} {name:13s} {batch / a:10.0f} {batch / b:10.0f} {b / a:7.1f}")


def step_share(repeats: int) -> None:
    from conftest import compose_cfg

    from engine.run import make_trainer

    cfg = compose_cfg("experiment=digits_cnn", "augment=strong", "logger=none",
                      "trainer.progress_bar=false")  # fmt: skip
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, built = make_trainer(cfg, run_dir)
        trainer.augment_generator = torch.Generator().manual_seed(0)
        x, t = next(iter(built.data.batches("train", 64)))
        built.model.train()

        def step() -> None:
            built.task.training_step(trainer, x, t)

        def aug() -> None:
            trainer.augment.batch(x, t, trainer.augment_generator)

        step(), aug()  # warm up
        t_step, t_aug = [], []
        for _ in range(repeats):
            t_step += seconds(step, 1, 20)
            t_aug += seconds(aug, 1, 20)
    s, a = statistics.median(t_step), statistics.median(t_aug)
    print("2. digits CNN, batch 64, augment=strong")
    print(f"   whole step {1e3 * s:.2f} ms, of which augmentation {1e3 * a:.2f} ms: {a / s:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    throughput(args.batch, args.repeats)
    step_share(args.repeats)


if __name__ == "__main__":
    main()
