"""engine.data.sequences: the generated sequence tasks have the shapes, the structure and the
baselines their docstrings state, are a function of the seed alone, and their configs
pass only parameters the loaders take."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from conftest import CONFIG_DIR
from omegaconf import OmegaConf

import engine.data
import engine.data.sequences
from engine.data.sequences import ADDING_BASELINE_MSE, copy_baseline_loss, sine_naive_mse
from engine.errors import ConfigError

LOADERS = {
    "adding": engine.data.sequences.adding,
    "copy": engine.data.sequences.copy,
    "sine": engine.data.sequences.sine,
}
# Small sizes: every test here runs in well under a second.
SMALL = {"adding": {"n_samples": 200}, "copy": {"n_samples": 200}, "sine": {"n_samples": 200}}


def load(name: str, seed: int = 0, **params):
    return LOADERS[name](**{**SMALL[name], **params}, seed=seed)


# ----------------------------------------------------------------------------- all tasks


@pytest.mark.parametrize("name", list(LOADERS))
def test_registered_as_sequences(name):
    assert engine.data.DATASETS.get(name) is LOADERS[name]
    assert engine.data.DATASETS.meta(name)["input_kind"] == "sequence"
    assert name in engine.data.datasets_of_kind("sequence")


@pytest.mark.parametrize(
    ("name", "x_shape", "y_shape", "y_dtype"),
    [
        ("adding", (200, 100, 2), (200,), np.float32),
        ("copy", (200, 31, 10), (200, 31), np.int64),
        ("sine", (200, 50, 1), (200,), np.float32),
    ],
)
def test_shapes_and_dtypes(name, x_shape, y_shape, y_dtype):
    d = load(name)
    assert d.X.shape == x_shape and d.X.dtype == np.float32
    assert d.y.shape == y_shape and d.y.dtype == y_dtype
    assert d.input_kind == "sequence"
    assert d.target_kind == engine.data.DATASETS.meta(name)["target_kind"]
    assert d.step_targets == (name == "copy")
    assert d.lengths is None
    assert np.isfinite(d.X).all()


@pytest.mark.parametrize("name", list(LOADERS))
def test_same_seed_same_data_other_seed_other_data(name):
    a, b, c = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("name", list(LOADERS))
def test_config_params_are_loader_arguments(name):
    cfg = OmegaConf.load(CONFIG_DIR / "data" / f"{name}.yaml").data
    assert cfg.name == name
    params = OmegaConf.to_container(cfg.params)
    assert set(params) <= set(inspect.signature(LOADERS[name]).parameters) - {"seed"}
    d = LOADERS[name](**params, seed=0)  # the configured sizes generate the full set
    assert len(d.X) == params["n_samples"]


# ----------------------------------------------------------------------------- adding


def test_adding_marks_one_value_in_each_half_and_adds_them():
    d = load("adding", length=30)
    values, marks = d.X[..., 0], d.X[..., 1]
    assert set(np.unique(marks)) == {0.0, 1.0}
    assert (marks[:, :15].sum(1) == 1).all() and (marks[:, 15:].sum(1) == 1).all()
    np.testing.assert_allclose(d.y, (values * marks).sum(1), rtol=1e-6)
    assert values.min() >= 0 and values.max() < 1


def test_adding_variable_lengths_mark_their_own_halves_and_pad_with_zeros():
    d = load("adding", length=40, min_length=10)
    L = d.lengths
    assert L.dtype == np.int64 and L.shape == (200,)
    assert L.min() >= 10 and L.max() <= 40 and len(np.unique(L)) > 10
    steps = np.arange(40)[None, :]
    marks = d.X[..., 1]
    first_half = steps < (L // 2)[:, None]
    real = steps < L[:, None]
    assert ((marks * first_half).sum(1) == 1).all()
    assert ((marks * (real & ~first_half)).sum(1) == 1).all()
    assert (d.X[~real] == 0).all()  # every padded step, both channels
    assert (d.X[real][:, 0] > 0).all()
    np.testing.assert_allclose(d.y, (d.X[..., 0] * marks).sum(1), rtol=1e-6)


def test_adding_mean_prediction_scores_one_sixth():
    y = engine.data.sequences.adding(n_samples=20000, length=20, seed=0).y.astype(np.float64)
    mse = np.mean((y - 1.0) ** 2)
    assert math.isclose(ADDING_BASELINE_MSE, 1 / 6)
    assert mse == pytest.approx(ADDING_BASELINE_MSE, abs=0.01)


@pytest.mark.parametrize(("length", "min_length"), [(1, None), (20, 1), (20, 21)])
def test_adding_bad_lengths(length, min_length):
    with pytest.raises(ConfigError, match="length"):
        engine.data.sequences.adding(n_samples=5, length=length, min_length=min_length)


# ----------------------------------------------------------------------------- copy


def test_copy_recall_steps_hold_the_symbols_in_order():
    A, k, delay = 6, 4, 7
    d = load("copy", num_symbols=A, recall_length=k, delay=delay)
    L = 2 * k + delay + 1
    tokens = d.X.argmax(-1)  # (N, L)
    assert d.X.shape == (200, L, A + 2)
    np.testing.assert_array_equal(d.X.sum(-1), 1.0)  # one token per step
    symbols = tokens[:, :k]
    assert symbols.min() >= 1 and symbols.max() <= A
    assert (tokens[:, k : k + delay] == 0).all()
    assert (tokens[:, k + delay] == A + 1).all()
    assert (tokens[:, k + delay + 1 :] == 0).all()
    np.testing.assert_array_equal(d.y[:, -k:], symbols)
    assert (d.y[:, :-k] == 0).all()
    assert d.y.min() >= 0 and d.y.max() <= A
    assert d.class_names == ["blank", *(str(s) for s in range(1, A + 1))]
    assert len(np.unique(d.y)) == len(d.class_names)  # every class occurs


def test_copy_baseline_is_the_memoryless_cross_entropy():
    A, k, delay = 8, 5, 20
    d = load("copy", num_symbols=A, recall_length=k, delay=delay)
    # Probabilities of the strategy: blank for sure, then uniform over the A symbols.
    p = np.zeros((*d.y.shape, A + 1))
    p[:, :-k, 0] = 1.0
    p[:, -k:, 1:] = 1.0 / A
    loss = -np.log(np.take_along_axis(p, d.y[..., None], -1)).mean()
    assert copy_baseline_loss(A, k, delay) == pytest.approx(loss)
    assert copy_baseline_loss(A, k, delay) == pytest.approx(5 * math.log(8) / 31)


def test_copy_bad_params():
    with pytest.raises(ConfigError, match="recall_length"):
        engine.data.sequences.copy(n_samples=5, recall_length=0)
    with pytest.raises(ConfigError, match="delay"):
        engine.data.sequences.copy(n_samples=5, delay=-1)


# ----------------------------------------------------------------------------- sine


def test_sine_target_continues_the_series():
    short = load("sine", length=50, horizon=10, noise=0.0)
    one = load("sine", length=50, horizon=1, noise=0.0)
    long = load("sine", length=60, horizon=1, noise=0.0)
    assert short.y.shape == (200, 10) and one.y.shape == (200,)
    np.testing.assert_allclose(long.X[:, :50], short.X, atol=1e-6)
    np.testing.assert_allclose(long.X[:, 50:, 0], short.y, atol=1e-6)
    np.testing.assert_allclose(one.y, short.y[:, 0], atol=1e-6)
    assert np.abs(short.y).max() <= 2.0  # two amplitudes of at most 1


def test_sine_noise_is_on_inputs_only():
    clean, noisy = load("sine", noise=0.0), load("sine", noise=0.1)
    np.testing.assert_array_equal(clean.y, noisy.y)
    assert np.std(noisy.X - clean.X) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("horizon", [1, 5])
def test_sine_naive_baseline(horizon):
    d = load("sine", horizon=horizon)
    mse = sine_naive_mse(d.X, d.y)
    assert np.isfinite(mse) and mse > 0
    y = d.y.reshape(len(d.y), -1)
    assert mse == pytest.approx(np.mean((y - d.X[:, -1, :]) ** 2), rel=1e-5)
