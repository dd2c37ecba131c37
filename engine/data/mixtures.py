"""The standard 2-D GAN benchmarks, mixtures of Gaussians, and their mode-coverage metrics.

A generator trained adversarially often learns to produce only a few of the modes of its
data, while every sample it does produce looks real: *mode collapse*. Sample quality alone
cannot reveal it, so these benchmarks use data whose modes are known exactly, and count
how many of them a generator reaches:

* ``ring``: 8 Gaussians of std 0.02 evenly spaced on a circle of radius 2 (Metz, Poole,
  Pfau & Sohl-Dickstein 2017, "Unrolled generative adversarial networks").
* ``grid``: 25 Gaussians of std 0.05 with means on the grid {-4, -2, 0, 2, 4}² (Lin,
  Khetan, Fanti & Oh 2018, "PacGAN: the power of two samples in generative adversarial
  networks"; Srivastava et al. 2017 use a 2-D grid of 25 too).

Their metrics (Srivastava, Valkov, Russell, Gutmann & Sutton 2017, "VEEGAN: reducing mode
collapse in GANs using implicit variational learning"; PacGAN), computed
by :func:`mode_coverage`: with ``μ_1 .. μ_M`` the mode means and ``σ`` their std, a
generated sample ``x`` has nearest mode ``m(x) = argmin_k ||x - μ_k||`` and is

    high quality   if   ||x - μ_m(x)|| <= 3σ,

and mode ``k`` is covered if it is the nearest mode of at least one high-quality sample.
Reported are the number of modes covered (out of M) and the fraction of high-quality
samples: a collapsed generator scores few modes at high quality, one that spreads its
samples between the modes scores many modes at low quality.

Published results on ``ring`` (each paper's own runs; PacGAN's are means over trials):

    =========  ============  =============  ===========
    generator  modes (of 8)  high quality   reported by
    =========  ============  =============  ===========
    GAN        1             99.3%          VEEGAN
    GAN        6.3           98.2%          PacGAN
    VEEGAN     8             52.9%          VEEGAN
    PacGAN2    7.9           95.6%          PacGAN
    =========  ============  =============  ===========

The two GAN rows are the two papers' own baselines, trained differently: compare methods
within one paper.

The real data is the ceiling. In 2-D the squared distance of a sample to its own mean,
divided by σ², is chi-square with 2 degrees of freedom, so the expected high-quality
fraction of real samples is ``P(r <= 3σ) = 1 - exp(-9/2) ≈ 98.9%``
(:func:`real_high_quality_fraction`), not the 99.7% of the one-dimensional 3σ rule.

Both loaders return an :class:`~engine.data.ArrayData` whose label is the mode a sample
was drawn from, so the sets also serve as classification data and colour plots by mode.

Where it continues: the GAN is ``zoo/gan.py``, its training step and the metrics'
reporting are the adversarial task's (``engine/tasks/generative.py``).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from engine.data.core import ArrayData, register_dataset
from engine.errors import ConfigError


def real_high_quality_fraction(quality_stds: float = 3.0) -> float:
    """Expected high-quality fraction of samples from the data itself: ``1 - exp(-k²/2)``.

    For an isotropic 2-D Gaussian ``r² / σ² ~ χ²(2)``, whose CDF is ``1 - exp(-t/2)``;
    with ``t = k²`` and ``k = quality_stds``. Ignores the (negligible) chance that a sample
    is nearer to another mode than to its own.
    """
    return 1.0 - math.exp(-(quality_stds**2) / 2)


# ----------------------------------------------------------------------------- mode means


def ring_means(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """``M`` points evenly spaced on a circle: ``μ_k = r (cos 2πk/M, sin 2πk/M)``.

    Shapes: ``(M, 2)`` float64, mode 0 on the positive x-axis, counter-clockwise.
    """
    if modes < 1:
        raise ConfigError(f"ring needs modes >= 1, got {modes}")
    if radius <= 0:
        raise ConfigError(f"ring radius must be > 0, got {radius}")
    theta = 2 * np.pi * np.arange(modes) / modes  # (M,)
    return radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)  # 2 x (M,) -> (M, 2)


def grid_means(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """A ``side x side`` grid centred on the origin, ``spacing`` apart.

    With the defaults the means are ``{-4, -2, 0, 2, 4}²``. Mode ``k = i · side + j`` is at
    ``(c_i, c_j)``, ``c_i = (i - (side - 1) / 2) · spacing``.

    Shapes: ``(side², 2)`` float64.
    """
    if side < 1:
        raise ConfigError(f"grid needs side >= 1, got {side}")
    if spacing <= 0:
        raise ConfigError(f"grid spacing must be > 0, got {spacing}")
    c = (np.arange(side) - (side - 1) / 2) * spacing  # (side,)
    xs, ys = np.meshgrid(c, c, indexing="ij")  # (side, side) each
    return np.stack([xs.ravel(), ys.ravel()], axis=1)  # -> (side², 2)


def _sample_mixture(means: np.ndarray, n_samples: int, std: float, seed: int) -> ArrayData:
    """``n_samples`` draws of ``x = μ_y + σ ε``, ``y`` uniform over the modes, ``ε ~ N(0, I)``."""
    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
    if std < 0:
        raise ConfigError(f"std must be >= 0, got {std}")
    rng = np.random.default_rng(seed)
    M, D = means.shape
    y = rng.integers(0, M, size=n_samples, dtype=np.int64)  # (N,)
    X = means[y] + std * rng.standard_normal((n_samples, D))  # (N, 2)
    names = [f"mode {k}" for k in range(M)]
    return ArrayData(X.astype(np.float32), y, "vector", "classification", names)


# ----------------------------------------------------------------------------- datasets


@register_dataset("ring", input_kind="vector", target_kind="classification")
def ring(
    n_samples: int = 10000,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    seed: int = 0,
) -> ArrayData:
    """A ring of ``modes`` equally likely Gaussians (Metz et al. 2017: 8, radius 2, std 0.02).

    ``x = μ_y + σ ε`` with ``μ`` from :func:`ring_means`. Neighbouring means are
    ``2r sin(π/M) ≈ 1.53`` apart with the defaults, 77σ: the modes never overlap.

    Shapes: ``X`` ``(N, 2)`` float32; ``y`` ``(N,)`` int64, the mode of each sample.
    """
    return _sample_mixture(ring_means(modes, radius), n_samples, std, seed)


@register_dataset("grid", input_kind="vector", target_kind="classification")
def grid(
    n_samples: int = 10000,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    seed: int = 0,
) -> ArrayData:
    """A ``side x side`` grid of equally likely Gaussians (PacGAN: 25, {-4..4}², std 0.05).

    ``x = μ_y + σ ε`` with ``μ`` from :func:`grid_means`; neighbours are ``spacing`` = 40σ
    apart with the defaults.

    Shapes: ``X`` ``(N, 2)`` float32; ``y`` ``(N,)`` int64, the mode of each sample.
    """
    return _sample_mixture(grid_means(side, spacing), n_samples, std, seed)


# ----------------------------------------------------------------------------- metrics


def mode_coverage(
    samples: np.ndarray, means: np.ndarray, std: float, quality_stds: float = 3.0
) -> dict[str, Any]:
    """Modes covered and high-quality fraction of generated samples (VEEGAN; PacGAN).

    A sample is high quality if ``min_k ||x - μ_k|| <= quality_stds · σ``; a mode is
    covered if it is the nearest mode of at least one high-quality sample. This follows
    VEEGAN's definition as the issue states it; some papers require a minimum count of
    high-quality samples per mode instead: compare ``samples_per_mode`` against it.

    Args:
        samples: ``(N, D)`` generated points, in the data's own units (unscaled).
        means: ``(M, D)`` the mode means, e.g. :func:`ring_means`.
        std: σ of each mode.
        quality_stds: the radius, in σ, within which a sample counts as high quality.

    Returns:
        ``modes_covered`` (int), ``num_modes`` (M), ``high_quality_fraction`` (float in
        [0, 1]) and ``samples_per_mode`` (list of M ints: high-quality samples per mode).
    """
    x = np.asarray(samples, dtype=np.float64)
    mu = np.asarray(means, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"samples must be (N, D) with N >= 1, got shape {x.shape}")
    if mu.ndim != 2 or mu.shape[1] != x.shape[1]:
        raise ValueError(f"means must be (M, {x.shape[1]}) like the samples, got {mu.shape}")
    if std <= 0 or quality_stds <= 0:
        raise ValueError(f"std and quality_stds must be > 0, got {std} and {quality_stds}")
    M = len(mu)
    diff = x[:, None, :] - mu[None, :, :]  # (N, 1, D) - (1, M, D) -> (N, M, D)
    dist = np.linalg.norm(diff, axis=-1)  # (N, M)
    nearest = dist.argmin(axis=1)  # (N,)
    high_quality = dist[np.arange(len(x)), nearest] <= quality_stds * std  # (N,)
    per_mode = np.bincount(nearest[high_quality], minlength=M)  # (M,)
    return {
        "modes_covered": int((per_mode > 0).sum()),
        "num_modes": M,
        "high_quality_fraction": float(high_quality.mean()),
        "samples_per_mode": per_mode.tolist(),
    }


# Each dataset's loader (whose defaults fix its modes) and the function of its means.
_MEANS = {"ring": (ring, ring_means), "grid": (grid, grid_means)}


def has_modes(name: str | None) -> bool:
    """Whether dataset ``name`` has known modes that :func:`mode_coverage_for` can count."""
    return name in _MEANS


def mode_coverage_for(
    name: str, samples: np.ndarray, quality_stds: float = 3.0, **params: Any
) -> dict[str, Any]:
    """:func:`mode_coverage` against dataset ``name``'s modes, with the loader's defaults.

    ``params`` override the loader's (``modes``, ``radius``, ``std`` for ``ring``; ``side``,
    ``spacing``, ``std`` for ``grid``), so pass the ``data.params`` a model was trained on.
    ``n_samples`` and ``seed`` are accepted and ignored: they do not move the modes.
    """
    if name not in _MEANS:
        raise ValueError(f"no mode means for dataset '{name}'; available: {', '.join(_MEANS)}")
    loader, means_fn = _MEANS[name]
    defaults = {k: p.default for k, p in inspect.signature(loader).parameters.items()}
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(
            f"{name} has no parameter(s) {sorted(unknown)}; it takes {sorted(defaults)}"
        )
    p = {**defaults, **params}
    means = means_fn(**{k: p[k] for k in inspect.signature(means_fn).parameters})
    return mode_coverage(samples, means, p["std"], quality_stds)
