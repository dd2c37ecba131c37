"""``python train.py ...`` as a user types it: exit code, what it prints, what it leaves.

Each run is a real subprocess (Hydra, logging, TensorBoard, checkpoints included),
shrunk to a few epochs, writing under pytest's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import FAST
from e2e_support import last_lines, load_state, read_json, shared_run

FLOAT = r"-?\d+\.\d{4}"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, scripts):
    return shared_run(tmp_path_factory, "default", scripts)


def printed_metrics(line: str) -> dict[str, str]:
    """``... loss=0.1739  accuracy=0.9630`` -> {"loss": "0.1739", "accuracy": "0.9630"}."""
    return dict(re.findall(rf"(\w+)=({FLOAT})", line))


def test_default_run_ends_with_test_metrics_run_dir_and_tensorboard(default_run):
    assert default_run.stderr.strip() == ""
    test_line, baseline_line, dir_line, tb_line = last_lines(default_run.stdout, 4)
    metrics = default_run.metrics()
    # The trivial predictor's score on the same test split, beside the model's.
    assert baseline_line.startswith("baseline (always the majority class ")
    assert printed_metrics(baseline_line) == {
        "accuracy": f"{metrics['baseline']['test']['accuracy']:.4f}"
    }

    assert re.fullmatch(r"test \(best of 3 epochs, \d+ steps, \d+\.\ds\): .*", test_line)
    shown = printed_metrics(test_line)
    assert shown.keys() == metrics["test"].keys() == {"loss", "accuracy"}
    for name, value in metrics["test"].items():
        assert shown[name] == f"{value:.4f}"

    assert dir_line.startswith("run dir: ")
    assert Path(dir_line.removeprefix("run dir: ")).resolve() == default_run.dir.resolve()
    assert tb_line.startswith("look at it: tensorboard --logdir ")
    logdir = tb_line.removeprefix("look at it: tensorboard --logdir ")
    assert Path(logdir).resolve() == default_run.dir.resolve()


def test_default_run_dir_holds_config_metrics_checkpoints_events_and_log(default_run):
    run = default_run.dir
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert (cfg["model"]["name"], cfg["data"]["name"]) == ("mlp", "digits")
    assert (cfg["trainer"]["max_epochs"], cfg["logger"]["name"]) == (3, "tensorboard")

    metrics = read_json(run / "metrics.json")
    assert metrics["epochs"] == 3 and metrics["steps"] > 0
    assert metrics["test_checkpoint"] == "best"
    assert 0.8 < metrics["test"]["accuracy"] <= 1.0  # 3 epochs of an MLP on digits: ~0.96
    assert set(metrics["val"]) == {"loss", "accuracy"}

    last = load_state(run / "checkpoints" / "last.pt")
    best = load_state(run / "checkpoints" / "best.pt")
    assert last["counters"]["epoch"] == 3
    assert best["epoch"] == metrics["best_epoch"]
    assert best["model"].keys() == last["model"].keys()

    # the run's own events, and the per-epoch curves in its sub-runs train/ and val/
    for folder, tags in (
        (run, (b"train/loss_step", b"test/accuracy")),
        (run / "train", (b"Learning curves/loss", b"Learning curves/accuracy")),
        (run / "val", (b"Learning curves/loss", b"Learning curves/accuracy")),
    ):
        (events,) = folder.glob("events.out.tfevents.*")
        data = events.read_bytes()
        for tag in tags:
            assert tag in data, f"{tag!r} was not logged to {folder.name}/{events.name}"

    log = (run / "train.log").read_text()
    assert "mlp on digits" in log and "test (best of 3 epochs" in log


@pytest.mark.parametrize(
    ("data", "weight_shape"),
    [("breast_cancer", (1, 30)), ("iris", (3, 4))],
    ids=["binary-one-neuron", "multiclass-one-neuron-per-class"],
)
def test_perceptron_is_a_single_layer_of_neurons(data, weight_shape, tmp_path, scripts):
    run = tmp_path / "run"
    proc = scripts.run(
        "train.py", "model=perceptron", f"data={data}", *FAST, f"hydra.run.dir={run}"
    )
    assert proc.returncode == 0, proc.stderr
    assert f"perceptron on {data} (classification)" in proc.stdout

    metrics = read_json(run / "metrics.json")
    assert set(metrics["test"]) == {"loss", "accuracy"}
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0

    model = load_state(run / "checkpoints" / "best.pt")["model"]
    shapes = {k: tuple(v.shape) for k, v in model.items()}
    weights = [s for k, s in shapes.items() if k.endswith("weight")]
    biases = [s for k, s in shapes.items() if k.endswith("bias")]
    assert len(shapes) == 2, f"one weight matrix and one bias, got {shapes}"
    assert weights == [weight_shape]
    assert biases == [(weight_shape[0],)]


def test_regression_on_diabetes_reports_mse_mae_r2(tmp_path_factory, scripts):
    run = shared_run(tmp_path_factory, "regression", scripts)
    test = run.metrics()["test"]
    assert {"mse", "mae", "r2"} <= set(test)
    assert "accuracy" not in test
    assert test["mse"] > 0 and test["mae"] > 0 and test["r2"] <= 1

    tail = last_lines(run.stdout, 5)  # test, its units, baseline, run dir, tensorboard
    test_line = tail[0]
    assert test_line.startswith("test (")
    assert (
        tail[1].strip() == "(loss on standardized targets; mse and mae in the targets' own units)"
    )
    assert tail[2].startswith("baseline (always the training targets' mean): ")
    shown = printed_metrics(test_line)
    for name in ("mse", "mae", "r2"):
        assert shown[name] == f"{test[name]:.4f}"
    assert "mlp on diabetes (regression)" in run.stdout


def test_sweep_makes_one_run_dir_per_combination(tmp_path, scripts):
    sweep = tmp_path / "sweep"
    proc = scripts.run(
        "train.py", "-m", "optim=sgd,adam", "seed=0,1", *FAST, f"hydra.sweep.dir={sweep}"
    )
    assert proc.returncode == 0, proc.stderr

    runs = sorted(p.parent.parent for p in sweep.glob("*/.hydra/config.yaml"))
    assert len(runs) == 4, runs
    combos, events, test_losses = set(), set(), set()
    for run in runs:
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert cfg["logger"]["name"] == "tensorboard"
        combos.add((cfg["optim"]["name"], cfg["seed"]))
        metrics = read_json(run / "metrics.json")
        assert metrics["epochs"] == 3
        test_losses.add(metrics["test"]["loss"])
        (event_file,) = run.glob("events.out.tfevents.*")  # each run its own
        events.add(event_file)
        assert (run / "checkpoints" / "last.pt").is_file()
    assert combos == {("sgd", 0), ("sgd", 1), ("adam", 0), ("adam", 1)}
    assert len(test_losses) == 4, "four different configs gave identical results"
    assert len(events) == 4

    tb_lines = [line for line in proc.stdout.splitlines() if "tensorboard --logdir" in line]
    assert tb_lines, proc.stdout
    for line in tb_lines:  # the whole sweep, so the runs are compared side by side
        assert Path(line.split("tensorboard --logdir ", 1)[1]).resolve() == sweep.resolve()


@pytest.mark.parametrize(
    ("args", "added"),
    [
        (["loss=huber"], "task=regression data=diabetes"),
        (["task=regression"], "loss=mse data=diabetes"),
        (["loss=mae", "data=diabetes"], "task=regression"),
    ],
)
def test_a_loss_or_task_named_alone_brings_data_it_fits(args, added, tmp_path, scripts):
    run_dir = tmp_path / "run"
    proc = scripts.run("train.py", *args, *FAST, "logger=none", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    assert f"(added {added}:" in proc.stdout
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert config["task"]["name"] == "regression" and config["data"]["name"] == "diabetes"
    assert {"mse", "mae", "r2"} <= read_json(run_dir / "metrics.json")["test"].keys()


def test_a_named_group_is_never_replaced_by_a_pairing(tmp_path, scripts):
    # loss=huber pairs with diabetes, but the user chose digits: keep it, and say why
    # it cannot work, in one line.
    proc = scripts.run(
        "train.py", "loss=huber", "data=digits", *FAST, f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert proc.returncode != 0
    assert "(added task=regression:" in proc.stdout
    (line,) = [s for s in proc.stderr.splitlines() if s.strip()]
    assert line.startswith("error: task 'regression' needs regression targets")
