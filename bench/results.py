"""Run every pinned experiment (``configs/experiment/``) over seeds; write RESULTS.md.

    python bench/results.py                     # all experiments, seeds 0 1 2
    python bench/results.py --only digits_lstm adding_gru --seeds 0

Each run is ``python train.py experiment=<name> seed=<s>`` done in this process (the
same ``engine.run.train`` call, without TensorBoard files), so the table shows what a
user gets. Per experiment: model, data, the main test metric as mean ± std over the
seeds (accuracy for classification; MSE, in the target's units, for regression, with
R² next to it), the model's parameters, training seconds (the trainer's own clock:
epochs and validation, not startup or testing) and optimizer steps per second.
Wall-clock figures depend on the machine and its load; the metrics do not (same
config and seed, same numbers).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.run import train  # noqa: E402

EXPERIMENTS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))


def run(name: str, seed: int, run_dir: Path) -> dict:
    cfg = compose_config(
        [f"experiment={name}", f"seed={seed}", "logger=none", "trainer.progress_bar=false"]
    )
    metrics = train(cfg, run_dir)
    params = sum(
        p.numel()
        for p in torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)[
            "model"
        ].values()
    )
    return {"cfg": cfg, "metrics": metrics, "params": params}


def headline(task: str, test: dict) -> tuple[str, str | None]:
    """The main test metric of a task, and the one shown next to it (or None)."""
    if task == "regression":
        return "mse", "r2"
    if task == "embedding":
        return "nn_accuracy", None
    if task == "adversarial":  # mode coverage on ring/grid, recognized digits otherwise
        if "modes_covered" in test:
            return "modes_covered", "high_quality_fraction"
        return "confident_fraction", "classes_covered"
    if task == "reconstruction":  # the VAE's bound; an autoencoder's error per feature
        return ("elbo", "mse") if "elbo" in test else ("mse", "mean_image_mse")
    return "accuracy", None


def fmt(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=EXPERIMENTS, choices=EXPERIMENTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "RESULTS.md"))
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            runs = []
            for seed in args.seeds:
                runs.append(run(name, seed, Path(tmp) / f"{name}_{seed}"))
                m = runs[-1]["metrics"]
                shown = "  ".join(f"{k}={v:.4g}" for k, v in m["test"].items())
                print(f"{name} seed={seed}: {shown}  ({m['train_time_s']:.1f}s)", flush=True)
            cfg = runs[0]["cfg"]
            tests = [r["metrics"]["test"] for r in runs]
            main_key, also = headline(cfg.task.name, tests[0])
            seconds = [r["metrics"]["train_time_s"] for r in runs]
            rates = [
                r["metrics"]["steps"] / max(s, 1e-9) for r, s in zip(runs, seconds, strict=True)
            ]
            rows.append(
                {
                    "experiment": name,
                    "model": cfg.model.name,
                    "data": cfg.data.name,
                    "metric": main_key,
                    "value": fmt([t[main_key] for t in tests]),
                    "also": f"{also} {fmt([t[also] for t in tests], 3)}" if also else "",
                    "params": runs[0]["params"],
                    "seconds": statistics.mean(seconds),
                    "rate": statistics.mean(rates),
                }
            )
    lines = [
        "# Results of the pinned experiments",
        "",
        f"`make results` (bench/results.py): every config in `configs/experiment/`, seeds "
        f"{', '.join(map(str, args.seeds))}; test metrics as mean ± std over the seeds. "
        f"Seconds and steps/s are the trainer's training time on this machine "
        f"({torch.get_num_threads()} torch thread(s), CPU); they vary with load, the "
        "metrics do not. GAN rows: modes covered of 8 (ring) or 25 (grid) and the "
        "high-quality fraction on 2,500 samples (VEEGAN/PacGAN), or the share of generated "
        "digits a classifier of real digits recognizes; VAE rows: the ELBO in nats per image.",
        "",
        "| experiment | model | data | test metric | mean ± std | also | parameters "
        "| train s | steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['experiment']} | {r['model']} | {r['data']} | {r['metric']} | {r['value']} "
            f"| {r['also']} | {r['params']:,} | {r['seconds']:.1f} | {r['rate']:.0f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:]))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
