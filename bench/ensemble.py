"""An ensemble of five seeds against its members, on digits.

    python bench/ensemble.py [--experiment digits_mlp] [--seeds 0 1 2 3 4]

Trains ``experiment=<name> seed=s data_seed=0`` for each seed (one split, five
initializations and shuffles), then evaluates the runs as one ensemble, by
probability averaging and by majority vote, as ``python evaluate.py
run_dirs=[...]`` does. Prints each member's test accuracy, the members' mean (the
baseline), and the ensembles'.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.report.evaluation import evaluate_runs  # noqa: E402
from engine.run import save_config, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="digits_mlp")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for seed in args.seeds:
            cfg = compose_config(
                [
                    f"experiment={args.experiment}",
                    f"seed={seed}",
                    "data_seed=0",
                    "logger=none",
                    "trainer.progress_bar=false",
                ]
            )
            run = Path(tmp) / f"seed{seed}"
            save_config(cfg, run)
            train(cfg, run)
            runs.append(run)
        results = {
            rule: evaluate_runs(runs, Path(tmp) / rule, ensemble=rule, pictures=False)
            for rule in ("mean", "vote")
        }
    members = [r["accuracy"] for r in results["mean"]["members"].values()]
    print(f"{args.experiment}, data_seed=0, test accuracy")
    print("| run | accuracy |")
    print("|---|---|")
    for seed, acc in zip(args.seeds, members, strict=True):
        print(f"| member seed {seed} | {acc:.4f} |")
    mean = statistics.mean(members)
    print(f"| members' mean | {mean:.4f} |")
    for rule, result in results.items():
        acc = result["report"]["accuracy"]
        print(f"| ensemble ({rule}) | {acc:.4f} |")
    gain = results["mean"]["report"]["accuracy"] - mean
    print(f"probability averaging beats the mean member by {gain:+.4f}")
    print(f"total wall time: {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
