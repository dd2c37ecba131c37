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

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from engine.cli import check_overrides, display_path, report_errors
from engine.run import train

log = logging.getLogger("train")


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4f}" for k, v in metrics.items())


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@report_errors
def main(cfg: DictConfig) -> float:
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


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    main()
