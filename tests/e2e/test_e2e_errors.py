"""Bad input: a non-zero exit, ONE ``error:`` line on stderr that says what is wrong
and what would work (no traceback), no near-empty run directory left behind, and
nothing already on disk lost. In a ``-m`` sweep a failing job stops no other.

The scripts run as ``scripts.run`` (tests/conftest.py) runs them: each in a process
of its own, forked from one that has imported torch and Hydra already."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import FAST
from e2e_support import copy_run, error_line, load_state, read_json, shared_run, snapshot

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
        ["tbptt_window", "transformer", "model=gru or lstm or rnn"],
    ),
    "padded-sequences-for-a-model-without-lengths": (
        ["data=adding", "+data.params.min_length=50", "data.params.n_samples=200"],
        ["padded sequences", "mlp", "lstm", "transformer"],
    ),
    "offline-mnist": (
        ["data=mnist", "data.params.download=false", "data.root=/nonexistent_zoo_data"],
        ["mnist", "/nonexistent_zoo_data", "download", "data=digits"],
    ),
    "unknown-ucr-dataset": (
        ["data=ucr", "data.params.name=Coffee"],
        ["data=ucr", "Coffee", "ACSF1", "GunPoint", "JapaneseVowels", "data.params.name="],
    ),
    "official-split-on-data-without-one": (
        ["data.split=official"],
        ["data.split=official", "data=digits", "mnist", "ucr", "data.split=random"],
    ),
    "trainer-option-of-the-wrong-type": (
        ["trainer.patience=abc"],
        ["trainer.patience must be an integer or null", "'abc'"],
    ),
    "unknown-trainer-option-added-with-plus": (
        ["+trainer.nonexistent_key=1"],
        ["trainer", "nonexistent_key", "max_epochs", "batch_size"],
    ),
}


@pytest.mark.parametrize(
    ("overrides", "words"), BAD_TRAIN_INPUT.values(), ids=BAD_TRAIN_INPUT.keys()
)
def test_bad_train_input_fails_with_one_line(overrides, words, tmp_path, scripts):
    run = tmp_path / "outputs" / "day" / "run"  # folders this call creates, all of them
    proc = scripts.run("train.py", *FAST, *overrides, f"hydra.run.dir={run}")
    line = error_line(proc)
    for word in words:
        assert word in line, f"{word!r} missing from: {line}"
    assert proc.returncode == 2
    assert list(tmp_path.iterdir()) == [], "the failed run left its directory behind"


def test_a_failed_run_keeps_a_directory_that_was_there(tmp_path, scripts):
    """The run directory is removed only when the run created it (here it is empty,
    and the run adds nothing but .hydra/ and its log: what a created one would hold)."""
    run = tmp_path / "mine"
    run.mkdir()
    line = error_line(
        scripts.run("train.py", *FAST, "trainer.batch_size=0", f"hydra.run.dir={run}")
    )
    assert "trainer.batch_size" in line
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "train.log"]


# (script and arguments, the one line on stderr after "error: "; for an unknown
# option, up to the list of the options that exist)
UNKNOWN_NAMES = {
    "key-in-its-group": (
        ["train.py", "trainer.epochs=5"],
        "unknown key 'trainer.epochs'; did you mean trainer.max_epochs?",
    ),
    "key-of-another-group": (
        ["train.py", "data.batch_size=0"],
        "unknown key 'data.batch_size'; did you mean trainer.batch_size?",
    ),
    "abbreviated-key": (
        ["train.py", "optim.learning_rate=1e-3"],
        "unknown key 'optim.learning_rate'; did you mean optim.lr?",
    ),
    "key-in-a-sweep": (
        ["train.py", "-m", "seed=0,1", "trainer.epochs=1,2"],
        "unknown key 'trainer.epochs'; did you mean trainer.max_epochs?",
    ),
    "key-of-the-chosen-model": (
        ["train.py", "model=lstm", "model.num_layer=2"],
        "unknown key 'model.num_layer'; did you mean model.num_layers?",
    ),
    "key-of-evaluate": (
        ["evaluate.py", "run_dir=x", "splitt=val"],
        "unknown key 'splitt'; did you mean split?",
    ),
    "key-of-sample": (
        ["sample.py", "run_dir=x", "seeds=3"],
        "unknown key 'seeds'; did you mean seed?",
    ),
    "model-in-capitals": (
        ["train.py", "model=LSTM"],
        "unknown model 'LSTM'; did you mean lstm? available: ",
    ),
    "optim-in-capitals": (
        ["train.py", "optim=Adam"],
        "unknown optim 'Adam'; did you mean adam? available: ",
    ),
}


@pytest.mark.parametrize(("args", "message"), UNKNOWN_NAMES.values(), ids=UNKNOWN_NAMES.keys())
def test_unknown_key_or_option_names_the_closest_in_one_line(args, message, tmp_path, scripts):
    """Caught before Hydra starts: exit status 2, no run or sweep directory made."""
    where = [f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = scripts.run(*args, *where)
    line = error_line(proc)
    assert proc.returncode == 2
    if message.endswith("available: "):
        assert line.startswith(f"error: {message}"), line
    else:
        assert line == f"error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_known_keys_added_keys_and_extra_config_dirs_pass_the_key_check(tmp_path, scripts):
    """``+key=value`` adds a key, an experiment brings its own, and a ``--config-dir``
    option brings its keys: none is refused (``--cfg job`` composes without running)."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.yaml").write_text("name: tiny\nwidth: 3\n")
    proc = scripts.run(
        "train.py",
        "--config-dir",
        str(tmp_path),
        "model=tiny",
        "model.width=4",
        "+data.params.note=1",
        "trainer.max_epochs=2",
        "--cfg",
        "job",
    )
    assert proc.returncode == 0, proc.stderr
    assert "width: 4" in proc.stdout and "note: 1" in proc.stdout
    proc = scripts.run("train.py", "experiment=adding_gru", "data.params.length=8", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_use_auto_or_cpu(tmp_path, scripts):
    proc = scripts.run("train.py", *FAST, "device=cuda", f"hydra.run.dir={tmp_path / 'run'}")
    line = error_line(proc)
    assert "cuda" in line and "device=auto" in line and "cpu" in line


def test_evaluate_without_run_dir_says_how_to_name_one(scripts):
    line = error_line(scripts.run("evaluate.py"))
    assert "run_dir=" in line


def test_evaluate_on_a_directory_that_is_no_run(tmp_path, scripts):
    line = error_line(scripts.run("evaluate.py", f"run_dir={tmp_path}"))
    assert str(tmp_path) in line and "not a run directory" in line
    assert list(tmp_path.iterdir()) == [], "evaluate.py wrote into a directory that is no run"


def test_evaluate_on_a_truncated_checkpoint_names_the_file(tmp_path_factory, tmp_path, scripts):
    run = copy_run(shared_run(tmp_path_factory, "default", scripts), tmp_path / "run")
    best = run / "checkpoints" / "best.pt"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])

    line = error_line(scripts.run("evaluate.py", f"run_dir={run}"))
    assert str(best) in line and "corrupt" in line
    assert not (run / "eval").exists(), "the failed evaluation left eval/ (its log) behind"


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
def test_train_refuses_to_touch_an_existing_run(
    overrides, words, tmp_path_factory, tmp_path, scripts
):
    run = copy_run(shared_run(tmp_path_factory, "default", scripts), tmp_path / "run")
    before = snapshot(run)

    line = error_line(scripts.run("train.py", *FAST, *overrides, f"hydra.run.dir={run}"))
    for word in words:
        assert word in line, f"{word!r} missing from: {line}"
    after = snapshot(run)
    after.pop("train.log", None)  # the log file may tell the story of the refusal
    before.pop("train.log", None)
    assert after == before, "the existing run was changed"


