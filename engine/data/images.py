"""Real image datasets through torchvision, fetched on first use, and a user's own images.

* ``mnist``: handwritten digits, 1x28x28, 10 classes (LeCun, Bottou, Bengio & Haffner
  1998, "Gradient-based learning applied to document recognition");
* ``fashion_mnist``: photos of clothes in MNIST's format (Xiao, Rasul & Vollgraf 2017,
  "Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms");
* ``cifar10``: 32x32 colour photos, 3x32x32, 10 classes (Krizhevsky 2009, "Learning
  multiple layers of features from tiny images", ch. 3);
* ``image_folder``: a folder with one sub-folder of images per class, read by
  ``torchvision.datasets.ImageFolder``.

Each loader returns an :class:`~engine.data.ArrayData` with ``X`` float32 ``(N, C, H, W)``
in ``[0, 1]`` (the stored bytes divided by 255) and ``y`` int64 labels.
:func:`~engine.data.build_data` then fits the per-channel mean and std on the training
split (``scale: standard``) and saves them with the run, as for every dataset.

The official train and test parts are concatenated, train first. By default
(``data.split=random``) the engine makes its own seeded, stratified train/val/test split
from the whole, so test metrics are NOT the ones papers report on the official test
set; ``data.split=official`` scores on the official test part instead.

Files live under ``root``: ``data.params.root``, else ``$TORCH_ZOO_DATA``, else
``~/.cache/torch-zoo/data``. Missing files are downloaded once (``download: true``);
without a network, or with ``download: false``, the error says which files to put where.
Everything is loaded into memory at once: right for these sizes (CIFAR-10 is 0.7 GB as
float32); a folder of many large images would need a streaming loader instead.

Where it continues: the models that read images are ``zoo/cnn.py`` and
``zoo/resnet.py`` (and any flat model, which flattens them); tests write small
fixtures in each real format (``tests/vision_fixtures.py``).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.core import ArrayData, register_dataset
from engine.errors import ConfigError

log = logging.getLogger(__name__)

ROOT_ENV = "TORCH_ZOO_DATA"
DEFAULT_ROOT = "~/.cache/torch-zoo/data"
# name -> (class in torchvision.datasets, MB a first run downloads)
TORCHVISION = {
    "mnist": ("MNIST", 12),
    "fashion_mnist": ("FashionMNIST", 31),
    "cifar10": ("CIFAR10", 170),
}
# Datasets that read files from disk (or the network): tests that run every dataset
# give these a fixture (tests/engine/vision_fixtures.py) instead of downloading.
NEEDS_FILES = (*TORCHVISION, "image_folder")
# What reading or parsing a damaged file raises in torchvision: a failed md5 check
# (RuntimeError), an IDX header that fails its asserts, a truncated pickle...
_READ_ERRORS = (
    RuntimeError,
    OSError,
    ValueError,
    TypeError,
    AssertionError,
    KeyError,
    EOFError,
    pickle.UnpicklingError,
)


def data_root(root: str | None = None) -> Path:
    """Where dataset files live: ``root``, else ``$TORCH_ZOO_DATA``, else the cache."""
    return Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT).expanduser()


def expected_files(dataset_cls: type) -> list[str]:
    """The files ``dataset_cls`` reads, relative to ``root``, from its own class tables."""
    if hasattr(dataset_cls, "resources"):  # MNIST family: gunzipped IDX files
        folder = f"{dataset_cls.__name__}/raw"
        return [f"{folder}/{Path(name).stem}" for name, _md5 in dataset_cls.resources]
    # CIFAR family: pickled batches, checked against the md5s in train_list/test_list
    names = [n for n, _md5 in dataset_cls.train_list + dataset_cls.test_list]
    return [f"{dataset_cls.base_folder}/{n}" for n in [*names, dataset_cls.meta["filename"]]]


def _reason(e: BaseException) -> str:
    """One short line for an exception (torchvision's download errors span several lines,
    the last of which names the cause)."""
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    return lines[-1].split(". ")[0] if lines else type(e).__name__


def _check_limit(name: str, limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(
            f"data={name}: data.params.limit must be null or an integer >= 1, got {limit}"
        )


def _as_arrays(part: Any) -> tuple[np.ndarray, np.ndarray]:
    """A torchvision dataset's stored bytes as ``(N, C, H, W)`` uint8 and its labels."""
    images = np.asarray(part.data)
    # MNIST family: (N, H, W) -> (N, 1, H, W); CIFAR family: (N, H, W, C) -> (N, C, H, W)
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return images, np.asarray(part.targets, dtype=np.int64)


