"""The pinned experiments reach what their configs and the README claim.

Accuracy only: wall-clock figures are measured by bench/, never asserted here.
"""

from __future__ import annotations

import statistics

import pytest
from conftest import compose_cfg

from engine.run import train

SEEDS = (0, 1, 2)


def mean_test_metric(experiment: str, metric: str, tmp_path) -> float:
    values = []
    for seed in SEEDS:
        cfg = compose_cfg(
            f"experiment={experiment}", f"seed={seed}", "trainer.progress_bar=false", "logger=none"
        )
        values.append(train(cfg, tmp_path / str(seed))["test"][metric])
    return statistics.mean(values)


def test_default_run_is_the_digits_experiment():
    default, pinned = compose_cfg(), compose_cfg("experiment=digits_mlp")
    for group in ("data", "model", "optim", "trainer"):
        assert default[group] == pinned[group]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_the_product_card_command_is_the_recurrent_digits_experiment(model):
    command, pinned = (
        compose_cfg(f"model={model}", "optim=adamw"),
        compose_cfg(f"experiment=digits_{model}"),
    )
    for group in ("data", "model", "optim", "trainer", "task", "loss"):
        assert command[group] == pinned[group]


@pytest.mark.parametrize(
    ("experiment", "metric", "at_least"),
    [
        ("digits_mlp", "accuracy", 0.97),
        ("breast_cancer_perceptron", "accuracy", 0.95),
        ("diabetes_mlp", "r2", 0.30),
        ("digits_lstm", "accuracy", 0.95),  # = python train.py model=lstm optim=adamw
        ("digits_gru", "accuracy", 0.93),
        ("digits_rnn", "accuracy", 0.93),
        ("digits_transformer", "accuracy", 0.93),
        ("digits_cnn", "accuracy", 0.98),
        ("sbm_gcn", "accuracy", 0.90),
        ("motifs_gin", "accuracy", 0.80),  # chance: 0.5
        ("vae_digits", "elbo", -25.0),  # nats per image; README: -24.03
    ],
)
def test_experiment_reaches_its_target(experiment, metric, at_least, tmp_path):
    assert mean_test_metric(experiment, metric, tmp_path) >= at_least


def test_gan_ring_covers_every_mode_at_high_quality(tmp_path):
    """The issue's target: 8/8 modes of the ring with >= 90% high-quality samples,
    averaged over seeds 0-2 (README: 8/8 and 95% next to the papers' numbers)."""
    tests = []
    for seed in SEEDS:
        cfg = compose_cfg(
            "experiment=gan_ring", f"seed={seed}", "trainer.progress_bar=false", "logger=none"
        )
        tests.append(train(cfg, tmp_path / str(seed))["test"])
    assert [t["modes_covered"] for t in tests] == [8, 8, 8]
    assert statistics.mean(t["high_quality_fraction"] for t in tests) >= 0.90
