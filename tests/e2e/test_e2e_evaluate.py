"""``python evaluate.py run_dir=...`` rebuilds a run from its directory alone and
measures exactly what training measured."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import ROOT
from e2e_support import copy_run, last_lines, read_json, shared_run


def test_evaluate_reproduces_the_training_test_metrics(tmp_path_factory, tmp_path, scripts):
    """On a regression run: its targets were standardized with the training split's
    mean and std, which evaluate.py must take from the checkpoint."""
    trained = shared_run(tmp_path_factory, "regression", scripts)
    run = copy_run(trained, tmp_path / "run")  # evaluate writes into the run
    rel = os.path.relpath(run, ROOT)  # as typed from the repo root

    proc = scripts.run("evaluate.py", f"run_dir={rel}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""

    expected = trained.metrics()
    result = read_json(run / "eval" / "test" / "metrics.json")
    assert (result["split"], result["checkpoint"]) == ("test", "best")
    assert result["epoch"] == expected["best_epoch"]
    assert result["test"] == expected["test"]  # bit for bit, not approximately

    metrics_line, figures_line, wrote_line = last_lines(proc.stdout, 3)
    assert figures_line.startswith("figures: ")
    figures = figures_line.removeprefix("figures: ").split()
    assert figures and all((ROOT / f).resolve().parent == run / "eval" / "test" for f in figures)
    assert all((ROOT / f).exists() for f in figures)
    assert metrics_line.startswith(f"test (best checkpoint, epoch {expected['best_epoch']}): ")
    for key, value in expected["test"].items():
        assert f"{key}={value:.4f}" in metrics_line
    assert wrote_line.startswith("wrote ")
    written = Path(wrote_line.removeprefix("wrote "))
    assert (ROOT / written).resolve() == (run / "eval" / "test" / "metrics.json").resolve()


def test_evaluate_needs_only_the_run_directory_from_anywhere(tmp_path_factory, tmp_path, scripts):
    trained = shared_run(tmp_path_factory, "default", scripts)
    run = copy_run(trained, tmp_path / "elsewhere" / "moved-run")
    # Only what evaluate.py says it reads: the config and the checkpoints.
    for path in run.iterdir():
        if path.name not in (".hydra", "checkpoints"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    proc = scripts.run("evaluate.py", f"run_dir={run}", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert read_json(run / "eval" / "test" / "metrics.json")["test"] == trained.metrics()["test"]
    assert f"wrote {run / 'eval' / 'test' / 'metrics.json'}" in proc.stdout
    assert list(cwd.iterdir()) == [], "evaluate.py wrote into the working directory"


def test_evaluate_writes_the_report_files_and_exports_onnx(tmp_path_factory, tmp_path, scripts):
    run = copy_run(shared_run(tmp_path_factory, "default", scripts), tmp_path / "run")
    proc = scripts.run("evaluate.py", f"run_dir={run}", "export=onnx")
    assert proc.returncode == 0, proc.stderr
    assert "precision" in proc.stdout and "macro avg" in proc.stdout  # the report table
    assert "onnxruntime matches PyTorch within" in proc.stdout
    result = read_json(run / "eval" / "test" / "metrics.json")
    assert result["onnx"]["max_abs_diff"] <= 1e-4
    assert (run / "model.onnx").is_file()
    for name in ("predictions.npz", "confusion_matrix.png", "roc.png", "precision_recall.png"):
        assert (run / "eval" / "test" / name).is_file(), name
    figures = next(line for line in proc.stdout.splitlines() if line.startswith("figures: "))
    assert str(run / "eval" / "test" / "roc.png") in figures.split()


def test_a_val_evaluation_goes_beside_the_test_one(tmp_path_factory, tmp_path, scripts):
    run = copy_run(shared_run(tmp_path_factory, "default", scripts), tmp_path / "run")
    (run / "eval" / "test").mkdir(parents=True)
    (run / "eval" / "test" / "metrics.json").write_text("{}")  # an earlier test evaluation
    proc = scripts.run("evaluate.py", f"run_dir={run}", "split=val", "pictures=false")
    assert proc.returncode == 0, proc.stderr
    assert read_json(run / "eval" / "val" / "metrics.json")["split"] == "val"
    assert (run / "eval" / "test" / "metrics.json").read_text() == "{}"
    assert f"wrote {run / 'eval' / 'val' / 'metrics.json'}" in proc.stdout


def test_evaluate_an_ensemble_from_the_command_line(tmp_path_factory, tmp_path, scripts):
    trained = shared_run(tmp_path_factory, "default", scripts)
    runs = [copy_run(trained, tmp_path / f"member{i}") for i in range(2)]
    out = tmp_path / "ensemble"
    proc = scripts.run(
        "evaluate.py", f"run_dirs=[{runs[0]},{runs[1]}]", f"out_dir={out}", "ensemble=vote"
    )
    assert proc.returncode == 0, proc.stderr
    assert "members' mean: accuracy=" in proc.stdout
    assert "ensemble of 2 (vote): accuracy=" in proc.stdout
    result = read_json(out / "metrics.json")
    assert len(result["members"]) == 2 and result["ensemble_rule"] == "vote"


def test_an_ensemble_of_every_run_in_a_sweep_folder(tmp_path_factory, tmp_path, scripts):
    trained = shared_run(tmp_path_factory, "default", scripts)
    sweep = tmp_path / "multirun"  # what -m writes: one sub-folder per run, names with = and ,
    for i in range(2):
        copy_run(trained, sweep / f"{i}_data_seed=0,seed={i}")
    proc = scripts.run("evaluate.py", f"run_dirs={sweep}", f"out_dir={tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    assert "ensemble of 2 (mean): accuracy=" in proc.stdout
