"""Synthetic sequence tasks, generated offline from the seed.

The three classic probes of whether a recurrent model carries information across time:

* ``adding``: remember two marked values among T and add them (Hochreiter & Schmidhuber
  1997, "Long short-term memory", experiment 4; in the form of Le, Jaitly & Hinton 2015,
  "A simple way to initialize recurrent networks of rectified linear units", sec. 4.1).
* ``copy``: read k symbols, wait, then write them back (Hochreiter & Schmidhuber 1997;
  in the form of Arjovsky, Shah & Bengio 2016, "Unitary evolution recurrent neural
  networks", sec. 4.1).
* ``sine``: forecast the next values of a noisy sum of two sines.

Each loader is a pure numpy function of its parameters and ``seed``, returning an
:class:`~engine.data.ArrayData` with ``X`` float32 ``(N, T, F)``. Each task has a
baseline any model must beat to have learned something: :data:`ADDING_BASELINE_MSE`,
:func:`copy_baseline_loss` and :func:`sine_naive_mse`.

Where it continues: the models that read these are ``zoo/recurrent.py`` and
``zoo/transformer.py`` (``zoo/sequence.py`` says how any input becomes steps);
truncated BPTT over long sequences is the trainer's (``engine/trainer.py``); the
gradient-flow and GRU-vs-LSTM measurements are ``bench/vanishing.py`` and
``bench/gru_vs_lstm.py``.
"""

from __future__ import annotations

import math

import numpy as np

from engine.data.core import ArrayData, register_dataset
from engine.errors import ConfigError

# Predicting the mean, 1, of a sum of two independent U[0, 1] values: MSE = 2 · 1/12.
ADDING_BASELINE_MSE = 1.0 / 6.0


def copy_baseline_loss(num_symbols: int, recall_length: int, delay: int) -> float:
    """Per-step cross-entropy of the memoryless copy strategy: ``k · log(A) / L``.

    Predict blank on every step (loss 0, always right) except the k recall steps after
    'go', where a uniform guess over the A symbols costs log(A) each; averaged over the
    ``L = 2k + delay + 1`` steps (Arjovsky et al. 2016's ``10 log 8 / (T + 20)``).
    """
    k, A = recall_length, num_symbols
    return k * math.log(A) / (2 * k + delay + 1)


def sine_naive_mse(X: np.ndarray, y: np.ndarray) -> float:
    """MSE of forecasting every future value as the last value seen, ``X[:, -1, 0]``."""
    last = X[:, -1, 0].astype(np.float64)  # (N,)
    y = y.astype(np.float64)
    if y.ndim == 2:  # (N, horizon): the last value is repeated over the horizon
        last = last[:, None]  # (N,) -> (N, 1)
    return float(np.mean((y - last) ** 2))


# ----------------------------------------------------------------------------- adding


@register_dataset("adding", input_kind="sequence", target_kind="regression")
def adding(
    n_samples: int = 10000, length: int = 100, min_length: int | None = None, seed: int = 0
) -> ArrayData:
    """The adding problem: add the two marked values of a sequence.

    Each step t of a sample carries two channels, a value ``v_t ~ U[0, 1]`` and a marker
    ``m_t ∈ {0, 1}``. Exactly two steps are marked, following Le et al. (2015): ``i`` drawn
    uniformly from the first half of the sequence and ``j`` from the second half. The
    target is

        y = v_i + v_j,

    so the model must find and hold the two marked values across up to T steps. Always
    answering ``E[y] = 1`` gives ``MSE = Var(y) = 2 · 1/12 = 1/6 ≈ 0.167``
    (:data:`ADDING_BASELINE_MSE`); Le et al. count a model as solving the task only
    well below that.

    With ``min_length``, each sample's length ``L ~ U{min_length, ..., length}``; its marks
    are placed in the halves of its own L steps, the steps from L on are zeros in both
    channels, and ``lengths`` holds the L's.

    Shapes: ``X`` ``(N, T, 2)`` float32 (value, marker); ``y`` ``(N,)`` float32;
    ``lengths`` ``(N,)`` int64 or None.
    """
    if length < 2:
        raise ConfigError(f"adding needs length >= 2 (two halves to mark), got {length}")
    if min_length is not None and not 2 <= min_length <= length:
        raise ConfigError(
            f"adding min_length must be in [2, length={length}] or null, got {min_length}"
        )
    rng = np.random.default_rng(seed)
    N, T = n_samples, length
    values = rng.uniform(0.0, 1.0, size=(N, T))
    if min_length is None:
        L = np.full(N, T, dtype=np.int64)
    else:
        L = rng.integers(min_length, T, size=N, endpoint=True, dtype=np.int64)
    half = L // 2
    i = (rng.uniform(size=N) * half).astype(np.int64)  # in [0, L//2)
    j = half + (rng.uniform(size=N) * (L - half)).astype(np.int64)  # in [L//2, L)

    rows = np.arange(N)
    markers = np.zeros((N, T))
    markers[rows, i] = 1.0
    markers[rows, j] = 1.0
    values *= np.arange(T)[None, :] < L[:, None]  # zero the padding steps (t >= L)
    y = values[rows, i] + values[rows, j]
    X = np.stack([values, markers], axis=-1)  # 2 x (N, T) -> (N, T, 2)
    return ArrayData(
        X.astype(np.float32),
        y.astype(np.float32),
        "sequence",
        "regression",
        None,
        lengths=None if min_length is None else L,
    )


