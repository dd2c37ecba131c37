"""Searches and launchers as a user types them: a 4-trial Optuna search run by the
joblib launcher (two trials at a time), and a sweep on submitit's local executor (the
SLURM launcher's code path, without a cluster). The sweep's own process is forked by
``scripts.run`` with the imports done; its jobs' processes (joblib's, submitit's) start
as they would for a user."""

from __future__ import annotations

import re

import yaml
from e2e_support import read_json

QUIET = ["trainer.progress_bar=false", "trainer.max_epochs=1"]


def test_a_four_trial_optuna_search_with_joblib(tmp_path, scripts):
    sweep = tmp_path / "sweep"
    proc = scripts.run(
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


def test_a_sweep_on_submitits_local_executor(tmp_path, scripts):
    """Each job runs in a process of submitit's; the second fails on its config, and
    the sweep's own process reports it (from the job's record) and removes its dir."""
    sweep = tmp_path / "sweep"
    proc = scripts.run(
        "train.py", "-m", "hydra/launcher=submitit_local", "model.dropout=0.1,1.5",
        "logger=none", *QUIET, f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-2:] == [
        "error: job #1 (model.dropout=1.5) failed: model 'mlp': mlp dropout must be in "
        "[0, 1), got 1.5",
        "error: 1 of 2 jobs failed",
    ]
    (run,) = sweep.glob("*model.dropout=0.1")
    assert read_json(run / "metrics.json")["epochs"] == 1
    assert not list(sweep.glob("*model.dropout=1.5")) and not (sweep / ".jobs").exists()


def test_the_slurm_launcher_config_composes(scripts):
    proc = scripts.run("train.py", "hydra/launcher=slurm", "--cfg", "hydra")
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["gpus_per_node"] == 1 and launcher["tasks_per_node"] == 1


def test_a_search_prunes_a_trial_whose_validation_curve_falls_behind(tmp_path, scripts):
    # Trial 5 of this seeded search (momentum, lr 3e-4) reaches 22% val accuracy after
    # one epoch, below the median of the five before it: the median pruner stops it.
    sweep = tmp_path / "sweep"
    proc = scripts.run(
        "train.py", "-m", "hparams_search=digits_optuna", "hydra.sweeper.n_trials=6",
        "hydra.sweeper.pruner_startup_trials=2", "hydra.sweeper.pruner_warmup_epochs=0",
        "logger=none", "trainer.progress_bar=false", "trainer.max_epochs=2",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["trials"]
    states = [t["state"] for t in trials]
    assert "PRUNED" in states and set(states) == {"COMPLETE", "PRUNED"}
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    for trial, run in zip(trials, runs, strict=True):
        finished = (run / "metrics.json").exists()
        assert finished == (trial["state"] == "COMPLETE")  # a pruned run stops early
        assert "trial=" not in run.name  # the study's handle stays out of the names
    assert f"({states.count('PRUNED')} of 6 trials pruned)" in proc.stdout
