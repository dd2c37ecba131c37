"""Tiny datasets written in the real on-disk formats torchvision reads, and a network
that refuses every download: the vision loaders are tested offline, file for file.

* MNIST / Fashion-MNIST: IDX files (LeCun's format: a big-endian ``int32`` magic number
  ``0x0000_08_nd`` (type 0x08 = uint8, nd dims; 2051 for images, 2049 for labels), the
  ``nd`` sizes as big-endian ``int32``, then the bytes), gunzipped, in ``<root>/MNIST/raw``.
  torchvision checks only that these files exist.
* CIFAR-10: Python pickles in ``<root>/cifar-10-batches-py`` (Krizhevsky's page): each
  batch a dict with ``data`` uint8 ``(n, 3072)``, a row the red, green then blue 32x32
  planes, and ``labels``; ``batches.meta`` holds ``label_names``. The originals are
  Python 2 pickles whose ``str`` keys torchvision loads as ``str`` (``encoding="latin1"``);
  a Python 3 pickle with ``str`` keys loads the same. torchvision checks every file's
  md5 against the official ones: :func:`trust_cifar_files` points its tables at ours.
* ImageFolder: PNG files in ``<root>/<class>/``.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

MNIST_SHAPE = (28, 28)
CIFAR_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as an IDX file: magic, sizes, then the bytes in C order."""
    assert array.dtype == np.uint8
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def known_images(n: int, shape: tuple[int, ...], offset: int = 0) -> np.ndarray:
    """``n`` uint8 images of ``shape``, image i a ramp starting at ``i + offset``."""
    ramp = np.arange(int(np.prod(shape)))
    return (
        np.stack([(ramp + i + offset) % 256 for i in range(n)]).astype(np.uint8).reshape(n, *shape)
    )


def write_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 80, n_test: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """The four IDX files of MNIST (``folder="FashionMNIST"`` for Fashion-MNIST).

    Returns all images ``(N, 28, 28)`` uint8 and labels ``(N,)``, train part first.
    Labels cycle through the 10 classes (the test part starting at 3), so 100 samples
    split stratified into 15% val and 15% test.
    """
    raw = root / folder / "raw"
    parts = {
        "train": (known_images(n_train, MNIST_SHAPE), np.arange(n_train) % 10),
        "t10k": (known_images(n_test, MNIST_SHAPE, offset=100), (np.arange(n_test) + 3) % 10),
    }
    for prefix, (images, labels) in parts.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))
    images = np.concatenate([parts["train"][0], parts["t10k"][0]])
    return images, np.concatenate([parts["train"][1], parts["t10k"][1]])


def write_cifar(root: Path, per_batch: int = 20, n_test: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``data_batch_1..5``, ``test_batch`` and ``batches.meta`` of CIFAR-10.

    Returns all images ``(N, 3, 32, 32)`` uint8 and labels, the five batches then test.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images, labels = [], []
    for b, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        x = known_images(n, (3, 32, 32), offset=7 * b)
        y = [(i + b) % 10 for i in range(n)]
        batch = {
            "batch_label": f"{name} of 6",
            "labels": y,
            "data": x.reshape(n, 3072),  # (n, 3, 32, 32) -> (n, 3072): R, G, B planes
            "filenames": [f"img_{b}_{i}.png" for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        images.append(x)
        labels += y
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_NAMES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(images), np.asarray(labels)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def trust_cifar_files(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make torchvision's md5 tables name the md5s of the fixture files in ``root``.

    ``CIFAR10._check_integrity`` compares each file with ``train_list`` / ``test_list``
    and ``_load_meta`` with ``meta["md5"]``; the check itself still runs, so a file
    changed after this call is still reported as corrupt.
    """
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder

    def table(entries: list[list[str]]) -> list[list[str]]:
        return [[name, md5(folder / name)] for name, _ in entries]

    monkeypatch.setattr(CIFAR10, "train_list", table(CIFAR10.train_list))
    monkeypatch.setattr(CIFAR10, "test_list", table(CIFAR10.test_list))
    meta = {**CIFAR10.meta, "md5": md5(folder / CIFAR10.meta["filename"])}
    monkeypatch.setattr(CIFAR10, "meta", meta)


def write_png(path: Path, size: tuple[int, int], color: tuple[int, ...], mode: str = "RGB") -> None:
    """A ``size`` = (width, height) PNG of one ``color``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def block_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every download torchvision tries fails with ``URLError``, as offline; the URLs
    asked for are recorded in the returned list."""
    import torchvision.datasets.utils as tv_utils

    asked: list[str] = []

    def refuse(url, *args, **kwargs):
        asked.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("network disabled in tests")

    # download_and_extract_archive calls download_url from this module's globals, so
    # MNIST's and CIFAR10's own imported names of it end up here too.
    monkeypatch.setattr(tv_utils, "download_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return asked


def offline_overrides(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write ``name``'s fixture under ``root`` and return the overrides that train on it
    offline (for tests that run every data option, e.g. tests/test_configs.py)."""
    block_downloads(monkeypatch)
    if name in ("mnist", "fashion_mnist"):
        write_mnist(root, "MNIST" if name == "mnist" else "FashionMNIST")
    elif name == "cifar10":
        write_cifar(root)
        trust_cifar_files(monkeypatch, root)
    elif name == "image_folder":
        for c, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
            for i in range(10):
                write_png(root / f"class_{c}" / f"{i}.png", (6 + i, 5), color)
    else:
        return []
    return [f"data.params.root={root}"]