# ----------------------------------------------------------------------------- copy


@register_dataset("copy", input_kind="sequence", target_kind="classification")
def copy(
    n_samples: int = 5000,
    num_symbols: int = 8,
    recall_length: int = 5,
    delay: int = 20,
    seed: int = 0,
) -> ArrayData:
    """The copy (delayed recall) task: read k symbols, wait, write them back.

    Tokens are blank 0, symbols 1..A (``A = num_symbols``) and 'go' A+1. With
    ``k = recall_length`` one sample is ``L = 2k + delay + 1`` steps:

        input:   s_1 .. s_k | 0 x delay | go | 0 x k
        target:  0   .. 0   | 0 x delay | 0  | s_1 .. s_k

    with ``s_i`` uniform over 1..A. This is Arjovsky et al.'s (2016) layout with their
    T = delay + 1 (their T - 1 blanks, then the delimiter). The model must keep the k
    symbols across ``delay`` steps and write them in order once it sees 'go'.

    Targets are per step (``step_targets``) and never 'go', so there are A + 1 classes
    (blank and the A symbols). A model that has memorized nothing can still predict
    blank exactly and guess the symbols uniformly: per-step cross-entropy
    ``k · log(A) / L`` (:func:`copy_baseline_loss`; 0.335 with the defaults).

    Shapes: ``X`` ``(N, L, A + 2)`` float32, one-hot tokens; ``y`` ``(N, L)`` int64 in
    0..A.
    """
    for name, value in (("num_symbols", num_symbols), ("recall_length", recall_length)):
        if value < 1:
            raise ConfigError(f"copy {name} must be >= 1, got {value}")
    if delay < 0:
        raise ConfigError(f"copy delay must be >= 0, got {delay}")
    rng = np.random.default_rng(seed)
    N, A, k = n_samples, num_symbols, recall_length
    L = 2 * k + delay + 1
    go = k + delay  # the step holding the 'go' token
    symbols = rng.integers(1, A, size=(N, k), endpoint=True, dtype=np.int64)

    tokens = np.zeros((N, L), dtype=np.int64)
    tokens[:, :k] = symbols
    tokens[:, go] = A + 1
    y = np.zeros((N, L), dtype=np.int64)
    y[:, go + 1 :] = symbols
    X = np.eye(A + 2, dtype=np.float32)[tokens]  # (N, L) -> (N, L, A + 2)
    names = ["blank", *(str(s) for s in range(1, A + 1))]
    return ArrayData(X, y, "sequence", "classification", names, step_targets=True)


# ----------------------------------------------------------------------------- sine


@register_dataset("sine", input_kind="sequence", target_kind="regression")
def sine(
    n_samples: int = 4000,
    length: int = 50,
    horizon: int = 1,
    noise: float = 0.05,
    seed: int = 0,
) -> ArrayData:
    """Forecast the next values of a noisy sum of two sines.

    Each sample is its own series

        s(t) = a_1 sin(2π f_1 t + φ_1) + a_2 sin(2π f_2 t + φ_2),   t = 0, 1, ...

    with frequencies ``f ~ U[0.02, 0.1]`` cycles per step (periods of 10 to 50 steps, so
    a window of 50 holds at least one period), amplitudes ``a ~ U[0.5, 1]`` and phases
    ``φ ~ U[0, 2π)``. The input is the first ``length`` values observed with Gaussian
    noise of std ``noise``; the target is the next ``horizon`` values, noise-free. The
    model must infer the two components from the window and extrapolate them. Repeating
    the last observed value is the naive baseline (:func:`sine_naive_mse`).

    The series' parameters are drawn before the noise, so with one seed a longer
    ``length`` or ``horizon`` extends the very same series.

    Shapes: ``X`` ``(N, length, 1)`` float32; ``y`` ``(N,)`` float32 if ``horizon == 1``,
    else ``(N, horizon)``.
    """
    if length < 1 or horizon < 1:
        raise ConfigError(f"sine needs length >= 1 and horizon >= 1, got {length}, {horizon}")
    if noise < 0:
        raise ConfigError(f"sine noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    N = n_samples
    f = rng.uniform(0.02, 0.1, size=(N, 2, 1))
    a = rng.uniform(0.5, 1.0, size=(N, 2, 1))
    phi = rng.uniform(0.0, 2 * np.pi, size=(N, 2, 1))
    t = np.arange(length + horizon)
    s = (a * np.sin(2 * np.pi * f * t + phi)).sum(axis=1)  # (N, 2, T + H) -> (N, T + H)

    x = s[:, :length] + noise * rng.standard_normal((N, length))
    y = s[:, length:]  # (N, H)
    if horizon == 1:
        y = y[:, 0]  # (N, 1) -> (N,)
    X = x[..., None]  # (N, T) -> (N, T, 1)
    return ArrayData(X.astype(np.float32), y.astype(np.float32), "sequence", "regression", None)
