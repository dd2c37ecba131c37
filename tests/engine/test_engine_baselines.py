"""Task.baseline: the trivial predictor a trained model must beat, printed and logged
with every run (majority class, the targets' mean, per step for sequence labels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from engine.run import build, train


def built_of(*overrides: str):
    return build(compose_cfg(*overrides), torch.device("cpu"))


def test_classification_baseline_equals_scikit_learns_most_frequent():
    built = built_of("data=breast_cancer")
    name, metrics = built.task.baseline(built.data, "test")
    (_, y_train), (_, y_test) = built.data.splits["train"], built.data.splits["test"]
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros(len(y_train)), y_train)
    assert metrics["accuracy"] == pytest.approx(dummy.score(np.zeros(len(y_test)), y_test))
    assert name == "always the majority class 'benign'"


def test_the_copy_tasks_baseline_is_always_blank():
    built = built_of("data=copy", "model=lstm", "data.params.n_samples=200")
    name, metrics = built.task.baseline(built.data, "test")
    assert name == "always the majority class 'blank'"
    # k symbols to write among L = 2k + delay + 1 steps: (L − k) / L of the labels are blank
    assert metrics["accuracy"] == pytest.approx(26 / 31)


def test_regression_baseline_equals_scikit_learns_mean_in_the_targets_units():
    built = built_of("data=diabetes", "task=regression", "loss=mse")
    name, metrics = built.task.baseline(built.data, "test")
    std, mean = built.data.stats["y_std"].double(), built.data.stats["y_mean"].double()
    y_train = (built.data.splits["train"][1].double() * std + mean).numpy()
    y_test = (built.data.splits["test"][1].double() * std + mean).numpy()
    predicted = DummyRegressor().fit(y_train, y_train).predict(y_test)
    assert metrics["mse"] == pytest.approx(mean_squared_error(y_test, predicted), rel=1e-6)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y_test, predicted), rel=1e-6)
    assert metrics["r2"] == pytest.approx(r2_score(y_test, predicted), rel=1e-6, abs=1e-9)
    assert name == "always the training targets' mean"
    assert "standardized" in built.task.units()


def test_a_run_writes_its_baseline_and_units(tmp_path):
    cfg = compose_cfg(*FAST, "logger=none", "data=diabetes", "task=regression", "loss=mse")
    metrics = train(cfg, tmp_path)
    assert metrics["baseline"]["predictor"] == "always the training targets' mean"
    assert metrics["baseline"]["test"]["mse"] > metrics["test"]["mse"]
    assert metrics["units"].startswith("loss on standardized targets")