def _torchvision_data(name: str, root: str | None, download: bool, limit: int | None) -> ArrayData:
    from torchvision import datasets  # imported here: every run would pay for it otherwise

    cls_name, megabytes = TORCHVISION[name]
    dataset_cls = getattr(datasets, cls_name)
    _check_limit(name, limit)
    where = data_root(root)
    files = expected_files(dataset_cls)
    folder = where / Path(files[0]).parent
    layout = f"{folder}/ holding {', '.join(Path(f).name for f in files)}"
    missing = [f for f in files if not (where / f).is_file()]
    if missing and not download:
        raise ConfigError(
            f"data={name}: {cls_name} is not in {where} (no {missing[0]}) and "
            f"data.params.download=false; allow the download once (data.params.download=true), "
            f"put the files there yourself ({layout}), or use data=digits which ships offline"
        )
    if missing:
        url = dataset_cls.mirrors[0] if hasattr(dataset_cls, "mirrors") else dataset_cls.url
        log.info(f"data={name}: downloading {cls_name} (~{megabytes} MB) from {url} into {where}")
    try:
        # Download only when files are missing: files that exist but fail a check are
        # reported, not silently fetched again over a connection the user may not have.
        parts = [dataset_cls(where, train=True, download=bool(missing))]
        parts.append(dataset_cls(where, train=False))
        arrays = [_as_arrays(p) for p in parts]
    except _READ_ERRORS as e:  # `from e`: the full story goes to the run's log file
        if missing:
            raise ConfigError(
                f"data={name}: cannot download {cls_name} into {where} ({_reason(e)}); connect "
                f"to the internet once, or put the files there yourself ({layout}), or use "
                "data=digits which ships offline"
            ) from e
        raise ConfigError(
            f"data={name}: the {cls_name} files in {where} are corrupt or incomplete "
            f"({_reason(e)}); delete {folder} to download them again, or replace them ({layout})"
        ) from e
    images = np.concatenate([x for x, _ in arrays])  # train part first, then test
    labels = np.concatenate([t for _, t in arrays])
    if len(images) != len(labels):
        raise ConfigError(
            f"data={name}: the {cls_name} files in {where} hold {len(images)} images but "
            f"{len(labels)} labels; delete {folder} to download them again"
        )
    images, labels = images[:limit], labels[:limit]
    names = [str(c) for c in parts[0].classes]
    if len(np.unique(labels)) < len(names):  # label i must stay class_names[i]
        raise ConfigError(
            f"data={name}: data.params.limit={limit} keeps only {len(np.unique(labels))} of "
            f"the {len(names)} classes; raise it (or null for all {len(parts[0]) + len(parts[1])})"
        )
    X = images.astype(np.float32) / 255.0  # bytes -> [0, 1]
    official_test = np.arange(len(images)) >= len(parts[0])  # for data.split=official
    return ArrayData(X, labels, "image", "classification", names, official_test=official_test)


# ----------------------------------------------------------------------------- torchvision


@register_dataset("mnist", input_kind="image", target_kind="classification")
def mnist(root: str | None = None, download: bool = True, limit: int | None = None) -> ArrayData:
    """MNIST: 70,000 handwritten digits (60,000 train then 10,000 test), 1x28x28."""
    return _torchvision_data("mnist", root, download, limit)


@register_dataset("fashion_mnist", input_kind="image", target_kind="classification")
def fashion_mnist(
    root: str | None = None, download: bool = True, limit: int | None = None
) -> ArrayData:
    """Fashion-MNIST: 70,000 photos of 10 kinds of clothing, 1x28x28."""
    return _torchvision_data("fashion_mnist", root, download, limit)


@register_dataset("cifar10", input_kind="image", target_kind="classification")
def cifar10(root: str | None = None, download: bool = True, limit: int | None = None) -> ArrayData:
    """CIFAR-10: 60,000 colour photos (50,000 train then 10,000 test), 3x32x32."""
    return _torchvision_data("cifar10", root, download, limit)


# ----------------------------------------------------------------------------- your images


@register_dataset("image_folder", input_kind="image", target_kind="classification")
def image_folder(
    root: str | None = None, size: int | None = 32, grayscale: bool = False
) -> ArrayData:
    """Images in ``root/<class>/<file>``, as ``torchvision.datasets.ImageFolder`` reads them.

    Classes are the sub-folder names, sorted (label 0 is the first). Every image is
    converted to RGB (3 channels) or, with ``grayscale``, to luma ``L = 0.299 R +
    0.587 G + 0.114 B`` (1 channel), then resized to ``size x size`` with bilinear
    interpolation (antialiased when shrinking). ``size: null`` keeps the files' own
    size, which must then be the same for all.
    """
    from torchvision import datasets
    from torchvision.transforms import v2

    hint = "give a folder with one sub-folder of images (.png, .jpg...) per class"
    if root is None:
        raise ConfigError(
            f"data=image_folder needs data.root=path/to/folders (or data.params.root); {hint}"
        )
    where = Path(root).expanduser()
    if not where.is_dir():
        raise ConfigError(f"data=image_folder: data.params.root={root} is not a directory; {hint}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"data=image_folder: data.params.size must be null or >= 1, got {size}")

    steps = [v2.Grayscale(num_output_channels=1)] if grayscale else []
    if size is not None:
        steps.append(v2.Resize((size, size)))
    steps.append(v2.PILToTensor())  # PIL image -> (C, H, W) uint8
    try:
        folder = datasets.ImageFolder(where, transform=v2.Compose(steps))
    except FileNotFoundError as e:  # no class folders, or a class folder without images
        raise ConfigError(f"data=image_folder: {_reason(e)} ({hint})") from None

    images, shapes = [], {}
    for i, (path, _label) in enumerate(folder.samples):
        try:
            image, _ = folder[i]
        except OSError as e:  # PIL's UnidentifiedImageError, a truncated file...
            raise ConfigError(f"data=image_folder: cannot read {path} ({_reason(e)})") from e
        shapes.setdefault(tuple(image.shape), path)
        if len(shapes) > 1:
            (a, first), (b, other) = shapes.items()
            raise ConfigError(
                f"data=image_folder: images differ in size ({first} is {a}, {other} is {b}); "
                "set data.params.size to resize them all"
            )
        images.append(image.numpy())
    X = np.stack(images).astype(np.float32) / 255.0  # (N, C, H, W) bytes -> [0, 1]
    y = np.asarray(folder.targets, dtype=np.int64)
    return ArrayData(X, y, "image", "classification", list(folder.classes))
