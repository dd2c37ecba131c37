"""Speed of the vision and graph pieces: the from-scratch layers against the library
kernels, and the CNN's seconds to 98% on digits.

    python bench/vision_graph.py [--seeds 0 1 2] [--target 0.98]

1. ``bench/vision_conv.py``: steps/s and peak memory of :func:`zoo.conv.conv2d`
   (unfold + matmul) against ``F.conv2d``.
2. ``bench/graph_layer.py``: the same for :class:`zoo.gnn.GCNLayer` against PyG's
   ``GCNConv``.
3. Seconds of training until the validation accuracy first reaches ``--target``, for
   ``experiment=digits_cnn`` and, as the baseline in the same process,
   ``experiment=digits_mlp`` (the default run); with the test accuracy of the
   weights at that epoch. One torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.run import make_trainer  # noqa: E402


def seconds_to(experiment: str, seed: int, target: float, run_dir: Path) -> tuple:
    """(training seconds, epochs, test accuracy) when val accuracy first >= target."""
    cfg = compose_config(
        [f"experiment={experiment}", f"seed={seed}", "logger=none", "trainer.progress_bar=false"]
    )
    trainer, built = make_trainer(cfg, run_dir)
    task, model, data, loss = built.task, built.model, built.data, built.loss_fn
    elapsed = 0.0
    for epoch in range(1, trainer.cfg.max_epochs + 1):
        start = time.perf_counter()
        trainer._train_epoch()
        trainer.epoch += 1
        elapsed += time.perf_counter() - start
        if task.evaluate(model, loss, data, "val")["accuracy"] >= target:
            return elapsed, epoch, task.evaluate(model, loss, data, "test")["accuracy"]
    return None, trainer.cfg.max_epochs, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--skip-layers", action="store_true", help="only part 3")
    args = parser.parse_args()
    if not args.skip_layers:
        for program in ("vision_conv.py", "graph_layer.py"):
            print(f"== bench/{program}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "bench" / program)], check=True)
    torch.set_num_threads(1)
    print(f"\n== seconds of training until val accuracy >= {args.target} on digits (1 thread)")
    print("| experiment | seed | seconds | epochs | test accuracy then |")
    print("|---|---|---|---|---|")
    means = {}
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in ("digits_cnn", "digits_mlp"):
            times = []
            for seed in args.seeds:
                secs, epochs, acc = seconds_to(
                    experiment, seed, args.target, Path(tmp) / f"{experiment}{seed}"
                )
                shown = "not reached" if secs is None else f"{secs:.2f}"
                test = "-" if acc is None else f"{acc:.4f}"
                print(f"| {experiment} | {seed} | {shown} | {epochs} | {test} |", flush=True)
                if secs is not None:
                    times.append(secs)
            means[experiment] = statistics.mean(times) if times else float("nan")
    print(
        f"mean seconds: cnn {means['digits_cnn']:.2f}, mlp {means['digits_mlp']:.2f}; "
        f"cnn/mlp = {means['digits_cnn'] / means['digits_mlp']:.2f}"
    )


if __name__ == "__main__":
    main()
