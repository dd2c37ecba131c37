"""Train any model of the zoo on any dataset, as the Hydra configs say.

    python train.py                                   # MLP on scikit-learn's digits
    python train.py model=perceptron data=breast_cancer
    python train.py data=diabetes task=regression loss=mse
    python train.py -m optim=sgd,adam seed=0,1        # a sweep: one run directory each
    python train.py hydra.run.dir=D resume=true       # continue an interrupted run
    python train.py --help                            # every group and option

Each run directory holds .hydra/config.yaml, metrics.json, checkpoints/ and the
TensorBoard event files; ``python evaluate.py run_dir=<dir>`` rebuilds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from engine.cli import (
    add_pairings,
    check_keys,
    check_overrides,
    display_path,
    fail,
    quote_values,
    report_errors,
    report_sweep,
)

log = logging.getLogger("train")


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def summary_lines(m: dict, run_dir: str, logdir: str) -> list[str]:
    """What a finished run prints: test metrics (and their units where the loss is
    measured otherwise), the trivial baseline to beat, where to look."""
    lines = [
        f"test ({m['test_checkpoint']} of {m['epochs']} epochs, {m['steps']} steps, "
        f"{m['train_time_s']:.1f}s): {format_metrics(m['test'])}"
    ]
    if "units" in m:
        lines.append(f"  ({m['units']})")
    if "baseline" in m:
        baseline = m["baseline"]
        lines.append(f"baseline ({baseline['predictor']}): {format_metrics(baseline['test'])}")
    return [
        *lines,
        f"run dir: {display_path(run_dir)}",
        f"look at it: tensorboard --logdir {display_path(logdir)}",
    ]


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@report_errors
def main(cfg: DictConfig) -> float:
    from engine.objective import objective_value, parse
    from engine.pruning import TrialPruned
    from engine.resuming import explicit_keys
    from engine.run import train  # torch and friends: imported after the argument checks

    parse(cfg.objective)  # a test-split objective is refused before training

    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    if cfg.resume:  # Hydra rewrote <run_dir>/.hydra: the run's own files go back now
        restore_run_config()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: one directory, rank 0's
        from engine.distributed import shared_run_dir

        run_dir = str(shared_run_dir(run_dir))
    if "joblib" in str(hydra_cfg.launcher.get("_target_")):  # n_jobs trials share the cores
        import torch

        torch.set_num_threads(1)
    log.info(
        f"{cfg.model.name} on {cfg.data.name} ({cfg.task.name}), run dir {display_path(run_dir)}"
    )
    try:
        metrics = train(cfg, run_dir, explicit_keys(hydra_cfg.overrides.task))
    except TrialPruned as e:  # the search stopped this trial: not a failure
        log.info(f"trial {e}; run dir: {display_path(run_dir)}")
        return None
    logdir = hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else run_dir
    log.info("\n".join(summary_lines(metrics, run_dir, logdir)))
    return objective_value(cfg.objective, metrics)  # what a sweeper optimizes


def existing_run(args: list[str]) -> Path | None:
    """The directory ``hydra.run.dir=`` names, when it already holds a run."""
    if any(a in ("-m", "--multirun", "--help", "-h", "--cfg", "-c", "--info") for a in args):
        return None
    dirs = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("hydra.run.dir=")]
    if not dirs or "${" in dirs[-1]:
        return None  # make_trainer checks again once the directory is known
    run_dir = Path(dirs[-1])
    return run_dir if (run_dir / "checkpoints" / "last.pt").exists() else None


def check_run_dir(args: list[str]) -> None:
    """Refuse before Hydra starts (and rewrites <dir>/.hydra) to start over a run."""
    run_dir = existing_run(args)
    resume = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("resume=")]
    if run_dir is not None and (not resume or resume[-1].lower() in ("false", "0")):
        fail(
            f"{run_dir} already holds a run; add resume=true to continue it, "
            "or pick another hydra.run.dir (nothing was overwritten)"
        )


_run_config: dict[Path, bytes] = {}  # <run_dir>/.hydra/*.yaml as they were before Hydra


def restore_run_config() -> None:
    """Put back the run's own .hydra files: a resume continues the run as configured
    (engine.resuming), and the changes it makes are recorded beside them."""
    for path, data in _run_config.items():
        path.write_bytes(data)


@contextlib.contextmanager
def keeping_run_config(run_dir: Path | None) -> Iterator[None]:
    """Hydra rewrites <run_dir>/.hydra before a resume is checked: keep the run's own
    files, so evaluate.py rebuilds the run as it was trained, resumed or refused."""
    if run_dir:
        hydra_files = (run_dir / ".hydra").glob("*.yaml")
        _run_config.update({p: p.read_bytes() for p in hydra_files if p.name != "resumes.yaml"})
    try:
        yield
    finally:
        restore_run_config()


def under_torchrun(args: list[str]) -> list[str]:
    """Under torchrun only rank 0 writes ``.hydra/`` and the log file (a rank's
    RANK and WORLD_SIZE come from torchrun's environment)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return args
    if any(a in ("-m", "--multirun") for a in args):
        fail("torchrun runs one job on several processes; sweep without torchrun (-m)")
    quiet = ["hydra.output_subdir=null", "hydra/job_logging=zoo_rank"]
    return args if os.environ.get("RANK", "0") == "0" else [*args, *quiet]


def before_hydra(args: list[str]) -> list[str]:
    """What runs before Hydra starts: listings, the one-line checks of every override,
    the pairings; the arguments Hydra gets."""
    if "augment=list" in args:  # the augment options and what each does
        from engine.augmentation import describe_augments

        sys.exit(print(describe_augments()))
    args = quote_values(args)  # data.root=~/data as typed
    check_overrides(args)
    args = under_torchrun(add_pairings(args))
    check_keys(args)
    check_run_dir(args)
    return args


if __name__ == "__main__":
    sys.argv[1:] = args = before_hydra(sys.argv[1:])
    # Under torchrun the run directory and its .hydra files are rank 0's alone.
    with keeping_run_config(existing_run(args) if os.environ.get("RANK", "0") == "0" else None):
        main()
    report_sweep()
