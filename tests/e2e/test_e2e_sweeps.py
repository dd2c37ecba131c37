"""Searches and launchers as a user types them: a 4-trial Optuna search run by the
joblib launcher (two trials at a time), and a sweep on submitit's local executor (the
SLURM launcher's code path, without a cluster)."""

from __future__ import annotations

import re

import yaml
from conftest import run_script
from e2e_support import read_json

QUIET = ["trainer.progress_bar=false", "trainer.max_epochs=1"]


def test_a_four_trial_optuna_search_with_joblib(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_script(
        "train.py", "-m", "hparams_search=digits_optuna", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        *QUIET, f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["direction"] == "maximize"  # objective=val/accuracy
    trials = results["trials"]
    assert [t["state"] for t in trials] == ["COMPLETE"] * 4
    assert set(results["best_params"]) == {
        "optim",
        "optim.lr",
        "model.hidden_size",
        "model.dropout",
    }
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 4
    for trial, run in zip(trials, runs, strict=True):
        assert len(list(run.glob("events.out.tfevents.*"))) == 1  # a TensorBoard run each
        # What each trial told the study is its validation accuracy, not a test number.
        assert trial["value"] == read_json(run / "metrics.json")["val"]["accuracy"]
    best = max(trials, key=lambda t: t["value"])
    assert results["best_value"] == best["value"]
    assert re.search(rf"best trial #{best['number']}: {best['value']:.4f} with optim=", proc.stdout)


def test_a_sweep_on_submitits_local_executor(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_script(
        "train.py", "-m", "hydra/launcher=submitit_local", "seed=0,1", "logger=none",
        *QUIET, f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in (0, 1):
        (run,) = sweep.glob(f"*seed={seed}*")
        assert read_json(run / "metrics.json")["epochs"] == 1


def test_the_slurm_launcher_config_composes():
    proc = run_script("train.py", "hydra/launcher=slurm", "--cfg", "hydra")
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["gpus_per_node"] == 1 and launcher["tasks_per_node"] == 1
