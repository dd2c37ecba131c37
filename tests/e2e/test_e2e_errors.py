"""Bad input: a non-zero exit, ONE ``error:`` line on stderr that says what is wrong
and what would work (no traceback), and nothing already on disk lost."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import FAST, run_script
from e2e_support import copy_run, error_line, load_state, shared_run, snapshot

# (overrides, words the one line must hold: what is wrong, and what would work)
BAD_TRAIN_INPUT = {
    "unknown-model": (["model=nonexistent"], ["model", "nonexistent", "mlp", "perceptron"]),
    "unknown-optim": (["optim=nonexistent"], ["optim", "nonexistent", "adam", "sgd"]),
    "negative-lr": (["optim.lr=-1"], ["optim.lr", "-1", "> 0"]),
    "zero-lr": (["optim.lr=0"], ["optim.lr", "got 0", "> 0"]),
    "zero-batch-size": (["trainer.batch_size=0"], ["trainer.batch_size", "got 0", ">= 1"]),
    "unimportable-data": (
        ["+data._target_=no_such_module.load"],
        ["data._target_", "no_such_module.load", "(X, y)"],
    ),
    "regression-data-classification-task": (
        ["data=diabetes", "task=classification"],
        ["diabetes", "regression", "task=regression"],
    ),
    "regression-loss-on-classification-data": (
        # named together (loss=mse alone brings regression data with it)
        ["loss=mse", "task=classification", "data=digits"],
        ["mse", "regression", "classification", "cross_entropy"],
    ),
    "gnn-on-image-data": (
        ["model=gcn", "data=digits"],
        ["gcn", "graph", "not image", "karate", "motifs", "sbm"],
    ),
    "cnn-on-a-graph": (["model=cnn", "data=sbm"], ["cnn", "not graph", "digits"]),
    "per-sample-model-on-per-step-targets": (
        ["model=mlp", "data=copy"],
        ["mlp", "every time step", "lstm", "transformer"],
    ),
    "truncated-bptt-on-a-transformer": (
        ["model=transformer", "trainer.tbptt_window=4"],
        ["tbptt_window", "transformer", "model=rnn, lstm or gru"],
    ),
    "padded-sequences-for-a-model-without-lengths": (
        ["data=adding", "+data.params.min_length=50", "data.params.n_samples=200"],
        ["padded sequences", "mlp", "lstm", "transformer"],
    ),
    "offline-mnist": (
        ["data=mnist", "data.params.download=false", "data.root=/nonexistent_zoo_data"],
        ["mnist", "/nonexistent_zoo_data", "download", "data=digits"],
    ),
    "unknown-trainer-option-added-with-plus": (
        ["+trainer.nonexistent_key=1"],
        ["trainer", "nonexistent_key", "max_epochs", "batch_size"],
    ),
}


@pytest.mark.parametrize(
    ("overrides", "words"), BAD_TRAIN_INPUT.values(), ids=BAD_TRAIN_INPUT.keys()
)
def test_bad_train_input_fails_with_one_line(overrides, words, tmp_path):
    run = tmp_path / "run"
    proc = run_script("train.py", *FAST, *overrides, f"hydra.run.dir={run}")
    line = error_line(proc)
    for word in words:
        assert word in line, f"{word!r} missing from: {line}"
    assert not (run / "checkpoints").exists(), "it trained anyway"
    assert not (run / "metrics.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_use_auto_or_cpu(tmp_path):
    proc = run_script("train.py", *FAST, "device=cuda", f"hydra.run.dir={tmp_path / 'run'}")
    line = error_line(proc)
    assert "cuda" in line and "device=auto" in line and "cpu" in line


def test_unknown_key_is_named_by_hydra(tmp_path):
    """Hydra's own message (several lines) is accepted here; it names the key and the
    ``+key=value`` form, and prints no traceback."""
    run = tmp_path / "run"
    proc = run_script("train.py", *FAST, "trainer.nonexistent_key=1", f"hydra.run.dir={run}")
    assert proc.returncode > 0
    assert "trainer.nonexistent_key" in proc.stderr
    assert "+trainer.nonexistent_key=1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not run.exists()


def test_evaluate_without_run_dir_says_how_to_name_one():
    line = error_line(run_script("evaluate.py"))
    assert "run_dir=" in line


def test_evaluate_on_a_directory_that_is_no_run(tmp_path):
    line = error_line(run_script("evaluate.py", f"run_dir={tmp_path}"))
    assert str(tmp_path) in line and "not a run directory" in line
    assert list(tmp_path.iterdir()) == [], "evaluate.py wrote into a directory that is no run"


def test_evaluate_on_a_truncated_checkpoint_names_the_file(tmp_path_factory, tmp_path):
    run = copy_run(shared_run(tmp_path_factory, "default"), tmp_path / "run")
    best = run / "checkpoints" / "best.pt"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])

    line = error_line(run_script("evaluate.py", f"run_dir={run}"))
    assert str(best) in line and "corrupt" in line
    assert not (run / "eval" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["seed=1"], ["already holds a run", "resume=true", "hydra.run.dir"]),
        # resume=true with other overrides than the run's: refused, and the run's
        # .hydra/config.yaml (what evaluate.py rebuilds from) is left as it was.
        (["seed=1", "resume=true"], ["resume=true", "seed=0->1"]),
    ],
    ids=["without-resume", "resume-with-other-config"],
)
def test_train_refuses_to_touch_an_existing_run(overrides, words, tmp_path_factory, tmp_path):
    run = copy_run(shared_run(tmp_path_factory, "default"), tmp_path / "run")
    before = snapshot(run)

    line = error_line(run_script("train.py", *FAST, *overrides, f"hydra.run.dir={run}"))
    for word in words:
        assert word in line, f"{word!r} missing from: {line}"
    after = snapshot(run)
    after.pop("train.log", None)  # the log file may tell the story of the refusal
    before.pop("train.log", None)
    assert after == before, "the existing run was changed"


def test_nan_loss_fails_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    """SGD whose learning rate jumps x1e12 every two epochs: 0.05 trains, 5e10 diverges."""
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.pt"
    proc = run_script(
        "train.py",
        *FAST,
        "trainer.max_epochs=5",
        "trainer.checkpoint_interval_s=0",
        "optim=sgd",
        "sched=step",
        "sched.step_size=2",
        "sched.gamma=1e12",
        f"hydra.run.dir={run}",
    )
    line = error_line(proc)
    assert "nan" in line or "inf" in line
    assert "optim.lr" in line and "5e+10" in line, "the message should name the rate"
    assert str(last) in line, "the message should point at the last good checkpoint"
    assert not (run / "metrics.json").exists()

    diverged_in = int(re.search(r"at epoch (\d+)", line).group(1))
    assert diverged_in >= 3  # the rate is 0.05 in epochs 1 and 2

    state = load_state(last)  # every epoch before the divergence, intact
    assert state["counters"]["epoch"] == diverged_in - 1
    for name, tensor in state["model"].items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), f"{name} in last.pt is not finite"
    assert math.isfinite(state["counters"]["best_val_loss"])
