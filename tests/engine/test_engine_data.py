"""engine.data: every dataset builds, splits are deterministic and stratified, scaling
is fitted on the training split only, batches cover each sample once, and a user's
own (X, y) function trains end to end through ``data._target_``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from omegaconf import OmegaConf

from engine.data import (
    DataModule,
    build_data,
    datasets_of_kind,
    list_datasets,
    load_arrays,
    split_indices,
)
from engine.data.images import NEEDS_FILES
from engine.errors import ConfigError
from engine.run import train
from zoo import DataSpec

# ----------------------------------------------------------------------------- user data
# Functions a user would point data._target_ at (importable as test_engine_data.<name>:
# pytest puts this directory on sys.path).


def xor_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy XOR-labelled clusters per class in 2-D, integer labels."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    return X, y


def noisy_line(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = 3x + 1 + noise: float targets, so regression is inferred."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1))
    return X, 3 * X[:, 0] + 1 + 0.1 * rng.normal(size=n)


def string_labels(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), np.array(["cat", "dog", "owl"])[np.arange(n) % 3]


def bool_labels(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] > 0


def flat_inputs(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n), np.arange(n) % 2  # X is (N,), not (N, features)


def two_label_columns(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 3)), np.zeros((n, 2), dtype=np.int64)  # labels must be (N,)


def fewer_targets(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 3)), np.arange(n - 1) % 2


def text_inputs(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return np.array([["a", "b"]] * n), np.arange(n) % 2


def flat_pixels(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return np.random.default_rng(0).normal(size=(n, 4)), np.arange(n) % 2  # 2x2 images


def only_inputs(n: int = 60) -> np.ndarray:
    return np.zeros((n, 3))


def one_rare_class(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    y = np.zeros(n, dtype=np.int64)
    y[0] = 1  # a single sample of class 1 cannot go to three splits
    return np.random.default_rng(0).normal(size=(n, 2)), y


def user_cfg(target: str, *overrides: str):
    return compose_cfg(
        *FAST,
        "logger=none",
        f"+data._target_=test_engine_data.{target}",
        "data.name=mine",
        *overrides,
    )


# ----------------------------------------------------------------------------- helpers


def data_cfg(name: str, *overrides: str):
    return compose_cfg(f"data={name}", *overrides).data


def raw_split(cfg, seed: int):
    """The unscaled arrays and the split, computed without build_data."""
    arrays = load_arrays(cfg, seed)
    classification = arrays.target_kind == "classification"
    y = np.unique(arrays.y, return_inverse=True)[1] if classification else arrays.y
    parts = split_indices(y, cfg.val_size, cfg.test_size, seed, classification)
    return arrays, y, parts


def toy_module(n: int) -> DataModule:
    """A DataModule whose inputs are the sample indices 0..n-1 (to track them)."""
    x = torch.arange(n, dtype=torch.float32)[:, None]
    spec = DataSpec("vector", (1,), "classification", num_classes=2)
    return DataModule(spec, {"train": (x, torch.arange(n) % 2)}, {})


# ----------------------------------------------------------------------------- datasets


# Files on disk (tests/engine/test_engine_vision.py builds them from fixtures) and
# graphs (tests/engine/test_engine_graphs.py) are checked in their own files.
ARRAY_DATASETS = [
    n for n in list_datasets() if n not in NEEDS_FILES and n not in datasets_of_kind("graph")
]


@pytest.mark.parametrize("name", ARRAY_DATASETS)
def test_every_dataset_builds(name):
    cfg = data_cfg(name)
    arrays = load_arrays(cfg, seed=0)
    data = build_data(cfg, seed=0)
    spec = data.spec
    assert spec.input_shape == arrays.X.shape[1:]
    assert sum(data.size(s) for s in ("train", "val", "test")) == len(arrays.X)
    for x, t in data.splits.values():
        assert x.dtype == torch.float32 and tuple(x.shape[1:]) == spec.input_shape
        assert torch.isfinite(x).all() and len(t) == len(x)
        if spec.target_kind == "classification":  # a label per sample, or per step
            assert t.dtype == torch.long and t.ndim == 1 + spec.step_targets
            assert t.min() >= 0 and t.max() < spec.num_classes
        else:
            assert t.dtype == torch.float32 and t.shape[-1] == spec.num_targets
    if spec.target_kind == "classification":
        assert spec.num_classes == len(np.unique(arrays.y)) == len(data.class_names)


@pytest.mark.parametrize(
    ("name", "kind", "shape", "target_kind", "classes", "targets"),
    [
        ("digits", "image", (1, 8, 8), "classification", 10, None),
        ("diabetes", "vector", (10,), "regression", None, 1),
        ("breast_cancer", "vector", (30,), "classification", 2, None),
        ("iris", "vector", (4,), "classification", 3, None),
    ],
)
def test_data_spec(name, kind, shape, target_kind, classes, targets):
    spec = build_data(data_cfg(name), seed=0).spec
    assert spec.input_kind == kind
    assert spec.input_shape == shape
    assert spec.target_kind == target_kind
    assert spec.num_classes == classes
    assert spec.num_targets == targets


# ----------------------------------------------------------------------------- splits


@pytest.mark.parametrize("name", ["digits", "wine", "diabetes"])
def test_splits_disjoint_complete_and_sized(name):
    cfg = data_cfg(name, "data.val_size=0.2", "data.test_size=0.1")
    arrays, _, parts = raw_split(cfg, seed=0)
    n = len(arrays.X)
    all_idx = np.concatenate(list(parts.values()))
    assert len(all_idx) == n and set(all_idx.tolist()) == set(range(n))
    for split, frac in (("val", 0.2), ("test", 0.1), ("train", 0.7)):
        assert abs(len(parts[split]) - frac * n) <= 1.5, split
    data = build_data(cfg, seed=0)
    assert [data.size(s) for s in ("train", "val", "test")] == [
        len(parts[s]) for s in ("train", "val", "test")
    ]


def test_split_depends_on_seed_only():
    cfg = data_cfg("wine")
    _, _, a = raw_split(cfg, seed=3)
    _, _, b = raw_split(cfg, seed=3)
    _, _, c = raw_split(cfg, seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not all(np.array_equal(a[s], c[s]) for s in a)
    # build_data serves exactly those samples, in that order, before scaling
    data = build_data(cfg, seed=3)
    stats = data.stats
    arrays = load_arrays(cfg, 3)
    for split, idx in a.items():
        x = data.splits[split][0] * stats["x_std"] + stats["x_mean"]
        torch.testing.assert_close(x, torch.as_tensor(arrays.X[idx]), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["digits", "wine", "breast_cancer"])
def test_splits_are_stratified(name):
    cfg = data_cfg(name)
    _, y, parts = raw_split(cfg, seed=0)
    classes = np.unique(y)
    whole = np.array([(y == c).mean() for c in classes])
    for split, idx in parts.items():
        share = np.array([(y[idx] == c).mean() for c in classes])
        # stratified: off by at most about one sample per class
        assert np.abs(share - whole).max() <= 1.5 / len(idx) + 1e-9, split
    data = build_data(cfg, seed=0)
    for split, idx in parts.items():
        assert torch.equal(data.splits[split][1], torch.as_tensor(y[idx]))


@pytest.mark.parametrize(
    ("val", "test"), [(0, 0.2), (0.2, 0), (1, 0.2), (-0.1, 0.2), (0.2, 1.5), (0.5, 0.5), (0.6, 0.7)]
)
def test_bad_split_fractions(val, test):
    cfg = data_cfg("iris", f"data.val_size={val}", f"data.test_size={test}")
    with pytest.raises(ConfigError, match=r"data\.val_size|data\.test_size"):
        build_data(cfg, seed=0)


def test_a_class_too_small_to_stratify_is_a_config_error():
    cfg = OmegaConf.create({"name": "x", "_target_": "test_engine_data.one_rare_class"})
    with pytest.raises(ConfigError, match="cannot split"):
        build_data(cfg, seed=0)


# ----------------------------------------------------------------------------- scaling


@pytest.mark.parametrize(("name", "dims"), [("digits", (0, 2, 3)), ("wine", (0,))])
def test_scaling_fitted_on_train_only(name, dims):
    cfg = data_cfg(name)
    arrays, _, parts = raw_split(cfg, seed=0)
    data = build_data(cfg, seed=0)
    raw_train = torch.as_tensor(arrays.X[parts["train"]], dtype=torch.float64)
    mean, std = raw_train.mean(dims, keepdim=True), raw_train.std(dims, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))  # constant pixels stay put
    torch.testing.assert_close(data.stats["x_mean"].double(), mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(data.stats["x_std"].double(), std, rtol=1e-5, atol=1e-5)

    train_x = data.splits["train"][0].double()
    torch.testing.assert_close(
        train_x.mean(dims), torch.zeros_like(mean.flatten()), atol=1e-5, rtol=0
    )
    varying = raw_train.std(dims).flatten() > 0
    torch.testing.assert_close(
        train_x.std(dims).flatten()[varying], torch.ones(int(varying.sum()), dtype=torch.float64)
    )
    # val and test use the training statistics: their own mean is not exactly 0
    for split in ("val", "test"):
        expect = (torch.as_tensor(arrays.X[parts[split]], dtype=torch.float64) - mean) / std
        torch.testing.assert_close(data.splits[split][0].double(), expect, rtol=1e-4, atol=1e-4)
    # and those statistics are not the whole set's (which would leak val/test into training)
    whole = torch.as_tensor(arrays.X, dtype=torch.float64).mean(dims, keepdim=True)
    assert (whole - data.stats["x_mean"].double()).abs().max() > 1e-3


def test_scale_none_keeps_raw_inputs():
    cfg = data_cfg("wine", "data.scale=none")
    arrays, _, parts = raw_split(cfg, seed=0)
    data = build_data(cfg, seed=0)
    assert torch.equal(data.splits["val"][0], torch.as_tensor(arrays.X[parts["val"]]))
    with pytest.raises(ConfigError, match=r"data\.scale must be one of standard, minmax, none"):
        build_data(data_cfg("wine", "data.scale=unit"), seed=0)


def test_scale_minmax_maps_the_training_inputs_onto_0_1_and_unscale_inverts_it():
    data = build_data(data_cfg("digits", "data.scale=minmax"), seed=0)
    train, val = data.splits["train"][0], data.splits["val"][0]
    assert train.min().item() == 0.0 and train.max().item() == 1.0  # per channel: one here
    assert data.stats["x_mean"].shape == (1, 1, 1, 1)  # (1, C, 1, 1): the image's channel
    raw = build_data(data_cfg("digits", "data.scale=none"), seed=0).splits["val"][0]
    torch.testing.assert_close(data.unscale(val), raw)  # pixel values 0..16 again
    torch.testing.assert_close(val, raw / 16)
    wine = build_data(data_cfg("wine", "data.scale=minmax"), seed=0).splits["train"][0]
    assert torch.equal(wine.amin(0), torch.zeros(13)) and torch.equal(wine.amax(0), torch.ones(13))


def test_regression_targets_standardized_with_train_stats():
    cfg = data_cfg("diabetes")
    _, y, parts = raw_split(cfg, seed=0)
    data = build_data(cfg, seed=0)
    y_train = torch.as_tensor(y[parts["train"]], dtype=torch.float64)
    assert data.stats["y_mean"].item() == pytest.approx(y_train.mean().item(), rel=1e-5)
    assert data.stats["y_std"].item() == pytest.approx(y_train.std().item(), rel=1e-5)
    t = data.splits["train"][1].double()
    assert t.shape == (len(parts["train"]), 1)
    assert abs(t.mean().item()) < 1e-5 and t.std().item() == pytest.approx(1, abs=1e-5)
    back = data.splits["test"][1].double() * data.stats["y_std"] + data.stats["y_mean"]
    torch.testing.assert_close(back[:, 0], torch.as_tensor(y[parts["test"]], dtype=torch.float64))


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_saved_stats_reproduce_the_tensors(name):
    cfg = data_cfg(name)
    first = build_data(cfg, seed=1)
    again = build_data(cfg, seed=1, stats={k: v.clone() for k, v in first.stats.items()})
    for split in first.splits:
        assert torch.equal(first.splits[split][0], again.splits[split][0])
        assert torch.equal(first.splits[split][1], again.splits[split][1])
    # the given stats are used as they are, not refitted
    shifted = {**first.stats, "x_mean": first.stats["x_mean"] + 1}
    moved = build_data(cfg, seed=1, stats=shifted)
    diff = first.splits["train"][0] - moved.splits["train"][0]
    torch.testing.assert_close(diff, (1 / first.stats["x_std"]).expand_as(diff))


# ----------------------------------------------------------------------------- batches


def order(data: DataModule, batch_size: int, seed: int | None) -> list[int]:
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    return [int(v) for x, _ in data.batches("train", batch_size, generator=gen) for v in x[:, 0]]


def test_shuffle_follows_the_generator():
    data = toy_module(50)
    assert order(data, 8, seed=None) == list(range(50))
    a, b, c = order(data, 8, 1), order(data, 8, 1), order(data, 8, 2)
    assert a == b and a != c and a != list(range(50))


@pytest.mark.parametrize(
    ("n", "batch_size", "sizes"),
    [
        (9, 4, [4, 5]),  # a trailing single sample is merged into the batch before it
        (10, 4, [4, 4, 2]),
        (8, 4, [4, 4]),
        (5, 1, [1] * 5),
        (7, 7, [7]),
        (7, 100, [7]),  # batch_size >= n: one batch (batch gradient descent)
    ],
)
def test_batch_sizes_and_every_sample_once(n, batch_size, sizes):
    data = toy_module(n)
    gen = torch.Generator().manual_seed(0)
    batches = list(data.batches("train", batch_size, generator=gen))
    assert [len(x) for x, _ in batches] == sizes
    assert data.num_batches("train", batch_size) == len(sizes)
    seen = sorted(int(v) for x, _ in batches for v in x[:, 0])
    assert seen == list(range(n))
    # inputs and targets stay paired through the shuffle
    for x, t in batches:
        assert torch.equal(t, x[:, 0].long() % 2)


# ----------------------------------------------------------------------------- user data


def test_user_function_trains_end_to_end(tmp_path):
    cfg = user_cfg("xor_data", "+data.params.n=160", "trainer.max_epochs=2", "model.hidden_size=16")
    arrays = load_arrays(cfg.data, seed=0)
    assert arrays.X.shape == (160, 2) and arrays.target_kind == "classification"
    metrics = train(cfg, tmp_path)
    assert metrics["epochs"] == 2 and 0 <= metrics["test"]["accuracy"] <= 1
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == metrics["test"]
    data = build_data(cfg.data, seed=0)
    assert data.spec.num_classes == 2 and data.spec.input_shape == (2,)
    assert sum(data.size(s) for s in data.splits) == 160


def test_user_function_gets_the_run_seed():
    cfg = user_cfg("xor_data").data
    assert np.array_equal(load_arrays(cfg, 5).X, xor_data(seed=5)[0].astype(np.float32))
    assert not np.array_equal(load_arrays(cfg, 5).X, load_arrays(cfg, 6).X)


def test_float_targets_infer_regression(tmp_path):
    cfg = user_cfg("noisy_line", "task=regression", "loss=mse", "model=perceptron")
    data = build_data(cfg.data, seed=0)
    assert data.spec.target_kind == "regression" and data.spec.num_targets == 1
    assert "y_mean" in data.stats
    metrics = train(cfg, tmp_path)
    assert {"mse", "mae", "r2"} <= set(metrics["test"])


@pytest.mark.parametrize("fn", ["string_labels", "bool_labels"])
def test_non_float_labels_infer_classification(fn):
    data = build_data(user_cfg(fn).data, seed=0)
    assert data.spec.target_kind == "classification" and data.spec.num_classes in (2, 3)


@pytest.mark.parametrize(
    "target", ["no_such_module_xyz.load", "test_engine_data.no_such_function", "xor_data"]
)
def test_unimportable_target(target):
    cfg = compose_cfg(f"+data._target_={target}", "data.name=mine").data
    with pytest.raises(ConfigError) as err:
        build_data(cfg, seed=0)
    assert target in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        ("flat_inputs", "shape"),
        ("two_label_columns", "shape"),
        ("fewer_targets", "59 targets"),
        ("text_inputs", "number"),
        ("only_inputs", r"\(X, y\)"),
    ],
)
def test_wrong_user_data_is_a_config_error(fn, says):
    with pytest.raises(ConfigError, match=says) as err:
        build_data(user_cfg(fn).data, seed=0)
    assert "\n" not in str(err.value)


def test_input_shape_reshapes_user_inputs():
    data = build_data(user_cfg("flat_pixels", "+data.input_shape=[1,2,2]").data, seed=0)
    assert data.spec.input_kind == "image" and data.spec.input_shape == (1, 2, 2)
    with pytest.raises(ConfigError, match="input_shape") as err:
        build_data(user_cfg("flat_pixels", "+data.input_shape=[1,3,3]").data, seed=0)
    assert "\n" not in str(err.value)


def test_unknown_params_are_a_config_error():
    cfg = user_cfg("xor_data", "+data.params.colour=1").data
    with pytest.raises(ConfigError, match="colour"):
        build_data(cfg, seed=0)
