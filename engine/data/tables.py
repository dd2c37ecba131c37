"""Tables and 2-D point sets that ship with scikit-learn or are generated from the seed.

scikit-learn ships the bundled files inside the package: nothing is downloaded.
The generated sets (moons, circles, blobs) are rebuilt exactly from the run's seed.

Where it continues: :func:`~engine.data.core.build_data` splits and scales these like
any other dataset; a user's own ``(X, y)`` function needs no file here (README, "Your
own data").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import datasets as skd

from engine.data.core import ArrayData, register_dataset


@register_dataset("digits", input_kind="image", target_kind="classification")
def digits() -> ArrayData:
    """1,797 handwritten digits as 1x8x8 images with 17 grey levels (UCI optdigits)."""
    d = skd.load_digits()
    images = d.images.astype(np.float32)[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    return ArrayData(images, d.target, "image", "classification", [str(c) for c in range(10)])


def _bundled(loader: Callable, target_kind: str) -> ArrayData:
    d = loader()
    names = [str(n) for n in d.target_names] if target_kind == "classification" else None
    y = d.target if target_kind == "classification" else d.target.astype(np.float32)
    return ArrayData(d.data.astype(np.float32), y, "vector", target_kind, names)


@register_dataset("iris", input_kind="vector", target_kind="classification")
def iris() -> ArrayData:
    """Fisher's iris: 150 flowers, 4 measurements, 3 species."""
    return _bundled(skd.load_iris, "classification")


@register_dataset("wine", input_kind="vector", target_kind="classification")
def wine() -> ArrayData:
    """178 wines, 13 chemical measurements, 3 cultivars."""
    return _bundled(skd.load_wine, "classification")


@register_dataset("breast_cancer", input_kind="vector", target_kind="classification")
def breast_cancer() -> ArrayData:
    """569 tumours, 30 features of cell nuclei, malignant or benign (binary)."""
    return _bundled(skd.load_breast_cancer, "classification")


@register_dataset("diabetes", input_kind="vector", target_kind="regression")
def diabetes() -> ArrayData:
    """442 patients, 10 baseline variables, disease progression after one year."""
    return _bundled(skd.load_diabetes, "regression")


# Generated 2-D sets: the seed makes them, so every run can rebuild them exactly.


@register_dataset("moons", input_kind="vector", target_kind="classification")
def moons(n_samples: int = 1000, noise: float = 0.2, seed: int = 0) -> ArrayData:
    """Two interleaving half circles: the classic not-linearly-separable toy."""
    X, y = skd.make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return ArrayData(X.astype(np.float32), y, "vector", "classification", ["0", "1"])


@register_dataset("circles", input_kind="vector", target_kind="classification")
def circles(
    n_samples: int = 1000, noise: float = 0.1, factor: float = 0.5, seed: int = 0
) -> ArrayData:
    """A small circle inside a large one: separable only by a non-linear boundary."""
    X, y = skd.make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return ArrayData(X.astype(np.float32), y, "vector", "classification", ["outer", "inner"])


@register_dataset("blobs", input_kind="vector", target_kind="classification")
def blobs(
    n_samples: int = 1000,
    centers: int = 4,
    n_features: int = 2,
    cluster_std: float = 1.0,
    seed: int = 0,
) -> ArrayData:
    """Isotropic Gaussian clusters, one class per cluster."""
    X, y = skd.make_blobs(
        n_samples=n_samples,
        centers=centers,
        n_features=n_features,
        cluster_std=cluster_std,
        random_state=seed,
    )
    return ArrayData(X.astype(np.float32), y, "vector", "classification", None)
