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
    report_errors,
    report_sweep,
)

log = logging.getLogger("train")


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4f}" for k, v in metrics.items())


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@report_errors
def main(cfg: DictConfig) -> float:
    from engine.run import train  # torch and friends: imported after the argument checks

    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    log.info(
        f"{cfg.model.name} on {cfg.data.name} ({cfg.task.name}), run dir {display_path(run_dir)}"
    )
    metrics = train(cfg, run_dir)
    logdir = hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else run_dir
    m = metrics
    log.info(
        f"test ({m['test_checkpoint']} of {m['epochs']} epochs, {m['steps']} steps, "
        f"{m['train_time_s']:.1f}s): {format_metrics(m['test'])}\n"
        f"run dir: {display_path(run_dir)}\n"
        f"look at it: tensorboard --logdir {display_path(logdir)}"
    )
    return metrics["test"]["loss"]


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


@contextlib.contextmanager
def keeping_run_config(run_dir: Path | None) -> Iterator[None]:
    """Hydra rewrites <run_dir>/.hydra before a resume is checked: put it back on failure,
    so a refused resume (other overrides) leaves evaluate.py the run's own config."""
    saved = {p: p.read_bytes() for p in (run_dir / ".hydra").glob("*.yaml")} if run_dir else {}
    try:
        yield
    except BaseException as e:
        if not (isinstance(e, SystemExit) and e.code in (0, None)):
            for path, data in saved.items():
                path.write_bytes(data)
        raise


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    sys.argv[1:] = args = add_pairings(sys.argv[1:])
    check_keys(args)
    check_run_dir(args)
    with keeping_run_config(existing_run(args)):
        main()
    report_sweep()
