"""engine.data.images: MNIST, Fashion-MNIST and CIFAR-10 read through torchvision from files
in their real formats, an ImageFolder of PNGs, and one clear line for every way the
files can be missing, unreachable or damaged. No test touches the network: every
download torchvision tries fails (:func:`vision_fixtures.block_downloads`)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from conftest import compose_cfg
from omegaconf import OmegaConf
from PIL import Image
from torchvision import datasets
from vision_fixtures import (
    CIFAR_NAMES,
    block_downloads,
    offline_overrides,
    trust_cifar_files,
    write_cifar,
    write_mnist,
    write_png,
)

import engine.data
import engine.data.images
from engine.data import build_data, load_arrays
from engine.data.images import cifar10, data_root, fashion_mnist, image_folder, mnist
from engine.errors import ConfigError

MNIST_FAMILY = [(mnist, "MNIST"), (fashion_mnist, "FashionMNIST")]


@pytest.fixture
def offline(monkeypatch):
    """The URLs torchvision asked for (each refused)."""
    return block_downloads(monkeypatch)


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message
    return message


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize(("loader", "folder"), MNIST_FAMILY)
def test_mnist_family_reads_the_idx_files_train_part_first(loader, folder, tmp_path, offline):
    images, labels = write_mnist(tmp_path, folder, n_train=80, n_test=20)
    data = loader(root=str(tmp_path))  # download=True, but every file is there
    assert offline == []
    assert data.X.dtype == np.float32 and data.X.shape == (100, 1, 28, 28)
    np.testing.assert_array_equal(data.X[:, 0], images.astype(np.float32) / 255)
    assert data.X.min() >= 0 and data.X.max() <= 1
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.y, labels)
    assert (data.input_kind, data.target_kind) == ("image", "classification")
    assert data.class_names == getattr(datasets, folder).classes


def test_cifar10_reads_the_pickled_batches(tmp_path, offline, monkeypatch):
    images, labels = write_cifar(tmp_path, per_batch=20, n_test=20)
    trust_cifar_files(monkeypatch, tmp_path)
    data = cifar10(root=str(tmp_path))
    assert offline == []
    assert data.X.shape == (120, 3, 32, 32) and data.X.dtype == np.float32
    np.testing.assert_array_equal(data.X, images.astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y, labels)
    assert data.class_names == CIFAR_NAMES
    # The same pixels as torchvision's own PIL image of the sample (HWC -> CHW).
    image, label = datasets.CIFAR10(tmp_path, train=False)[3]
    chw = np.asarray(image).transpose(2, 0, 1)
    np.testing.assert_array_equal(data.X[100 + 3] * 255, chw)
    assert label == data.y[100 + 3]


def test_limit_takes_the_first_samples(tmp_path, offline):
    images, labels = write_mnist(tmp_path)
    data = mnist(root=str(tmp_path), limit=12)
    np.testing.assert_array_equal(data.X[:, 0] * 255, images[:12])
    np.testing.assert_array_equal(data.y, labels[:12])
    with pytest.raises(ConfigError, match="limit must be null or an integer >= 1, got 0"):
        mnist(root=str(tmp_path), limit=0)
    with pytest.raises(ConfigError, match="limit=7 keeps only 7 of the 10 classes"):
        mnist(root=str(tmp_path), limit=7)


def test_root_comes_from_params_then_environment_then_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(engine.data.images.ROOT_ENV, raising=False)
    assert data_root() == data_root(engine.data.images.DEFAULT_ROOT)
    assert "~" not in str(data_root())
    monkeypatch.setenv(engine.data.images.ROOT_ENV, str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(str(tmp_path / "mine")) == tmp_path / "mine"


# ----------------------------------------------------------------------------- failing


@pytest.mark.parametrize("name", list(engine.data.images.TORCHVISION))
def test_offline_download_fails_with_one_line(name, tmp_path, offline, caplog):
    caplog.set_level(logging.INFO, logger="engine")
    root = tmp_path / "data"
    loader = engine.data.DATASETS.get(name)
    with pytest.raises(ConfigError) as excinfo:
        loader(root=str(root))
    message = one_line(excinfo)
    cls_name = engine.data.images.TORCHVISION[name][0]
    for words in (f"data={name}", f"cannot download {cls_name} into {root}", "network disabled"):
        assert words in message
    assert "put the files there yourself" in message and "data=digits" in message
    for path in engine.data.images.expected_files(getattr(datasets, cls_name)):
        assert path.rsplit("/", 1)[1] in message  # the layout to recreate by hand
    assert offline, "a download should have been tried"
    said = [r.getMessage() for r in caplog.records if "downloading" in r.getMessage()]
    assert len(said) == 1 and str(root) in said[0] and "http" in said[0]


@pytest.mark.parametrize("name", list(engine.data.images.TORCHVISION))
def test_download_false_with_missing_files_fails_with_one_line(name, tmp_path, offline):
    root = tmp_path / "data"
    with pytest.raises(ConfigError) as excinfo:
        engine.data.DATASETS.get(name)(root=str(root), download=False)
    message = one_line(excinfo)
    assert f"data={name}" in message and str(root) in message
    assert "data.params.download=true" in message
    assert offline == [] and not root.exists()  # nothing tried, nothing created


def test_corrupt_mnist_file_fails_with_one_line_and_no_download(tmp_path, offline):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(ConfigError) as excinfo:
        mnist(root=str(tmp_path))
    message = one_line(excinfo)
    assert "corrupt" in message and str(tmp_path / "MNIST" / "raw") in message
    assert offline == []


def test_changed_cifar_batch_fails_its_md5_check(tmp_path, offline, monkeypatch):
    write_cifar(tmp_path)
    trust_cifar_files(monkeypatch, tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])  # truncated: no longer the trusted md5
    with pytest.raises(ConfigError) as excinfo:
        cifar10(root=str(tmp_path))
    message = one_line(excinfo)
    assert "corrupt or incomplete" in message and "not found or corrupted" in message
    assert offline == []


# ----------------------------------------------------------------------------- image folder


def write_folders(root, rng):
    """Three classes (folder names unsorted on purpose), images of various sizes and modes."""
    files = {
        "zebra": [((12, 9), "RGB"), ((7, 7), "L")],
        "ant": [((9, 14), "RGBA"), ((8, 8), "RGB"), ((20, 5), "RGB")],
        "moth": [((10, 10), "RGB")],
    }
    for cls, specs in files.items():
        for i, ((w, h), mode) in enumerate(specs):
            shape = {"RGB": (h, w, 3), "RGBA": (h, w, 4), "L": (h, w)}[mode]
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            (root / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")  # mode from the shape
    return files


@pytest.mark.parametrize(("grayscale", "mode", "channels"), [(True, "L", 1), (False, "RGB", 3)])
def test_image_folder_resizes_like_pil_and_labels_by_sorted_folder(
    tmp_path, grayscale, mode, channels
):
    write_folders(tmp_path, np.random.default_rng(0))
    data = image_folder(root=str(tmp_path), size=8, grayscale=grayscale)
    assert data.class_names == ["ant", "moth", "zebra"]
    assert data.y.tolist() == [0, 0, 0, 1, 2, 2]  # files in sorted order, class by class
    assert data.X.shape == (6, channels, 8, 8) and data.X.dtype == np.float32
    counts = {"ant": 3, "moth": 1, "zebra": 2}
    paths = [tmp_path / c / f"{i}.png" for c, n in counts.items() for i in range(n)]
    for x, path in zip(data.X, paths, strict=True):
        # What PIL makes of the file: to RGB (as ImageFolder's loader), to the mode, resized.
        image = Image.open(path).convert("RGB").convert(mode).resize((8, 8), Image.BILINEAR)
        expected = np.asarray(image, dtype=np.float32).reshape(8, 8, channels) / 255
        np.testing.assert_array_equal(x, expected.transpose(2, 0, 1))


def test_image_folder_keeps_the_size_when_all_images_share_it(tmp_path):
    for cls in ("a", "b"):
        for i in range(2):
            write_png(tmp_path / cls / f"{i}.png", (5, 4), (10 * i, 20, 30))
    data = image_folder(root=str(tmp_path), size=None)
    assert data.X.shape == (4, 3, 4, 5)
    np.testing.assert_array_equal(data.X[1, :, 0, 0] * 255, [10, 20, 30])
    write_png(tmp_path / "b" / "big.png", (6, 6), (0, 0, 0))
    with pytest.raises(ConfigError) as excinfo:
        image_folder(root=str(tmp_path), size=None)
    assert "differ in size" in one_line(excinfo) and "data.params.size" in str(excinfo.value)


def test_image_folder_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"needs data\.root=path/to/folders") as excinfo:
        image_folder()
    one_line(excinfo)
    with pytest.raises(ConfigError, match="is not a directory") as excinfo:
        image_folder(root=str(tmp_path / "nowhere"))
    one_line(excinfo)
    with pytest.raises(ConfigError, match="class folder") as excinfo:
        image_folder(root=str(tmp_path))  # empty
    one_line(excinfo)
    (tmp_path / "cats").mkdir()
    write_png(tmp_path / "dogs" / "0.png", (4, 4), (1, 2, 3))
    with pytest.raises(ConfigError, match="no valid file for the classes cats") as excinfo:
        image_folder(root=str(tmp_path))
    one_line(excinfo)
    (tmp_path / "cats" / "0.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"cannot read .*cats/0\.png") as excinfo:
        image_folder(root=str(tmp_path))
    one_line(excinfo)


# ----------------------------------------------------------------------------- engine


def test_mnist_builds_an_image_data_module(tmp_path, offline):
    write_mnist(tmp_path)
    cfg = {"name": "mnist", "params": {"root": str(tmp_path), "download": False}}
    data = build_data(OmegaConf.create(cfg), seed=0)
    spec = data.spec
    assert (spec.input_kind, spec.input_shape, spec.num_classes) == ("image", (1, 28, 28), 10)
    assert data.class_names == datasets.MNIST.classes
    assert sum(data.size(s) for s in ("train", "val", "test")) == 100
    assert data.stats["x_mean"].shape == (1, 1, 1, 1)  # per channel, fitted on train


@pytest.mark.parametrize("name", engine.data.images.NEEDS_FILES)
def test_every_vision_dataset_builds_from_its_config_offline(name, tmp_path, monkeypatch):
    """The configs/data/<name>.yaml option, on the fixture: also through ``data.root``."""
    assert engine.data.DATASETS.meta(name) == {
        "input_kind": "image",
        "target_kind": "classification",
    }
    overrides = offline_overrides(name, tmp_path, monkeypatch)
    cfg = compose_cfg(f"data={name}", *overrides).data
    via_root = compose_cfg(f"data={name}", f"data.root={tmp_path}").data
    assert dict(via_root.params) == dict(cfg.params)
    arrays = load_arrays(cfg, seed=0)
    data = build_data(cfg, seed=0)
    assert data.spec.input_shape == arrays.X.shape[1:]
    assert data.spec.num_classes == len(np.unique(arrays.y)) == len(data.class_names)
    for x, t in data.splits.values():
        assert x.dtype == torch.float32 and torch.isfinite(x).all()
        assert t.dtype == torch.long and t.min() >= 0 and t.max() < data.spec.num_classes
