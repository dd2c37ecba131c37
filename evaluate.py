"""Evaluate finished (or interrupted) runs from their directories alone.

    python evaluate.py run_dir=outputs/2026-11-23/12-00-00_mlp_digits
    python evaluate.py run_dir=... checkpoint=last split=val threshold=0.3
    python evaluate.py run_dirs=[runs/s0,runs/s1,runs/s2] ensemble=vote
    python evaluate.py run_dir=... export=onnx

Reads each run's .hydra/config.yaml and checkpoints/<checkpoint>.pt, rebuilds the
data split and the model, prints a report (per-class precision, recall and F1,
top-k accuracy, ROC AUC, average precision; or MSE, MAE, RMSE, R²) and writes
metrics.json, predictions.npz and the figures to <run_dir>/eval/<split> (or out_dir).
A few-shot or zero-shot run (task=protonet|siamese|fewshot_baseline|maml|zeroshot)
reports its own protocol instead: the run's test episodes of the novel classes (mean
accuracy and 95% CI for each K) or its unseen and generalized accuracies.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from engine.cli import (
    check_is_run,
    check_keys,
    check_overrides,
    display_path,
    expand_home,
    fail,
    is_run,
    quote_values,
    report_errors,
    report_sweep,
)

log = logging.getLogger("evaluate")


def eval_dir(run_dir: str | None, out_dir: str | None, split: str = "test") -> str:
    """Where results go: out_dir, else <run_dir>/eval/<split> (a val evaluation beside
    the test one, not over it), else a new ensembles/ folder."""
    if out_dir:
        return out_dir
    if run_dir:
        return f"{run_dir}/eval/{split}"
    return time.strftime("ensembles/%Y-%m-%d/%H-%M-%S")


OmegaConf.register_new_resolver("eval_dir", eval_dir, replace=True)


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
@report_errors
def main(cfg: DictConfig) -> None:
    # torch and friends: imported after the argument checks
    from engine.report.evaluation import evaluate_runs
    from engine.report.metrics import format_report

    dirs = [cfg.run_dir] if cfg.run_dir else expand_runs(cfg.run_dirs)
    top_k = [cfg.top_k] if isinstance(cfg.top_k, int) else list(cfg.top_k)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    result = evaluate_runs(
        dirs,
        out_dir,
        checkpoint=cfg.checkpoint,
        split=cfg.split,
        device_name=cfg.device,
        top_k=tuple(top_k),
        threshold=cfg.threshold,
        ensemble=cfg.ensemble,
        export=cfg.export,
        pictures=cfg.pictures,
    )
    if cfg.run_dir and cfg.pictures:  # each epoch's train and val metrics, one chart each
        from engine.history import draw_learning_curves

        draw_learning_curves(Path(cfg.run_dir), out_dir / "learning_curves.png")
    report = result["report"]
    if result.get("generative") or result.get("held_out"):  # the task's metrics, below
        lines = []
    elif "nn_accuracy" in report:  # embeddings: retrieval of the split against train
        lines = ["  ".join(f"{k}={v:.4f}" for k, v in report.items() if k != "loss")]
    else:
        lines = [format_report(report, "regression" if "mse" in report else "classification")]
    if "members" in result:
        main_key = result["main_metric"]
        for member, member_report in result["members"].items():
            lines.append(f"member {display_path(member)}: {main_key}={member_report[main_key]:.4f}")
        lines.append(f"members' mean: {main_key}={result['members_mean'][main_key]:.4f}")
        rule = result["ensemble_rule"]
        lines.append(f"ensemble of {len(dirs)} ({rule}): {main_key}={report[main_key]:.4f}")
    else:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in result[cfg.split].items())
        lines.append(
            f"{cfg.split} ({result['checkpoint']} checkpoint, epoch {result['epoch']}): {metrics}"
        )
    if "onnx" in result:
        onnx = result["onnx"]
        lines.append(
            f"exported {display_path(onnx['path'])}: onnxruntime matches PyTorch within "
            f"{onnx['max_abs_diff']:.1e}\n"
            f"its inputs: {onnx['preprocessing']}"
        )
    figures = sorted(out_dir.glob("*.png"))
    if figures:
        lines.append(f"figures: {' '.join(display_path(f) for f in figures)}")
    lines.append(f"wrote {display_path(out_dir / 'metrics.json')}")
    log.info("\n".join(lines))


def expand_runs(value: Any) -> list[str]:
    """``run_dirs``: a list of run directories, or one folder holding runs (a sweep's
    multirun/<date>/<time>: every run in it, in name order)."""
    dirs = [value] if isinstance(value, str) else [str(d) for d in value]
    if len(dirs) == 1 and not is_run(dirs[0]) and Path(dirs[0]).is_dir():
        inside = sorted(str(p) for p in Path(dirs[0]).iterdir() if is_run(p))
        return inside or dirs
    return dirs


def check_run_dirs(args: list[str]) -> None:
    """Fail before Hydra starts (and creates <run_dir>/eval/<split>) if a run_dir is not a run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    single = [a.split("=", 1)[1] for a in args if a.startswith("run_dir=")]
    several = [a for a in args if a.startswith("run_dirs=")]
    if single and several:
        fail("give run_dir=<dir> (one run) or run_dirs=[<dir>,...] (an ensemble), not both")
    if not single and not several:
        fail("say which run to evaluate: python evaluate.py run_dir=outputs/<date>/<time>_...")
    if single:
        dirs = single[-1:]
    else:
        try:  # Hydra's own grammar: quoted names may hold '=' and ','
            dirs = expand_runs(OverridesParser.create().parse_overrides(several[-1:])[0].value())
        except Exception as e:
            fail(
                f"cannot read {several[-1]!r} ({type(e).__name__}); write run_dirs=[dir1,dir2], "
                "quoting names that hold '=' or ',' (run_dirs=['a=1,b','c']), or give the "
                "folder of a sweep: run_dirs=multirun/<date>/<time>"
            )
    for d in dirs:
        check_is_run(d)


if __name__ == "__main__":
    # run_dir=~/runs/x and data.root=~/data as typed
    sys.argv[1:] = quote_values(expand_home(sys.argv[1:], ("run_dir", "run_dirs", "out_dir")))
    check_overrides(sys.argv[1:])
    check_keys(sys.argv[1:], "evaluate")
    if not any(a in ("--help", "-h", "--cfg", "-c", "--info") for a in sys.argv[1:]):
        check_run_dirs(sys.argv[1:])
    main()
    report_sweep()
