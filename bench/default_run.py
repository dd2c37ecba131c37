"""Wall time of the default run as a user starts it, and the accuracy it reaches.

    python bench/default_run.py [--seeds 0 1 2]

Runs ``python train.py seed=S`` in a fresh process per seed (startup included:
imports, Hydra, data), into a temporary directory, and prints each run's wall time
and test accuracy, then the means. The baseline for the ratio is the bare startup
of the same interpreter importing torch and Hydra (what any script pays).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    startup = wall([sys.executable, "-c", "import torch, hydra, sklearn, tensorboard"])
    times, accs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run_dir = Path(tmp) / f"seed{seed}"
            t = wall([sys.executable, "train.py", f"seed={seed}", f"hydra.run.dir={run_dir}"])
            acc = json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"]
            times.append(t)
            accs.append(acc)
            print(f"seed={seed}: {t:.1f}s wall, test accuracy {acc:.4f}")
    print(f"import-only startup: {startup:.1f}s")
    print(f"mean: {statistics.mean(times):.1f}s wall, test accuracy {statistics.mean(accs):.4f}")
    print(f"ratio={statistics.mean(times) / startup:.2f}")


if __name__ == "__main__":
    main()
