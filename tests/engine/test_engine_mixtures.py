"""engine.data.mixtures: the ring and grid of Gaussians are what their papers describe, a
function of the seed alone, and mode_coverage scores real, collapsed, scattered and
uniform samples as VEEGAN's definitions say."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from conftest import CONFIG_DIR
from omegaconf import OmegaConf

import engine.data
import engine.data.mixtures
from engine.data.mixtures import (
    grid_means,
    mode_coverage,
    mode_coverage_for,
    real_high_quality_fraction,
    ring_means,
)
from engine.errors import ConfigError

LOADERS = {"ring": engine.data.mixtures.ring, "grid": engine.data.mixtures.grid}
# The dataset's defaults, spelled out: the metrics must use the same means and std.
MODES = {"ring": (ring_means(8, 2.0), 0.02), "grid": (grid_means(5, 2.0), 0.05)}


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", list(LOADERS))
def test_registered_once_as_vector_classification(name):
    assert name in engine.data.list_datasets()
    assert engine.data.DATASETS.get(name) is LOADERS[name]
    assert engine.data.DATASETS.meta(name) == {
        "input_kind": "vector",
        "target_kind": "classification",
    }
    with pytest.raises(ValueError, match="registered twice"):
        engine.data.register_dataset(name, input_kind="vector", target_kind="classification")(
            lambda: None
        )


@pytest.mark.parametrize(("name", "num_modes"), [("ring", 8), ("grid", 25)])
def test_shapes_dtypes_and_labels(name, num_modes):
    d = LOADERS[name](n_samples=500)
    assert d.X.shape == (500, 2) and d.X.dtype == np.float32
    assert d.y.shape == (500,) and d.y.dtype == np.int64
    assert (d.input_kind, d.target_kind) == ("vector", "classification")
    assert d.class_names == [f"mode {k}" for k in range(num_modes)]
    assert set(np.unique(d.y)) <= set(range(num_modes))


@pytest.mark.parametrize("name", list(LOADERS))
def test_a_function_of_the_seed(name):
    a, b, c = (LOADERS[name](n_samples=300, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("name", list(LOADERS))
def test_each_label_is_the_mode_the_point_was_drawn_from(name):
    means, std = MODES[name]
    d = LOADERS[name]()
    nearest = np.linalg.norm(d.X[:, None] - means[None], axis=-1).argmin(1)  # (N, M) -> (N,)
    np.testing.assert_array_equal(nearest, d.y)
    offsets = d.X - means[d.y]  # (N, 2): per axis N(0, std²)
    np.testing.assert_allclose(offsets.mean(0), 0.0, atol=5 * std / math.sqrt(len(d.X)))
    np.testing.assert_allclose(offsets.std(0), std, rtol=0.05)
    # Modes equally likely: every count within 5 binomial stds of N / M.
    M, N = len(means), len(d.X)
    counts = np.bincount(d.y, minlength=M)
    assert np.abs(counts - N / M).max() < 5 * math.sqrt(N / M * (1 - 1 / M))


def test_grid_means_are_exactly_the_5x5_grid():
    means = grid_means(5, 2.0)
    assert means.shape == (25, 2)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(m) for m in means.tolist()} == expected


def test_ring_means_have_norm_2_and_are_evenly_spaced():
    means = ring_means(8, 2.0)
    assert means.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 2.0)
    np.testing.assert_allclose(means[0], [2.0, 0.0], atol=1e-12)
    gaps = np.linalg.norm(means - np.roll(means, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps, 2 * 2.0 * math.sin(math.pi / 8))


@pytest.mark.parametrize(
    ("fn", "params", "match"),
    [
        (engine.data.mixtures.ring, {"modes": 0}, "modes >= 1"),
        (engine.data.mixtures.ring, {"radius": -1.0}, "radius must be > 0"),
        (engine.data.mixtures.grid, {"side": 0}, "side >= 1"),
        (engine.data.mixtures.grid, {"std": -0.1}, "std must be >= 0"),
        (engine.data.mixtures.grid, {"n_samples": 0}, "n_samples must be >= 1"),
    ],
)
def test_bad_parameters_fail_with_the_value(fn, params, match):
    with pytest.raises(ConfigError, match=match):
        fn(**params)


@pytest.mark.parametrize("name", list(LOADERS))
def test_config_params_are_loader_arguments(name):
    cfg = OmegaConf.load(CONFIG_DIR / "data" / f"{name}.yaml")
    assert cfg.name == name and cfg.scale == "none"
    params = OmegaConf.to_container(cfg.params)
    assert set(params) <= set(inspect.signature(LOADERS[name]).parameters) - {"seed"}
    assert len(LOADERS[name](**params, seed=0).X) == params["n_samples"]


@pytest.mark.parametrize("name", list(LOADERS))
def test_built_unscaled_so_the_metrics_see_the_data_units(name):
    cfg = OmegaConf.load(CONFIG_DIR / "data" / f"{name}.yaml")
    cfg.params.n_samples = 2000
    data = engine.data.build_data(cfg, seed=0)
    x, y = data.splits["train"]
    means, std = MODES[name]
    np.testing.assert_allclose(x.numpy(), means[y.numpy()], atol=6 * std)
    assert data.spec.num_classes == len(means)


# ----------------------------------------------------------------------------- metrics


def test_real_high_quality_fraction_is_the_chi_square_2_cdf():
    # P(r < 3σ) for r/σ ~ chi(2): 1 - exp(-9/2), below the 1-D 3σ rule's 99.73%.
    assert real_high_quality_fraction(3.0) == pytest.approx(0.988891, abs=1e-6)
    assert real_high_quality_fraction(2.0) == pytest.approx(1 - math.exp(-2))


@pytest.mark.parametrize("name", list(LOADERS))
def test_the_real_data_covers_every_mode_at_the_chi_square_quality(name):
    means, std = MODES[name]
    X = LOADERS[name](seed=3).X
    out = mode_coverage(X, means, std)
    assert out["modes_covered"] == out["num_modes"] == len(means)
    # 10,000 samples: the fraction's binomial std is ~0.001, so 0.005 is 5 stds.
    assert out["high_quality_fraction"] == pytest.approx(real_high_quality_fraction(), abs=0.005)
    assert sum(out["samples_per_mode"]) == round(out["high_quality_fraction"] * len(X))
    assert min(out["samples_per_mode"]) > 0.8 * len(X) / len(means)


@pytest.mark.parametrize("name", list(LOADERS))
def test_a_collapsed_sampler_covers_one_mode_at_full_quality(name):
    means, std = MODES[name]
    rng = np.random.default_rng(0)
    samples = means[3] + 0.5 * std * rng.standard_normal((1000, 2))  # past 3σ w.p. e^-18 each
    out = mode_coverage(samples, means, std)
    assert out["modes_covered"] == 1 and out["high_quality_fraction"] == 1.0
    assert out["samples_per_mode"][3] == 1000 and sum(out["samples_per_mode"]) == 1000
    assert mode_coverage(np.repeat(means[:1], 10, axis=0), means, std)["modes_covered"] == 1


def test_samples_far_from_every_mode_are_low_quality_and_cover_nothing():
    means, std = MODES["ring"]
    # The centre, halfway between neighbours, and far outside: all well beyond 3σ.
    halfway = (means + np.roll(means, 1, axis=0)) / 2
    samples = np.concatenate([np.zeros((5, 2)), halfway, [[10.0, 10.0]], means * 1.1])
    out = mode_coverage(samples, means, std)
    assert out == {
        "modes_covered": 0,
        "num_modes": 8,
        "high_quality_fraction": 0.0,
        "samples_per_mode": [0] * 8,
    }


def test_the_quality_radius_is_quality_stds_sigmas():
    means, std = MODES["grid"]
    inside, outside = means[0] + [2.99 * std, 0.0], means[0] + [0.0, 3.01 * std]
    assert mode_coverage(np.stack([inside, outside]), means, std)["samples_per_mode"][0] == 1
    assert mode_coverage(outside[None], means, std, quality_stds=4.0)["modes_covered"] == 1


@pytest.mark.parametrize(("name", "half_width"), [("ring", 2.5), ("grid", 5.0)])
def test_uniform_noise_covers_several_modes_at_low_quality(name, half_width):
    means, std = MODES[name]
    N = 20000
    samples = np.random.default_rng(0).uniform(-half_width, half_width, size=(N, 2))
    out = mode_coverage(samples, means, std)
    # The high-quality discs, M · π(3σ)², as a share of the square's area.
    expected = len(means) * math.pi * (3 * std) ** 2 / (2 * half_width) ** 2
    assert expected < 0.02
    assert out["high_quality_fraction"] == pytest.approx(expected, abs=5 * math.sqrt(expected / N))
    assert out["modes_covered"] >= len(means) // 2


def test_mode_coverage_rejects_bad_shapes_and_std():
    means = ring_means()
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        mode_coverage(np.zeros(4), means, 0.02)
    with pytest.raises(ValueError, match=r"means must be \(M, 3\)"):
        mode_coverage(np.zeros((4, 3)), means, 0.02)
    with pytest.raises(ValueError, match="> 0, got 0"):
        mode_coverage(np.zeros((4, 2)), means, 0.0)


@pytest.mark.parametrize("name", list(LOADERS))
def test_mode_coverage_for_uses_the_dataset_defaults(name):
    means, std = MODES[name]
    samples = LOADERS[name](n_samples=2000, seed=1).X
    assert mode_coverage_for(name, samples) == mode_coverage(samples, means, std)
    assert mode_coverage_for(name, samples, quality_stds=1.0) == mode_coverage(
        samples, means, std, quality_stds=1.0
    )


def test_mode_coverage_for_takes_the_trained_params():
    d = engine.data.mixtures.ring(n_samples=2000, modes=5, radius=3.0, std=0.1)
    out = mode_coverage_for("ring", d.X, n_samples=2000, modes=5, radius=3.0, std=0.1, seed=0)
    assert out == mode_coverage(d.X, ring_means(5, 3.0), 0.1)
    assert out["num_modes"] == out["modes_covered"] == 5
    g = mode_coverage_for("grid", grid_means(3, 1.0), side=3, spacing=1.0, std=0.01)
    assert g["num_modes"] == g["modes_covered"] == 9 and g["high_quality_fraction"] == 1.0


def test_mode_coverage_for_rejects_unknown_names_and_params():
    with pytest.raises(ValueError, match="no mode means for dataset 'moons'; available: ring"):
        mode_coverage_for("moons", np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"ring has no parameter\(s\) \['side'\]"):
        mode_coverage_for("ring", np.zeros((3, 2)), side=5)