def test_nan_loss_fails_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, scripts):
    """SGD whose learning rate jumps x1e12 every two epochs: 0.05 trains, 5e10 diverges."""
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.pt"
    proc = scripts.run(
        "train.py",
        *FAST,
        "trainer.max_epochs=5",
        "trainer.checkpoint_interval_s=0",
        "logger=none",  # what is checked is the error line and last.pt
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


SWEEP_LOADER = """
from sklearn import datasets


def load(name):
    if name == "bug":
        raise RuntimeError("a bug in the loader")
    if name == "nothing":
        return None  # not (X, y): a config error
    return getattr(datasets, f"load_{name}")(return_X_y=True)
"""


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["in-process", "joblib"])  # fmt: skip
def test_failing_jobs_do_not_stop_a_sweep(tmp_path, scripts, launcher):
    """Four jobs from the default multirun/<date>/<time> layout: the middle two fail,
    one with a config error (its directory goes), one with a bug (its log keeps the
    traceback); the other two finish, and the sweep ends with a line for each failure,
    the total, and exit status 1. Alike when the jobs run in joblib's worker processes:
    each job leaves a record of how it ended for the sweep's process to read."""
    (tmp_path / "user_loader.py").write_text(SWEEP_LOADER)
    proc = scripts.run(
        "train.py",
        "-m",
        *launcher,
        "trainer.max_epochs=1",
        "trainer.progress_bar=false",
        "logger=none",
        "+data._target_=user_loader.load",
        "+data.params.name=digits,nothing,bug,wine",
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0] == (
        "error: job #1 (+data.params.name=nothing) failed: data._target_ "
        "'user_loader.load' returned NoneType; it must return (X, y)"
    )
    assert lines[1].startswith(
        "error: job #2 (+data.params.name=bug) failed: RuntimeError: a bug in the loader "
        "(traceback in multirun/"
    )
    assert lines[2:] == ["error: 2 of 4 jobs failed"]

    [sweep] = tmp_path.glob("multirun/*/*")
    jobs = {p.name.split("_")[0]: p for p in sweep.iterdir() if p.is_dir()}
    assert sorted(jobs) == ["0", "2", "3"], "the job that failed on its config left its dir"
    assert not (sweep / ".jobs").exists()  # the records, read
    for num in "03":
        assert read_json(jobs[num] / "metrics.json")["epochs"] == 1
    log = lines[1].split("(traceback in ")[1].rstrip(")")
    assert (tmp_path / log).parent == jobs["2"]
    assert "RuntimeError: a bug in the loader" in (tmp_path / log).read_text()
