"""engine.data.ucr: the .ts reader against aeon's loader and the archive's other formats,
the official split kept intact, and the one-line errors of data=ucr and data.split."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from conftest import train_run as train
from omegaconf import OmegaConf
from resume_checks import Killed, assert_same_training_state, kill_after_epoch_log
from vision_fixtures import block_downloads, write_mnist

from engine.data import build_data
from engine.data.ucr import BUNDLED, MULTIVARIATE, archive_dir, read_ts, ucr
from engine.errors import ConfigError
from engine.run import make_trainer

# What aeon 1.6.0's own loader returns (aeon.datasets.load_classification(name, split)),
# recorded once beside this project's pins with numba 0.65.1 (aeon's numba < 0.64 cannot
# install next to numpy 2.4.6, so its loader does not import in this venv): cases,
# dimensions, total steps, fingerprint(cases) and crc32 of the comma-joined labels,
# which aeon lower-cases.
AEON = {
    ("ACSF1", "train"): (100, 1, 146000, -223576.6423, 4080649387),
    ("ACSF1", "test"): (100, 1, 146000, -868343.1116, 4080649387),
    ("ArrowHead", "train"): (36, 1, 9036, 16297.6850, 2681621022),
    ("ArrowHead", "test"): (175, 1, 43925, -26506.3752, 128891431),
    ("GunPoint", "train"): (50, 1, 7500, -20528.3845, 1564649157),
    ("GunPoint", "test"): (150, 1, 22500, -106278.1599, 98156263),
    ("ItalyPowerDemand", "train"): (67, 1, 1608, 18866.7696, 1491941373),
    ("ItalyPowerDemand", "test"): (1029, 1, 24696, 294710.5968, 181220911),
    ("OSULeaf", "train"): (200, 1, 85400, -213024.6932, 1488905847),
    ("OSULeaf", "test"): (242, 1, 103334, -509876.3618, 1671003809),
    ("PickupGestureWiimoteZ", "train"): (50, 1, 7294, 1874918.3540, 2580096629),
    ("PickupGestureWiimoteZ", "test"): (50, 1, 7277, 1801916.7760, 2580096629),
    ("BasicMotions", "train"): (40, 6, 4000, -2055526.5786, 743062992),
    ("BasicMotions", "test"): (40, 6, 4000, -2366298.2652, 743062992),
    ("JapaneseVowels", "train"): (270, 12, 4274, -595051.9637, 1579320657),
    ("JapaneseVowels", "test"): (370, 12, 5687, -799319.1031, 2002041495),
}


def fingerprint(cases: list[np.ndarray]) -> float:
    """Σ_i Σ_{d,t} x_i[d, t] (1 + t)(1 + d)(1 + i mod 5) over cases ``(D, T_i)``: moves
    with any value, its step, its dimension or its case's place."""
    total = 0.0
    for i, c in enumerate(cases):
        d, t = np.meshgrid(np.arange(c.shape[0]), np.arange(c.shape[1]), indexing="ij")
        total += float((c * (1 + t) * (1 + d) * (1 + i % 5)).sum())
    return total


