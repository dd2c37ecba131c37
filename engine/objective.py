"""The number a run gives back to a sweeper: ``objective=val/<metric>``.

A hyperparameter search picks the configuration with the best objective, so the
objective must come from the validation split: tuned on the test split, the test
metrics of the winner would be an optimistic estimate, not a measurement. The test
split is refused here. Whether higher is better follows from the metric's name:
losses and errors are minimized, accuracies and scores maximized.

Where it continues: ``train.py`` returns :func:`objective_value` to Hydra;
``hydra_plugins/zoo_optuna_sweeper`` reads :func:`direction` when its config leaves
the direction out.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError

# Metrics where higher is better; every other one (loss, mse, mae, rmse, ...) is an error.
MAXIMIZED = ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "auc", "r2", "nmi")


def parse(objective: str) -> tuple[str, str]:
    """``val/accuracy`` -> ``("val", "accuracy")``; one line unless it names val."""
    split, _, metric = str(objective).partition("/")
    if split != "val" or not metric:
        raise ConfigError(
            f"objective={objective}: a sweep's objective is a validation metric, "
            "val/<metric> (e.g. objective=val/loss or val/accuracy); tuning on the test "
            "split would make its metrics optimistic"
        )
    return split, metric


def direction(objective: str) -> str:
    """``maximize`` for accuracies and scores, ``minimize`` for losses and errors."""
    _, metric = parse(objective)
    return "maximize" if metric in MAXIMIZED else "minimize"


def objective_value(objective: str, metrics: dict[str, Any]) -> float:
    """The objective's value in a finished run's metrics (``metrics["val"]``)."""
    split, metric = parse(objective)
    values = metrics[split]
    if metric not in values:
        raise ConfigError(
            f"objective={objective}: this run's validation metrics are "
            f"{', '.join(f'val/{k}' for k in values)}"
        )
    return float(values[metric])
