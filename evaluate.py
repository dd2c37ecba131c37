"""Evaluate a finished (or interrupted) run from its directory alone.

    python evaluate.py run_dir=outputs/2026-11-23/12-00-00_mlp_digits
    python evaluate.py run_dir=... checkpoint=last split=val

Reads the run's .hydra/config.yaml and checkpoints/<checkpoint>.pt, rebuilds the
data split and the model, prints the metrics and writes <run_dir>/eval/metrics.json.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from engine.cli import check_overrides, display_path, fail, report_errors

log = logging.getLogger("evaluate")


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
@report_errors
def main(cfg: DictConfig) -> None:
    from engine.run import evaluate  # torch and friends: imported after the argument checks

    result = evaluate(cfg.run_dir, cfg.checkpoint, cfg.split, cfg.device)
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in result[cfg.split].items())
    log.info(
        f"{cfg.split} ({cfg.checkpoint} checkpoint, epoch {result['epoch']}): {metrics}\n"
        f"wrote {display_path(Path(cfg.run_dir) / 'eval' / 'metrics.json')}"
    )


def check_run_dir(args: list[str]) -> None:
    """Fail before Hydra starts (and creates <run_dir>/eval) if run_dir is not a run."""
    given = [a.split("=", 1)[1] for a in args if a.startswith("run_dir=")]
    if not given:
        fail("say which run to evaluate: python evaluate.py run_dir=outputs/<date>/<time>_...")
    if not (Path(given[-1]) / ".hydra" / "config.yaml").is_file():
        fail(f"{given[-1]} is not a run directory (no .hydra/config.yaml in it)")


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    if not any(a in ("--help", "-h", "--cfg", "-c", "--info") for a in sys.argv[1:]):
        check_run_dir(sys.argv[1:])
    main()