def read(name: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    cases, labels, _ = read_ts(archive_dir() / name / f"{name}_{split.upper()}.ts")
    return [c.T for c in cases], labels  # (T_i, D) -> (D, T_i), as aeon gives them


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("name", BUNDLED)
def test_reader_matches_what_aeons_loader_returned(name: str, split: str) -> None:
    cases, labels = read(name, split)
    n, dims, steps, value, label_crc = AEON[name, split]
    assert (len(cases), cases[0].shape[0], sum(c.shape[1] for c in cases)) == (n, dims, steps)
    assert fingerprint(cases) == pytest.approx(value, abs=1e-3)
    assert zlib.crc32(",".join(labels).lower().encode()) == label_crc


def test_reader_equals_aeons_loader_where_it_imports() -> None:
    """Live, wherever aeon's loader imports (it needs pandas and numba beside aeon)."""
    try:
        from aeon.datasets import load_classification
    except ImportError as e:
        pytest.skip(f"aeon's loader does not import here ({e}); AEON above pins its output")
    for name in BUNDLED:
        X, y = load_classification(name, split="train")
        cases, labels = read(name, "train")
        assert [label.lower() for label in labels] == [str(v).lower() for v in y]
        for got, want in zip(cases, X, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["GunPoint", "ArrowHead"])
def test_reader_equals_the_archives_tsv_copy(name: str) -> None:
    """The same train part in the UCR archive's own format: label, then the values."""
    table = np.loadtxt(archive_dir() / name / f"{name}_TRAIN.tsv", delimiter="\t")
    cases, labels = read(name, "train")
    np.testing.assert_allclose(np.stack(cases)[:, 0], table[:, 1:], rtol=0, atol=1e-12)
    assert [float(label) for label in labels] == table[:, 0].tolist()


def test_multivariate_reader_equals_the_arff_copy() -> None:
    """BasicMotions in Weka's relational .arff: one quoted case per line, its six
    dimensions separated by a literal \\n, the label after the closing quote."""
    text = (archive_dir() / "BasicMotions" / "BasicMotions_TRAIN.arff").read_text()
    rows = [line for line in text.split("@data", 1)[1].splitlines() if line.strip()]
    cases, labels = read("BasicMotions", "train")
    assert len(rows) == len(cases)
    for row, case, label in zip(rows, cases, labels, strict=True):
        body, _, arff_label = row.rpartition(",")
        dims = body.strip("'").split("\\n")
        np.testing.assert_allclose(case, np.array([d.split(",") for d in dims], dtype=float))
        assert arff_label.strip() == label


def test_loader_pads_variable_lengths_and_marks_the_test_part() -> None:
    data = ucr("JapaneseVowels")
    train, _ = read("JapaneseVowels", "train")
    test, _ = read("JapaneseVowels", "test")
    cases = train + test
    assert data.X.shape == (640, max(c.shape[1] for c in cases), 12)
    assert data.lengths.tolist() == [c.shape[1] for c in cases]
    for x, n, c in zip(data.X, data.lengths, cases, strict=True):
        np.testing.assert_allclose(x[:n], c.T, rtol=1e-6)  # float32 of the file's values
        assert (x[n:] == 0).all()
    assert data.official_test.tolist() == [False] * 270 + [True] * 370
    assert data.class_names == [str(k) for k in range(1, 10)]
    assert ucr("GunPoint").lengths is None  # equal lengths: no padding path


def cfg(name: str, **keys):
    return OmegaConf.create({"name": "ucr", "params": {"name": name}, "scale": "none", **keys})


@pytest.mark.parametrize("name", ["GunPoint", "PickupGestureWiimoteZ"])
def test_official_split_keeps_the_published_test_part(name: str) -> None:
    data = build_data(cfg(name, split="official", val_size=0.15), seed=3)
    train, train_labels = read(name, "train")
    test, test_labels = read(name, "test")
    x_test, y_test = data.splits["test"]
    assert len(x_test) == len(test)  # every test case, in the file's order
    for x, c in zip(x_test, test, strict=True):
        np.testing.assert_allclose(x[: c.shape[1]].numpy(), c.T, rtol=1e-6)
    names = data.class_names
    assert [names[i] for i in y_test.tolist()] == test_labels
    # train + val are exactly the published train part, each class in val at least once
    held = torch.cat([data.splits["train"][0], data.splits["val"][0]])
    assert len(held) == len(train)
    want = sorted(fingerprint([c]) for c in train)
    steps = _lengths(data)
    got = sorted(fingerprint([x[:n].numpy().T]) for x, n in zip(held, steps, strict=True))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert set(data.splits["val"][1].tolist()) == set(range(len(set(train_labels))))


def _lengths(data) -> list[int]:
    if data.lengths is None:
        n = data.splits["train"][0].shape[1]
        return [n] * (data.size("train") + data.size("val"))
    return torch.cat([data.lengths["train"], data.lengths["val"]]).tolist()


def test_random_split_pools_both_parts() -> None:
    data = build_data(cfg("GunPoint", split="random", val_size=0.15, test_size=0.15), seed=0)
    assert sum(data.size(s) for s in ("train", "val", "test")) == 200
    assert data.size("test") == 30


def test_multivariate_series_are_features_per_step() -> None:
    data = build_data(cfg("BasicMotions", split="official"), seed=0)
    assert data.spec.input_shape == (100, 6) and data.spec.input_kind == "sequence"
    assert data.size("test") == 40 and "BasicMotions" in MULTIVARIATE


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"name": "ucr", "params": {"name": "Coffee"}}, "no dataset 'Coffee'; the bundled ones"),
        ({"name": "digits", "split": "official"}, "data=digits has no official test part"),
        ({"name": "ucr", "split": "pooled"}, "data.split must be random or official"),
    ],
)
def test_errors_say_what_would_work(keys: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        build_data(OmegaConf.create(keys), seed=0)
    assert "\n" not in str(e.value)


def test_mnist_official_split_scores_on_the_published_test_images(tmp_path, monkeypatch):
    block_downloads(monkeypatch)
    images, labels = write_mnist(tmp_path, "MNIST", n_train=80, n_test=20)
    keys = {"name": "mnist", "params": {"root": str(tmp_path), "download": False}}
    data = build_data(OmegaConf.create({**keys, "split": "official", "scale": "none"}), seed=0)
    x_test, y_test = data.splits["test"]
    np.testing.assert_array_equal(x_test[:, 0].numpy(), images[80:] / np.float32(255))
    np.testing.assert_array_equal(y_test.numpy(), labels[80:])
    assert data.size("train") + data.size("val") == 80


def test_resume_on_the_official_split_continues_exactly(tmp_path, monkeypatch):
    """Padded multivariate series (JapaneseVowels, its 270 train cases) through a small
    FCN: killed after epoch 2's logs, resumed from epoch 1, it ends in the straight
    run's bits."""
    common = [
        *FAST, "logger=none", "data=ucr", "data.params.name=JapaneseVowels", "model=fcn",
        "model.widths=[8,8]", "model.kernel_size=[3,3]", "trainer.max_epochs=2",
        "trainer.checkpoint_interval_s=0",
    ]  # fmt: skip
    straight = train(compose_cfg(*common), tmp_path / "a")
    trainer, _ = make_trainer(compose_cfg(*common), tmp_path / "b")
    kill_after_epoch_log(trainer, 2, monkeypatch)
    with pytest.raises(Killed):
        trainer.fit()
    resumed = train(compose_cfg(*common, "resume=true"), tmp_path / "b")
    assert resumed["test"] == straight["test"] and resumed["steps"] == straight["steps"]
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)
    assert_same_training_state(a, b)
