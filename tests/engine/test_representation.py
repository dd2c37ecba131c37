"""The representation's evaluation: the linear probe against scikit-learn's
LogisticRegression, kNN against KNeighborsClassifier, and the features read where the
model's head reads them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn

from engine.errors import ConfigError
from engine.report.representation import (
    features,
    fit_logistic_regression,
    knn_accuracy,
    last_linear,
    linear_probe_accuracy,
    standardize,
)


def blobs(n: int = 120, d: int = 6, classes: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = 1.5 * torch.randn(classes, d, generator=gen, dtype=torch.float64)
    h = centers[y] + torch.randn(n, d, generator=gen, dtype=torch.float64) * 2 + 3.0
    return h, y


@pytest.mark.parametrize("c_reg", [0.1, 1.0])
def test_logistic_regression_equals_sklearn(c_reg: float) -> None:
    """Same objective, same minimizer: coefficients, intercepts and probabilities."""
    h, y = blobs()
    (s,) = standardize(h)
    w, b = fit_logistic_regression(s, y, 3, c_reg)
    ref = LogisticRegression(C=c_reg, tol=1e-10, max_iter=10_000).fit(s.numpy(), y.numpy())
    np.testing.assert_allclose(w.numpy(), ref.coef_, atol=1e-5)
    np.testing.assert_allclose(b.numpy(), ref.intercept_, atol=1e-5)
    probs = torch.softmax(s @ w.T + b, dim=1).numpy()
    np.testing.assert_allclose(probs, ref.predict_proba(s.numpy()), atol=1e-6)


def test_linear_probe_equals_sklearn_pipeline() -> None:
    """Standardize on train, fit on train, score on held-out data: the accuracy
    StandardScaler + LogisticRegression gives."""
    h, y = blobs(seed=1)
    train, test = slice(0, 90), slice(90, None)
    ours = linear_probe_accuracy(h[train], y[train], h[test], y[test])
    scaler = StandardScaler().fit(h[train].numpy())
    ref = LogisticRegression(tol=1e-10, max_iter=10_000).fit(
        scaler.transform(h[train].numpy()), y[train].numpy()
    )
    assert ours == pytest.approx(ref.score(scaler.transform(h[test].numpy()), y[test].numpy()))
    assert 0.34 < ours < 1.0  # a real score, neither chance nor trivially perfect


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_equals_sklearn(k: int) -> None:
    h, y = blobs(seed=2)
    train, test = slice(0, 90), slice(90, None)
    ours = knn_accuracy(h[train], y[train], h[test], y[test], k)
    ref = KNeighborsClassifier(k, metric="cosine", algorithm="brute").fit(
        h[train].numpy(), y[train].numpy()
    )
    assert ours == pytest.approx(ref.score(h[test].numpy(), y[test].numpy()))


def test_features_are_the_heads_input() -> None:
    body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5))
    model = nn.Sequential(body, nn.Linear(8, 3))
    model.train()
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected = body.eval()(x)
    model.train()
    torch.testing.assert_close(features(model, x), expected)  # in eval mode: no dropout
    assert model.training  # and the mode is given back


def test_per_step_features_are_averaged() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    x = torch.randn(3, 7, 4)  # (B, T, F)
    with torch.no_grad():
        expected = torch.tanh(model[0](x)).mean(1)
    torch.testing.assert_close(features(model, x), expected)


def test_a_model_without_a_head_is_one_line() -> None:
    with pytest.raises(ConfigError, match="model 'gcnish' has no linear output layer"):
        last_linear(nn.Sequential(nn.Conv1d(1, 2, 3)), "gcnish")
