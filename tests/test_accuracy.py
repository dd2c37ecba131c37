"""The pinned experiments reach what their configs and the README claim.

Accuracy only: wall-clock figures are measured by bench/, never asserted here. Every
test here carries the ``accuracy`` marker: ``pytest -m "not accuracy"`` leaves them
out, ``pytest -m accuracy`` runs only them (``make test`` runs everything).

A cheap experiment is pinned on the mean of seeds 0-2, as RESULTS.md reports it; an
expensive one (seconds per seed here, minutes on a slow machine), or one that scores
the same on every seed, on seed 0 alone, against the same threshold: every seed of
those clears it in RESULTS.md by a wide margin, so the other two seeds would prove
nothing more.
"""

from __future__ import annotations

import statistics

import pytest
from conftest import compose_cfg

from engine.run import train

SEEDS = (0, 1, 2)
ONE_SEED = (0,)

pytestmark = pytest.mark.accuracy


def mean_test_metric(experiment: str, metric: str, tmp_path, seeds=SEEDS) -> float:
    values = []
    for seed in seeds:
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
    ("experiment", "metric", "at_least", "seeds"),
    [
        ("digits_mlp", "accuracy", 0.97, SEEDS),
        ("breast_cancer_perceptron", "accuracy", 0.95, SEEDS),
        ("diabetes_mlp", "r2", 0.30, SEEDS),
        # = python train.py model=lstm optim=adamw; RESULTS: 0.964 ± 0.002
        ("digits_lstm", "accuracy", 0.95, ONE_SEED),
        ("digits_gru", "accuracy", 0.93, ONE_SEED),  # RESULTS: 0.964 ± 0.004
        ("digits_rnn", "accuracy", 0.93, ONE_SEED),  # RESULTS: 0.974 ± 0.010
        ("digits_transformer", "accuracy", 0.93, ONE_SEED),  # RESULTS: 0.969 ± 0.008
        ("digits_cnn", "accuracy", 0.98, ONE_SEED),  # RESULTS: 0.9963 on every seed
        ("sbm_gcn", "accuracy", 0.90, ONE_SEED),  # RESULTS: 1.000 on every seed
        ("motifs_gin", "accuracy", 0.80, ONE_SEED),  # chance: 0.5; RESULTS: 0.996 ± 0.008
        ("vae_digits", "elbo", -25.0, ONE_SEED),  # nats per image; RESULTS: -24.03 ± 0.12
    ],
)
def test_experiment_reaches_its_target(experiment, metric, at_least, seeds, tmp_path):
    assert mean_test_metric(experiment, metric, tmp_path, seeds) >= at_least


def test_gan_ring_covers_every_mode_at_high_quality(tmp_path):
    """The issue's target: 8/8 modes of the ring with >= 90% high-quality samples
    (README: 8/8 and 95% next to the papers' numbers). Seed 0; RESULTS.md has every
    one of seeds 0-2 at 8/8 and 0.953 ± 0.020 high quality."""
    cfg = compose_cfg("experiment=gan_ring", "seed=0", "trainer.progress_bar=false", "logger=none")
    test = train(cfg, tmp_path)["test"]
    assert test["modes_covered"] == 8
    assert test["high_quality_fraction"] >= 0.90
