"""engine.objective: a sweep's objective is a validation metric, its direction follows
from the metric, and train.py returns it (not the test loss)."""

from __future__ import annotations

import pytest
from conftest import FAST

from engine.errors import ConfigError
from engine.objective import direction, objective_value, parse


def test_direction_follows_the_metric():
    assert direction("val/accuracy") == "maximize"
    assert direction("val/r2") == "maximize"
    assert direction("val/loss") == "minimize"
    assert direction("val/mse") == "minimize"


@pytest.mark.parametrize("objective", ["test/accuracy", "accuracy", "val/"])
def test_anything_but_a_validation_metric_is_refused(objective):
    with pytest.raises(ConfigError, match="val/<metric>") as err:
        parse(objective)
    assert "\n" not in str(err.value)


def test_the_value_comes_from_the_validation_metrics():
    metrics = {"val": {"loss": 0.5, "accuracy": 0.8}, "test": {"loss": 0.1, "accuracy": 0.9}}
    assert objective_value("val/accuracy", metrics) == 0.8
    with pytest.raises(ConfigError, match="val/loss, val/accuracy"):
        objective_value("val/f1", metrics)


def test_train_py_refuses_a_test_objective_before_training(tmp_path, scripts):
    proc = scripts.run("train.py", *FAST, "objective=test/loss", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        line for line in proc.stderr.strip().splitlines() if line.startswith("error: objective")
    ]
    assert not (tmp_path / "r").exists()
